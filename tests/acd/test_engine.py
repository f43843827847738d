from __future__ import annotations

import pytest

from acd.config import AcdError, MaxWaitAction, Strategy
from acd.engine import replay
from callcenter import events as ev
from callcenter.errors import IllegalTransition
from tests.acd.helpers import Driver, agent, config, decisions, engine, offers, request

A = ev.AgentId
C = ev.CallId


def test_longest_idle_agent_gets_the_call() -> None:
    e = engine(agent("1001"), agent("1002"))
    out = replay(
        e,
        [
            (0.0, ev.AgentLoggedIn(agent_id=A("1001"), interface="PJSIP/1001", at=0.0)),
            (0.0, ev.AgentLoggedIn(agent_id=A("1002"), interface="PJSIP/1002", at=0.0)),
            (1.0, ev.AgentReady(agent_id=A("1002"), at=1.0)),
            (5.0, ev.AgentReady(agent_id=A("1001"), at=5.0)),
            (9.0, ev.CallQueued(call_id=C("c1"), request=request(), at=9.0)),
        ],
    )
    offer = [(t, m) for t, m in out if isinstance(m, ev.OfferCall)]
    assert offer == [
        (
            9.0,
            ev.OfferCall(
                call_id=C("c1"), agent_id=A("1002"), interface="PJSIP/1002", queue=ev.QueueName("billing"),
                ring_timeout_s=15.0, decision_id=ev.DecisionId("c1/1"),
            ),
        )
    ]


def test_most_skilled_prefers_the_higher_level_then_the_longest_idle() -> None:
    cfg = config(("billing", Strategy.MOST_SKILLED))
    d = Driver(engine(agent("a", {"billing": 2}), agent("b", {"billing": 5}), agent("c", {"billing": 5}), cfg=cfg))
    d.login_ready(0, "a")
    d.login_ready(1, "c")
    d.login_ready(2, "b")
    assert offers(d.queue(3, "c1")) == [("c1", "c")]
    assert offers(d.queue(4, "c2")) == [("c2", "b")]
    assert offers(d.queue(5, "c3")) == [("c3", "a")]


def test_fewest_calls_prefers_the_agent_with_fewer_calls_since_login() -> None:
    cfg = config(("billing", Strategy.FEWEST_CALLS))
    d = Driver(engine(agent("a"), agent("b"), cfg=cfg))
    d.login_ready(0, "a")
    d.login_ready(0, "b")
    d.queue(1, "c1")  # a: idle since 0 like b; the smaller id wins the tie
    d.at(2, ev.CallAnswered(call_id=C("c1"), agent_id=A("a"), at=2))
    d.at(3, ev.CallEnded(call_id=C("c1"), at=3))  # a is ready again (no wrap-up), with 1 call
    d.at(3.5, ev.AgentNotReady(agent_id=A("b"), reason="break", at=3.5))
    d.at(3.6, ev.AgentReady(agent_id=A("b"), at=3.6))  # b is now idle for less time than a
    assert offers(d.queue(4, "c2")) == [("c2", "b")]


def test_least_occupied_prefers_the_agent_busy_for_the_smaller_share_of_its_login() -> None:
    cfg = config(("billing", Strategy.LEAST_OCCUPIED))
    d = Driver(engine(agent("a"), agent("b"), cfg=cfg))
    d.login_ready(0, "a")
    d.login_ready(0, "b")
    d.queue(1, "c1")
    d.at(1, ev.CallAnswered(call_id=C("c1"), agent_id=A("a"), at=1))
    d.at(50, ev.CallEnded(call_id=C("c1"), at=50))  # a: busy 49 of 100 s by t=100; b: 0
    d.at(60, ev.AgentNotReady(agent_id=A("b"), reason="break", at=60))
    d.at(61, ev.AgentReady(agent_id=A("b"), at=61))  # b is now the *shorter* idle, yet less occupied
    assert offers(d.queue(100, "c2")) == [("c2", "b")]


def test_round_robin_rotates_through_the_members_in_order() -> None:
    cfg = config(("billing", Strategy.ROUND_ROBIN))
    d = Driver(engine(agent("a"), agent("b"), agent("c"), cfg=cfg))
    d.login_ready(0, "c", "b", "a")
    got = []
    for i in range(6):
        out = d.queue(1 + i, f"c{i}")
        ((call, who),) = offers(out)
        got.append(who)
        d.at(1 + i, ev.CallAnswered(call_id=C(call), agent_id=A(who), at=1 + i))
        d.at(1 + i, ev.CallEnded(call_id=C(call), at=1 + i))
    assert got == ["a", "b", "c", "a", "b", "c"]


def test_random_is_reproducible_with_the_same_seed_and_varies_with_the_seed() -> None:
    def run(seed: int) -> list[str]:
        d = Driver(engine(*(agent(f"a{i}") for i in range(8)), cfg=config(("billing", Strategy.RANDOM)), seed=seed))
        d.login_ready(0, *(f"a{i}" for i in range(8)))
        picks = []
        for i in range(5):
            ((_, who),) = offers(d.queue(1, f"c{i}"))
            picks.append(who)
        return picks

    assert run(1) == run(1)
    assert len({tuple(run(s)) for s in range(5)}) > 1


def test_vip_within_the_head_start_is_served_before_an_earlier_standard_call() -> None:
    d = Driver(engine(agent("a")))
    d.login_ready(0, "a")
    d.at(0, ev.AgentNotReady(agent_id=A("a"), reason="break", at=0))
    d.queue(10, "std")
    d.queue(50, "vip", request(priority_class="vip"))  # 40 s later, head start 60 s
    assert offers(d.at(100, ev.AgentReady(agent_id=A("a"), at=100))) == [("vip", "a")]


def test_vip_arriving_after_the_cap_does_not_pass_the_standard_call() -> None:
    d = Driver(engine(agent("a")))
    d.login_ready(0, "a")
    d.at(0, ev.AgentNotReady(agent_id=A("a"), reason="break", at=0))
    d.queue(10, "std")
    d.queue(75, "vip", request(priority_class="vip"))  # 65 s later: past the 60 s cap
    out = d.at(100, ev.AgentReady(agent_id=A("a"), at=100))
    assert offers(out) == [("std", "a")]
    (record,) = decisions(out)
    assert [c.id for c in record.candidates] == ["std"]  # both in one group: only the head is compared
    assert record.call_score_s == 90.0


def test_priority_change_reranks_a_waiting_call_at_once() -> None:
    d = Driver(engine(agent("a")))
    d.login_ready(0, "a")
    d.at(0, ev.AgentNotReady(agent_id=A("a"), reason="break", at=0))
    d.queue(10, "first")
    d.queue(20, "second")
    d.at(21, ev.CallPriorityChanged(call_id=C("second"), priority_class="gold", priority=0, at=21))
    assert offers(d.at(30, ev.AgentReady(agent_id=A("a"), at=30))) == [("second", "a")]
    assert d.engine.metrics.classes["gold"].offered == 1
    assert d.engine.metrics.classes["standard"].offered == 1


def test_relaxation_lets_a_lower_level_agent_take_the_call_after_the_step() -> None:
    d = Driver(engine(agent("junior", {"billing": 1})))
    d.login_ready(0, "junior")
    req = request(
        skills={"billing": 3},
        relaxation=(ev.RelaxationStep(after_s=30, skills=(ev.SkillRequirement(skill="billing", min_level=1),)),),
    )
    assert offers(d.queue(1, "c1", req)) == []
    out = d.at(31)
    assert offers(out) == [("c1", "junior")]
    (record,) = decisions(out)
    assert (record.trigger, record.relaxation_step, record.wait_s) == ("relaxed", 1, 30.0)
    assert record.requirements == (ev.SkillRequirement(skill="billing", min_level=1),)


def test_overflow_moves_the_call_to_the_other_queue_with_its_skills() -> None:
    cfg = config("billing", "general")
    d = Driver(engine(agent("g", {"general": 1}, queues=("general",)), cfg=cfg))
    d.login_ready(0, "g")
    req = request(overflow_queue=ev.QueueName("general"), overflow_after_s=60)
    d.queue(0, "c1", req)
    out = d.at(60)
    assert ev.CallOverflowed(call_id=C("c1"), from_queue=ev.QueueName("billing"), to_queue=ev.QueueName("general"), at=60) in out
    assert offers(out) == [("c1", "g")]
    assert d.engine.metrics.queues["billing"].overflowed == 1
    assert d.engine.metrics.queues["general"].offered == 1


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        (MaxWaitAction.FALLBACK, [ev.SendToFallback(call_id=C("c1"), reason="max-wait")]),
        (MaxWaitAction.CALLBACK, [ev.OfferCallback(call_id=C("c1"), reason="max-wait")]),
    ],
)
def test_max_wait_ends_in_fallback_or_a_callback_offer(action: MaxWaitAction, expected: list[object]) -> None:
    d = Driver(engine(cfg=config(on_max_wait=action)))
    d.queue(0, "c1", request(max_wait_s=300))
    out = d.at(300)
    assert [m for m in out if isinstance(m, ev.SendToFallback | ev.OfferCallback)] == expected
    assert "c1" not in d.engine.calls
    assert d.timers == {}


def test_ring_no_answer_pauses_the_agent_and_puts_the_call_back_at_the_head_of_its_class() -> None:
    d = Driver(engine(agent("a"), agent("b")))
    d.login_ready(0, "a")
    d.at(0, ev.AgentLoggedIn(agent_id=A("b"), interface="PJSIP/b", at=0))
    assert offers(d.queue(10, "c1")) == [("c1", "a")]
    d.queue(12, "c2")
    out = d.at(25, ev.OfferNotAnswered(call_id=C("c1"), agent_id=A("a"), at=25))
    assert ev.AgentStateChanged(
        agent_id=A("a"), old=ev.AgentState.RESERVED, new=ev.AgentState.NOT_READY, reason="rona", call_id=C("c1"), at=25
    ) in out
    # c1 keeps its place: the next agent gets c1 (queued at 10), not c2 (queued at 12)
    out = d.at(30, ev.AgentReady(agent_id=A("b"), at=30))
    assert offers(out) == [("c1", "b")]
    assert decisions(out)[0].decision_id == "c1/2"


def test_the_offer_guard_timer_acts_as_ring_no_answer_when_the_pbx_stays_silent() -> None:
    d = Driver(engine(agent("a")))
    d.login_ready(0, "a")
    d.queue(0, "c1")
    out = d.at(20)  # ring timeout 15 s + guard 5 s
    assert d.engine.agents[A("a")].state is ev.AgentState.NOT_READY
    assert d.engine.calls[C("c1")].state == "waiting"
    assert offers(out) == []


def test_wrap_up_lasts_the_queue_s_time_then_the_agent_takes_the_next_call() -> None:
    d = Driver(engine(agent("a"), cfg=config(wrap_up_s=12)))
    d.login_ready(0, "a")
    d.queue(0, "c1")
    d.at(1, ev.CallAnswered(call_id=C("c1"), agent_id=A("a"), at=1))
    out = d.at(100, ev.CallEnded(call_id=C("c1"), at=100))
    assert ev.StartTimer(timer_id=ev.TimerId("wrap:a"), delay_s=12) in out
    assert offers(d.queue(105, "c2")) == []
    assert offers(d.at(112)) == [("c2", "a")]


def test_a_pause_asked_for_on_a_call_applies_after_wrap_up() -> None:
    d = Driver(engine(agent("a"), cfg=config(wrap_up_s=5)))
    d.login_ready(0, "a")
    d.queue(0, "c1")
    d.at(1, ev.CallAnswered(call_id=C("c1"), agent_id=A("a"), at=1))
    assert d.at(2, ev.AgentNotReady(agent_id=A("a"), reason="lunch", at=2)) == []
    d.at(10, ev.CallEnded(call_id=C("c1"), at=10))
    d.queue(11, "c2")
    out = d.at(15)
    assert offers(out) == []
    assert d.engine.agents[A("a")].state is ev.AgentState.NOT_READY
    assert d.engine.agents[A("a")].reason == "lunch"


def test_max_calls_pauses_the_agent_after_its_last_call() -> None:
    d = Driver(engine(agent("a", max_calls=1)))
    d.login_ready(0, "a")
    d.queue(0, "c1")
    d.at(1, ev.CallAnswered(call_id=C("c1"), agent_id=A("a"), at=1))
    d.at(10, ev.CallEnded(call_id=C("c1"), at=10))
    assert d.engine.agents[A("a")].state is ev.AgentState.NOT_READY
    assert d.engine.agents[A("a")].reason == "max-calls"


def test_an_unknown_pause_reason_is_refused_with_the_known_ones() -> None:
    d = Driver(engine(agent("a"), cfg=config(pause_reasons=("break", "lunch"))))
    d.login_ready(0, "a")
    with pytest.raises(AcdError) as exc:
        d.at(1, ev.AgentNotReady(agent_id=A("a"), reason="nap", at=1))
    assert str(exc.value) == "agent a: unknown pause reason 'nap'; expected one of break, lunch"


def test_an_agent_in_two_queues_gets_the_call_with_the_highest_score_across_them() -> None:
    cfg = config("billing", "tech")
    d = Driver(engine(agent("a", {"billing": 3, "tech": 3}, queues=("billing", "tech")), cfg=cfg))
    d.login_ready(0, "a")
    d.at(0, ev.AgentNotReady(agent_id=A("a"), reason="break", at=0))
    d.queue(10, "billing-std")
    d.queue(20, "tech-gold", request("tech", {"tech": 1}, priority_class="gold"))  # score at 40: 20+30 > 30
    out = d.at(40, ev.AgentReady(agent_id=A("a"), at=40))
    assert offers(out) == [("tech-gold", "a")]
    (record,) = decisions(out)
    assert [(c.id, c.score) for c in record.candidates] == [("tech-gold", (-50.0,)), ("billing-std", (-30.0,))]


def test_decision_record_names_each_excluded_agent_and_why() -> None:
    d = Driver(engine(
        agent("busy"), agent("wrap"), agent("low", {"billing": 1}), agent("none", {"tech": 3}), agent("ok"), agent("off"),
        cfg=config(wrap_up_s=30),
    ))
    d.login_ready(0, "busy", "wrap", "low", "none")
    d.queue(1, "c0")  # busy takes it (longest idle ties -> smallest id)
    d.at(1, ev.CallAnswered(call_id=C("c0"), agent_id=A("busy"), at=1))
    d.queue(2, "c1", request(skills={"billing": 2}))  # "low" (level 1) can't: "wrap" takes it
    d.at(3, ev.CallAnswered(call_id=C("c1"), agent_id=A("wrap"), at=3))
    d.at(4, ev.CallEnded(call_id=C("c1"), at=4))  # wrap is in wrap-up for 30 s
    d.login_ready(5, "ok")
    out = d.queue(6, "c2", request(skills={"billing": 2}))
    (record,) = decisions(out)
    assert record.agent_id == "ok"
    reasons = {x.agent_id: x.reason for x in record.excluded}
    assert reasons == {
        "busy": "state:on-call",
        "wrap": "wrap-up",
        "low": "level:billing 1<2",
        "none": "skill:billing",
        "off": "state:logged-out",
    }
    assert dict(record.excluded_counts) == {
        "state:logged-out": 1, "state:on-call": 1, "wrap-up": 1, "skill-or-level": 2,
    }
    assert record.candidate_count == 1


def test_caller_hanging_up_while_ringing_frees_the_agent_for_the_next_call() -> None:
    d = Driver(engine(agent("a")))
    d.login_ready(0, "a")
    d.queue(0, "c1")
    d.queue(1, "c2")
    out = d.at(3, ev.CallAbandoned(call_id=C("c1"), at=3))
    assert offers(out) == [("c2", "a")]
    assert d.engine.metrics.queues["billing"].abandoned == 1


def test_logging_out_while_ringing_puts_the_call_back() -> None:
    d = Driver(engine(agent("a")))
    d.login_ready(0, "a")
    d.queue(0, "c1")
    d.at(1, ev.AgentLoggedOut(agent_id=A("a"), at=1))
    assert d.engine.calls[C("c1")].state == "waiting"
    assert d.timers.keys() == set()


def test_a_profile_update_gives_a_ready_agent_the_call_its_new_skill_allows() -> None:
    d = Driver(engine(agent("a", {"tech": 3}), cfg=config("billing", "tech")))
    d.login_ready(0, "a")
    d.queue(1, "c1")
    update = ev.AgentProfileUpdated(
        agent_id=A("a"), skills=(ev.AgentSkill(skill="billing", level=2),), queues=(ev.QueueName("billing"),), at=2
    )
    assert offers(d.at(2, update)) == [("c1", "a")]
    assert decisions([m for _, m in d.log])[0].trigger == "agent-reskilled"


def test_unknown_queue_goes_to_fallback_so_no_caller_is_stranded() -> None:
    d = Driver(engine())
    out = d.queue(0, "c1", request("nowhere"))
    assert out == [
        ev.SendToFallback(call_id=C("c1"), reason="unknown-queue"),
        ev.CallSentToFallback(call_id=C("c1"), queue=ev.QueueName("nowhere"), reason="unknown-queue", at=0),
    ]


def test_outbound_agent_goes_to_wrap_up_when_its_call_ends() -> None:
    d = Driver(engine(agent("a"), cfg=config(wrap_up_s=5)))
    d.login_ready(0, "a")
    d.at(1, ev.AgentOutboundStarted(agent_id=A("a"), call_id=C("out1"), at=1))
    assert offers(d.queue(2, "c1")) == []
    d.at(10, ev.CallEnded(call_id=C("out1"), at=10))
    # an outbound call has no queue and so no wrap-up: the agent is free and takes the waiting call
    assert offers([m for _, m in d.log]) == [("c1", "a")]
    assert d.engine.agents[A("a")].state is ev.AgentState.RESERVED


def test_illegal_event_changes_nothing() -> None:
    d = Driver(engine(agent("a")))
    d.login_ready(0, "a")
    with pytest.raises(IllegalTransition):
        d.at(1, ev.AgentLoggedIn(agent_id=A("a"), interface="PJSIP/a", at=1))
    assert d.engine.agents[A("a")].state is ev.AgentState.READY
    assert offers(d.queue(2, "c1")) == [("c1", "a")]


def test_estimated_wait_counts_the_calls_ahead_and_the_agents_who_can_help() -> None:
    d = Driver(engine(agent("a"), agent("b"), agent("c", {"tech": 2})))
    d.login_ready(0, "a", "b", "c")
    d.queue(0, "c1")
    d.queue(0, "c2")
    d.queue(1, "c3")
    out = d.queue(2, "c4")
    (announce,) = [m for m in out if isinstance(m, ev.Announce)]
    assert (announce.position, announce.ewt_s) == (1, 180.0)  # 2 calls / 2 agents × 180 s prior
    est = d.engine.estimate_wait(C("c4"))
    assert (est.eligible_agents, est.low_s, est.high_s, est.confidence) == (2, 17.1, 342.9, 0.0)


def test_a_call_needing_two_skills_goes_only_to_an_agent_with_both() -> None:
    d = Driver(engine(agent("b", {"billing": 5}), agent("t", {"tech": 5}), agent("bt", {"billing": 2, "tech": 2})))
    d.login_ready(0, "b", "t", "bt")
    out = d.queue(1, "c1", request(skills={"billing": 2, "tech": 1}))
    assert offers(out) == [("c1", "bt")]
    assert {x.agent_id: x.reason for x in decisions(out)[0].excluded} == {"b": "skill:tech", "t": "skill:billing"}


def test_live_stats_per_queue_and_per_class() -> None:
    d = Driver(engine(agent("a"), agent("b"), cfg=config(wrap_up_s=0)))
    d.login_ready(0, "a")
    d.at(0, ev.AgentLoggedIn(agent_id=A("b"), interface="PJSIP/b", at=0))
    d.queue(0, "c1")
    d.at(10, ev.CallAnswered(call_id=C("c1"), agent_id=A("a"), at=10))  # within T = 20 s
    d.queue(20, "c2", request(priority_class="vip"))
    d.queue(30, "c3")
    d.at(35, ev.CallAbandoned(call_id=C("c3"), at=35))
    q = d.engine.queue_stats(ev.QueueName("billing"), 50)
    assert (q.waiting, q.longest_wait_s, q.ready_agents, q.staffed_agents) == (1, 30.0, 0, 1)
    assert (q.offered, q.answered, q.abandoned, q.service_level, q.asa_s, q.abandon_rate) == (3, 1, 1, 0.5, 10.0, 0.5)
    assert q.occupancy == 0.5  # a busy since 0; b logged in but paused: the mean over logged-in members
    vip = d.engine.class_stats("vip", 50)
    assert (vip.waiting, vip.longest_wait_s, vip.offered, vip.ready_agents) == (1, 30.0, 1, None)


def test_a_long_lived_queue_does_not_keep_the_calls_that_left_it() -> None:
    d = Driver(engine())
    d.queue(0, "keeper")  # nobody is logged in: the group never empties
    for i in range(500):
        d.queue(1 + i, f"c{i}")
        d.at(1 + i, ev.CallAbandoned(call_id=C(f"c{i}"), at=1 + i))
    (group,) = d.engine._groups.values()
    assert group.live == 1 and len(group.heap) <= 2 * group.live + 32
    assert d.engine.estimate_wait(C("keeper")).position == 0


def test_eligible_agents_count_levels_at_or_above_and_only_staffed_agents() -> None:
    d = Driver(engine(agent("a", {"billing": 2}), agent("b", {"billing": 4, "tech": 1}), agent("c", {"billing": 5})))
    d.login_ready(0, "a", "b", "c")
    d.at(1, ev.AgentNotReady(agent_id=A("c"), reason="break", at=1))
    billing = ev.QueueName("billing")
    assert d.engine.eligible_agents(billing, (ev.SkillRequirement(skill="billing", min_level=3),)) == 1
    assert d.engine.eligible_agents(billing, (ev.SkillRequirement(skill="billing", min_level=2),)) == 2
    two = (ev.SkillRequirement(skill="billing", min_level=2), ev.SkillRequirement(skill="tech", min_level=1))
    assert d.engine.eligible_agents(billing, two) == 1
    assert d.engine.eligible_agents(billing, ()) == 2


def test_the_exclusion_sample_is_bounded_but_the_counts_cover_the_whole_queue() -> None:
    # explain_limit 1: the record names at most one excluded agent, found among the first
    # EXCLUSION_SCAN × 1 = 8 members (in the order they joined); the counts cover every member.
    ready = [f"a{i}" for i in range(9)]
    d = Driver(engine(*(agent(a) for a in ready), agent("z-off"), cfg=config(explain_limit=1)))
    d.login_ready(0, *ready)
    (record,) = decisions(d.queue(1, "c0"))
    assert (record.agent_id, record.candidate_count) == ("a0", 9)
    assert record.excluded == ()  # the first 8 members are all ready: z-off is not in the sample
    assert dict(record.excluded_counts) == {"state:logged-out": 1}
    d.at(1, ev.CallAnswered(call_id=C("c0"), agent_id=A("a0"), at=1))
    (record,) = decisions(d.queue(2, "c1"))
    assert [(x.agent_id, x.reason) for x in record.excluded] == [("a0", "state:on-call")]
    assert dict(record.excluded_counts) == {"state:logged-out": 1, "state:on-call": 1}


def test_position_counts_only_the_calls_ahead_by_score_and_follows_leaves_and_reranks() -> None:
    d = Driver(engine())  # nobody logged in: every call waits
    d.queue(0, "s1")
    d.queue(10, "s2")
    out = d.queue(20, "v1", request(priority_class="vip"))  # key -40: ahead of both standards
    (announce,) = [m for m in out if isinstance(m, ev.Announce)]
    assert announce.position == 0
    pos = {c: d.engine.estimate_wait(C(c)).position for c in ("s1", "s2", "v1")}
    assert pos == {"v1": 0, "s1": 1, "s2": 2}
    d.at(30, ev.CallAbandoned(call_id=C("s1"), at=30))
    assert d.engine.estimate_wait(C("s2")).position == 1
    d.at(31, ev.CallPriorityChanged(call_id=C("s2"), priority_class="vip", priority=0, at=31))  # key 10-60 = -50
    assert [d.engine.estimate_wait(C(c)).position for c in ("s2", "v1")] == [0, 1]


def test_a_free_agent_sees_the_new_head_of_a_group_after_the_head_left() -> None:
    d = Driver(engine(agent("a"), agent("b", {"billing": 1}), cfg=config(wrap_up_s=0)))
    d.login_ready(0, "a")
    d.queue(1, "c0")
    d.at(1, ev.CallAnswered(call_id=C("c0"), agent_id=A("a"), at=1))
    d.queue(2, "first", request(skills={"billing": 2}))
    d.queue(3, "second", request(skills={"billing": 2}))
    d.queue(4, "easy", request(skills={"billing": 1}))
    d.at(5, ev.CallAbandoned(call_id=C("first"), at=5))
    d.login_ready(6, "b")  # level 1: only "easy" is for b
    assert offers([m for _, m in d.log])[-1] == ("easy", "b")
    out = d.at(7, ev.CallEnded(call_id=C("c0"), at=7))
    assert offers(out) == [("second", "a")]
    (record,) = decisions(out)
    assert [c.id for c in record.candidates] == ["second"]
