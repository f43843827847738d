"""The pacing core on hand-built states: what each mode dials, and when it must not."""

from __future__ import annotations

import pytest

from callcenter.events import AgentId, ContactId
from dialer.pacing import AgentStatus, Dial, Mode, PacerConfig, PacerState, poisson_mean_cap, tick

T0 = 1_772_470_800.0  # 2026-03-02 17:00 UTC


def state(mode: Mode, free: int, talking: int = 0) -> PacerState:
    s = PacerState.create(PacerConfig(mode=mode))
    for i in range(free + talking):
        s.agent_status(AgentId(f"a{i}"), AgentStatus.FREE if i < free else AgentStatus.TALKING, T0)
    return s


def with_answers(s: PacerState, answers: int, abandons: int = 0) -> PacerState:
    for i in range(answers):
        s.live_answer(T0 - 600 + i, abandoned=i < abandons)
    return s


def test_preview_waits_for_the_agent_to_accept() -> None:
    s = state(Mode.PREVIEW, free=0, talking=0)
    s.agent_status(AgentId("a1"), AgentStatus.PREVIEWING, T0)
    s.agent_status(AgentId("a2"), AgentStatus.PREVIEWING, T0)
    assert tick(s, T0 + 5) == []
    s.preview_accepted(AgentId("a2"), ContactId("c9"))
    assert tick(s, T0 + 6) == [Dial(agent_id=AgentId("a2"), contact_id=ContactId("c9"))]
    s.dial_placed("l1", Dial(agent_id=AgentId("a2"), contact_id=ContactId("c9")), T0 + 6)
    assert s.agents[AgentId("a2")].status is AgentStatus.RESERVED
    assert tick(s, T0 + 7) == []  # placed once, not again


def test_progressive_dials_one_reserved_line_per_free_agent() -> None:
    s = with_answers(state(Mode.PROGRESSIVE, free=2, talking=3), answers=500)
    assert tick(s, T0) == [Dial(agent_id=AgentId("a0")), Dial(agent_id=AgentId("a1"))]


def test_predictive_overdials_pooled_lines_when_the_budget_allows() -> None:
    s = with_answers(state(Mode.PREDICTIVE, free=10, talking=10), answers=500)
    dials = tick(s, T0)
    assert all(d.agent_id is None for d in dials)
    assert len(dials) > 10  # one in four lines answers live (the prior): more lines than free agents


def test_predictive_dials_less_when_lines_are_already_ringing() -> None:
    s = with_answers(state(Mode.PREDICTIVE, free=10, talking=10), answers=500)
    first = len(tick(s, T0))
    for i in range(first):
        s.dial_placed(f"l{i}", Dial(), T0)
    assert len(tick(s, T0 + 1)) < first / 4


def test_predictive_falls_back_to_reserved_lines_when_a_window_is_full() -> None:
    s = with_answers(state(Mode.PREDICTIVE, free=4, talking=11), answers=100, abandons=3)
    assert tick(s, T0) == [Dial(agent_id=AgentId(f"a{i}")) for i in range(4)]
    # Two pooled lines still ringing: two free agents stand behind them, two get reserved lines.
    s.dial_placed("p1", Dial(), T0)
    s.dial_placed("p2", Dial(), T0)
    assert tick(s, T0 + 1) == [Dial(agent_id=AgentId("a2")), Dial(agent_id=AgentId("a3"))]


def test_a_small_team_is_dialed_progressively() -> None:
    s = with_answers(state(Mode.PREDICTIVE, free=3, talking=11), answers=500)
    assert tick(s, T0) == [Dial(agent_id=AgentId(f"a{i}")) for i in range(3)]  # 14 < 15 staffed
    s.agent_status(AgentId("a99"), AgentStatus.TALKING, T0)
    assert all(d.agent_id is None for d in tick(s, T0)) and len(tick(s, T0)) > 3


def test_predictive_takes_no_risk_before_any_live_answer() -> None:
    s = state(Mode.PREDICTIVE, free=3, talking=12)
    assert [d.agent_id for d in tick(s, T0)] == [AgentId("a0"), AgentId("a1"), AgentId("a2")]


def test_ratio_baseline_dials_ratio_times_active_agents_minus_calls_in_progress() -> None:
    s = with_answers(state(Mode.RATIO, free=4, talking=11), answers=500)
    s.ratio = 2.0
    s.ratio_retuned_at = T0  # no retune on this tick
    assert len(tick(s, T0)) == 2 * 15 - 11
    s.ledger.record(T0, abandoned=True)  # retuning against today's rate
    for i in range(20):
        s.live_answer(T0 + i, abandoned=True)
    tick(s, T0 + 30)
    assert s.ratio == 1.0


def test_the_gain_settles_where_abandons_meet_the_target() -> None:
    s = state(Mode.PREDICTIVE, free=1)
    target = s.config.target_share * s.config.abandon_limit
    start = s.gain
    for i in range(2000):  # abandons at exactly the target rate leave the gain where it was
        s.live_answer(T0 + i, abandoned=(i % round(1 / target)) == 0)
    assert s.gain == pytest.approx(start, rel=0.35)
    for i in range(200):
        s.live_answer(T0 + 3000 + i, abandoned=i % 5 == 0)  # 20%: far too many
    assert s.gain < start / 5


@pytest.mark.parametrize(("budget", "risk"), [(0, 1e-3), (1, 1e-3), (5, 1e-3), (5, 1e-2)])
def test_poisson_mean_cap(budget: int, risk: float) -> None:
    import math

    m = poisson_mean_cap(budget, risk)
    tail = 1 - sum(math.exp(-m) * m**k / math.factorial(k) for k in range(budget + 1))
    assert tail <= risk * 1.0001
    bigger = m * 1.01 + 1e-6
    tail_bigger = 1 - sum(math.exp(-bigger) * bigger**k / math.factorial(k) for k in range(budget + 1))
    assert tail_bigger > risk
    assert poisson_mean_cap(-1, risk) == 0.0


def test_predictive_falls_back_before_a_sliding_window_can_climb_over_the_limit() -> None:
    s = state(Mode.PREDICTIVE, free=2, talking=13)
    # 100 answers in the last hour, 2 abandons among the newest: the limit holds now (2 < 3)...
    for i in range(100):
        s.live_answer(T0 - 3600 + 36 * (i + 1) - 1, abandoned=i >= 98)
    assert s.ledger.can_risk_abandon(T0)
    # ...but not once the oldest 15% of the hour has slid out: reserved lines only.
    assert tick(s, T0) == [Dial(agent_id=AgentId("a0")), Dial(agent_id=AgentId("a1"))]
