"""Pacing: how many numbers to dial now, and for which agent.

Theory of operation
-------------------
The pacer is a pure core. The runner (the simulation, or the PBX adapter) reports what happens
through `PacerState`'s recording methods and calls `tick(state, now)` every second or so; it
returns the `Dial`s to place now. Before each dial the runner asks compliance (compliance.py) and
picks the contact; the pacer never sees contacts except the one an agent accepted in preview.

States of an agent, as the pacer sees them: FREE (idle, may take a call), PREVIEWING (reading a
contact before accepting), RESERVED (waiting on a line dialed for them), TALKING (on any call,
inbound or outbound), WRAP_UP, AWAY (paused, logged out or taken by inbound routing).

Modes:
* PREVIEW: an agent accepts a previewed contact (`preview_accepted`); only then is it dialed, with
  that agent reserved. Nothing is dialed for an agent who has not accepted.
* PROGRESSIVE: one line per FREE agent, the agent reserved. Cannot abandon.
* RATIO: the VICIdial-style baseline. Lines wanted = ratio x active agents - calls in progress;
  every `ratio_retune_s` the ratio drops to 1 when today's abandon rate reaches the limit, steps
  down near it, and steps up while agents sit idle. Kept for comparison only.
* PREDICTIVE (ours): looks a few seconds ahead, at points t up to the time by which most live
  answers have come (learned). At each t it forecasts X_t, the live answers by t from pooled
  lines already ringing and from `n` new ones, and Y_t, the agents able to take them by
  t + 2 s: FREE now, plus WRAP_UP agents by their elapsed wrap-up, plus TALKING agents by the
  talk's hazard at their elapsed time and the wrap-up still to come, minus expected inbound
  arrivals (inbound has priority). Both are taken as normal. An answer arriving in the slice
  before t is lost when Y_t - X_t < 1. It adds lines one at a time while
  (a) the marginal line's chance of being abandoned, should it answer, stays within
      `target_share` of the limit: risk is taken where it is cheap (many agents about to
      free), not spread evenly; and
  (b) the expected abandons of every pooled line in the horizon stay within the budget of the
      tightest window: counting abandons in clusters of `abandon_cluster` (several answers
      meet one drought of free agents) as Poisson, the chance they exceed the budget stays
      below `overshoot_risk` (abandon.py Rule 1).
  Rule 1: while any window could not absorb one more abandon (with abandon.py's Rule 3
  headroom for rolling windows), predictive (and the ratio
  baseline, which runs under the same compliance) falls back to progressive: agent-reserved
  lines only, so the limit holds in every window. Free agents first stand behind the pooled
  lines still ringing; only the agents beyond those get reserved lines.
  Rule 4: below `min_pool` staffed agents there is no pool to average over (one drought
  strands several answers at once): predictive and ratio dial progressively.
  Rule 2: the forecast is a model and has a bias (it under-counts clustered abandons).
  Expected abandons are divided by `gain`, learned from the abandons actually seen (a step
  down per abandon, a step up per connected answer, in the ratio that balances at the target
  rate), so the realised rate settles at `target_share` of the limit whatever the bias.

Lines are identified by the runner's `line_id`. Reserved lines connect to their agent; unreserved
lines take any FREE agent; inbound calls take only FREE agents, never reserved ones.
"""

from __future__ import annotations

import enum
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from callcenter.events import AgentId, ContactId
from dialer.abandon import DEFAULT_WINDOWS, AbandonLedger, AbandonWindow
from dialer.forecast import Forecast


class Mode(enum.StrEnum):
    PREVIEW = "preview"
    PROGRESSIVE = "progressive"
    RATIO = "ratio"
    PREDICTIVE = "predictive"


class AgentStatus(enum.StrEnum):
    FREE = "free"
    PREVIEWING = "previewing"
    RESERVED = "reserved"
    TALKING = "talking"
    WRAP_UP = "wrap-up"
    AWAY = "away"


@dataclass(frozen=True, slots=True)
class Dial:
    """Place one call. `agent_id` is the reserved agent (None: pooled, may abandon)."""

    agent_id: AgentId | None = None
    contact_id: ContactId | None = None  # preview: the contact the agent accepted


@dataclass(frozen=True, slots=True)
class PacerConfig:
    mode: Mode
    abandon_limit: float = 0.03
    grace_s: float = 2.0  # the 2-second rule
    target_share: float = 0.8  # predictive: aim the realised abandon rate at this share of the limit
    overshoot_risk: float = 1e-3  # predictive: P(more abandons than the tightest budget) allowed
    abandon_cluster: float = 4.0  # predictive: abandons per drought, for the budget's tail
    window_headroom: float = 0.15  # Rule 3 of abandon.py: rolling windows hold with this share slid out
    gain_step: float = 0.05  # predictive: how fast the realised abandon rate corrects the forecast
    gain_max: float = 20.0
    gain_initial: float = 0.5  # the model alone under-counts abandons (they come in clusters)
    max_lines_per_agent: float = 12.0
    min_pool: int = 15  # predictive and ratio: fewer agents than this dial progressively (Rule 4)
    inbound_window_s: float = 900.0  # how far back inbound arrivals are counted for the rate
    ratio_initial: float = 1.0
    ratio_step: float = 0.1
    ratio_max: float = 6.0
    ratio_retune_s: float = 15.0


@dataclass(slots=True)
class _Agent:
    status: AgentStatus
    since: float
    call_started: float = 0.0  # connect time of the current or last call


@dataclass(slots=True)
class _Line:
    dialed_at: float
    agent_id: AgentId | None


@dataclass(slots=True)
class PacerState:
    """Everything the pacer knows. Mutated only by its recording methods and by `tick`."""

    config: PacerConfig
    ledger: AbandonLedger
    forecast: Forecast = field(default_factory=Forecast)
    agents: dict[AgentId, _Agent] = field(default_factory=dict)
    lines: dict[str, _Line] = field(default_factory=dict)
    previews: dict[AgentId, ContactId] = field(default_factory=dict)
    inbound_arrivals: deque[float] = field(default_factory=deque)
    ratio: float = 1.0
    ratio_retuned_at: float = 0.0
    gain: float = 1.0  # predictive: corrects the forecast's bias from the abandons actually seen

    @classmethod
    def create(
        cls, config: PacerConfig, windows: Sequence[AbandonWindow] = DEFAULT_WINDOWS, forecast: Forecast | None = None
    ) -> PacerState:
        ledger = AbandonLedger(windows, limit=config.abandon_limit)
        return cls(
            config=config,
            ledger=ledger,
            forecast=forecast or Forecast(),
            ratio=config.ratio_initial,
            gain=config.gain_initial,
        )

    # ---- what happened ------------------------------------------------------------------

    def agent_status(self, agent_id: AgentId, status: AgentStatus, now: float) -> None:
        agent = self.agents.get(agent_id)
        if agent is None:
            self.agents[agent_id] = _Agent(status, now, now)
            return
        if agent.status is AgentStatus.TALKING and status is AgentStatus.WRAP_UP:
            self.forecast.talk.add(now - agent.since)
        if agent.status is AgentStatus.WRAP_UP and status is not AgentStatus.WRAP_UP:
            self.forecast.wrap.add(now - agent.since)
        if status is AgentStatus.TALKING:
            agent.call_started = now
        agent.status, agent.since = status, now
        if status is not AgentStatus.PREVIEWING:
            self.previews.pop(agent_id, None)

    def preview_accepted(self, agent_id: AgentId, contact_id: ContactId) -> None:
        self.previews[agent_id] = contact_id

    def dial_placed(self, line_id: str, dial: Dial, now: float) -> None:
        self.lines[line_id] = _Line(now, dial.agent_id)
        if dial.agent_id is not None:
            self.agent_status(dial.agent_id, AgentStatus.RESERVED, now)

    def line_resolved(self, line_id: str, now: float, *, live: bool) -> None:
        """The line stopped ringing: live (human) answer, or machine, busy, no answer, failure."""
        line = self.lines.pop(line_id)
        self.forecast.line_resolved(now - line.dialed_at, live=live)

    def live_answer(self, at: float, *, abandoned: bool) -> None:
        self.ledger.record(at, abandoned=abandoned)
        # Stochastic approximation (Rule 2): a step down per abandon, a small step up per
        # connected answer, balanced so the gain settles where the realised rate is the target.
        cfg = self.config
        target = cfg.target_share * cfg.abandon_limit
        step = -cfg.gain_step if abandoned else cfg.gain_step * target / (1.0 - target)
        self.gain = min(cfg.gain_max, max(1.0 / cfg.gain_max, self.gain * math.exp(step)))

    def inbound_arrived(self, now: float) -> None:
        self.inbound_arrivals.append(now)


def tick(state: PacerState, now: float) -> list[Dial]:
    mode = state.config.mode
    if mode is Mode.PREVIEW:
        return [
            Dial(agent_id=a, contact_id=c)
            for a, c in state.previews.items()
            if state.agents[a].status is AgentStatus.PREVIEWING
        ]
    staffed = sum(1 for a in state.agents.values() if a.status is not AgentStatus.AWAY)
    if mode is Mode.PROGRESSIVE or staffed < state.config.min_pool:
        return _one_per_free_agent(state)
    if mode is Mode.RATIO:
        _retune_ratio(state, now)
    budget = state.ledger.budget(now, headroom=state.config.window_headroom)
    if budget < 1.0:
        # Free agents first back the pooled lines still ringing (else those would abandon);
        # only the agents left over get a reserved line.
        pooled = sum(1 for line in state.lines.values() if line.agent_id is None)
        return _one_per_free_agent(state)[pooled:]
    if mode is Mode.RATIO:
        return [Dial() for _ in range(_ratio_lines(state))]
    return [Dial() for _ in range(_predictive_lines(state, now, budget))]


def _one_per_free_agent(state: PacerState) -> list[Dial]:
    return [Dial(agent_id=a) for a, ag in state.agents.items() if ag.status is AgentStatus.FREE]


def _retune_ratio(state: PacerState, now: float) -> None:
    """VICIdial's adaptive dial level, re-tuned against today's abandon rate only."""
    cfg = state.config
    if now - state.ratio_retuned_at < cfg.ratio_retune_s:
        return
    state.ratio_retuned_at = now
    day = next((r for r in state.ledger.rates(now) if r.name == "calendar-day"), None)
    day_rate = day.rate if day else 0.0
    free = sum(1 for a in state.agents.values() if a.status is AgentStatus.FREE)
    if day_rate >= cfg.abandon_limit:
        state.ratio = 1.0
    elif day_rate > 0.8 * cfg.abandon_limit:
        state.ratio = max(1.0, state.ratio - cfg.ratio_step)
    elif free > 0.1 * len(state.agents):
        state.ratio = min(cfg.ratio_max, state.ratio + cfg.ratio_step)


def _ratio_lines(state: PacerState) -> int:
    statuses = [a.status for a in state.agents.values()]
    free = statuses.count(AgentStatus.FREE)
    talking = statuses.count(AgentStatus.TALKING)
    wanted = math.floor(state.ratio * (free + talking))
    return max(0, wanted - len(state.lines) - talking)


def _predictive_lines(state: PacerState, now: float, budget: float) -> int:
    cfg, fc = state.config, state.forecast
    horizon = fc.answer_horizon()
    # Look at several points t ahead: live answers by t must find agents free by t + grace.
    # One aggregate horizon would miss an answer at second 2 whose agent frees at second 12.
    points = sorted({min(horizon, t) for t in _LOOK_AHEAD_S} | {horizon})
    reach = np.array(points) + cfg.grace_s
    free = 0
    talking: list[float] = []
    wrapping: list[float] = []
    for agent in state.agents.values():
        if agent.status is AgentStatus.FREE:
            free += 1
        elif agent.status is AgentStatus.TALKING:
            talking.append(now - agent.call_started)
        elif agent.status is AgentStatus.WRAP_UP:
            wrapping.append(now - agent.since)
    # Y: agents able to take an answer by t. A talker is free by t only if the call ends and a
    # whole wrap-up passes: over a few seconds, the talk's hazard times E[(t + grace - wrap)+].
    p_talk = np.minimum(1.0, np.outer(fc.talk_hazard(np.array(talking)), fc.wrap_slack(reach)))
    wraps = np.array(wrapping)
    p_wrap = fc.wrap.p_end_within(wraps[:, None], reach[None, :])
    while state.inbound_arrivals and state.inbound_arrivals[0] <= now - cfg.inbound_window_s:
        state.inbound_arrivals.popleft()
    inbound = len(state.inbound_arrivals) / cfg.inbound_window_s * reach
    mu_y = free + p_talk.sum(axis=0) + p_wrap.sum(axis=0) - inbound
    var_y = (p_talk * (1.0 - p_talk)).sum(axis=0) + (p_wrap * (1.0 - p_wrap)).sum(axis=0) + inbound
    # X: live answers by t from pooled lines already ringing (lines dialed on one tick share
    # their odds, so they are looked up once), and from each new line.
    times, counts = np.unique([line.dialed_at for line in state.lines.values() if line.agent_id is None], return_counts=True)
    ahead = np.array(points)
    q_old = fc.p_live_within(now - times[None, :], ahead[:, None])
    mu_x = q_old @ counts
    var_x = (q_old * (1.0 - q_old)) @ counts
    q_new = fc.p_live_within(np.zeros(1), ahead).tolist()
    if q_new[-1] <= 0.0:
        return 0
    mu_x_l, var_x_l, mu_y_l, var_y_l = mu_x.tolist(), var_x.tolist(), mu_y.tolist(), var_y.tolist()
    # Abandons come in clusters (one drought, several answers): count clusters, not calls.
    c = cfg.abandon_cluster
    risk_cap = c * poisson_mean_cap(math.floor(budget / c), cfg.overshoot_risk)
    room = int(cfg.max_lines_per_agent * len(state.agents)) - len(state.lines)

    def slices(m: int) -> tuple[float, float]:
        """With `m` new lines: P(the m-th line's live answer finds no agent | it answers within
        the horizon), and the expected abandons of every line in the horizon."""
        marginal = total = 0.0
        prev_x = prev_q = 0.0
        for i, q in enumerate(q_new):
            mx, vx = mu_x_l[i] + (m - 1) * q, var_x_l[i] + (m - 1) * q * (1.0 - q)
            # An answer in this slice is lost when no agent is left for it.
            lost = _normal_cdf(0.5 - (mu_y_l[i] - mx), math.sqrt(vx + var_y_l[i] + 1e-9))
            marginal += (q - prev_q) * lost
            total += (mx + q - prev_x) * lost
            prev_x, prev_q = mx + q, q
        return marginal / q_new[-1] / state.gain, total / state.gain

    n = 0
    while n < room:
        marginal, total = slices(n + 1)
        if marginal > cfg.target_share * cfg.abandon_limit or total > risk_cap:
            break
        n += 1
    return n


_LOOK_AHEAD_S = (1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 11.0, 14.0, 18.0)


def _normal_cdf(x: float, sd: float) -> float:
    return 0.5 * (1.0 + math.erf(x / (sd * math.sqrt(2.0))))


@lru_cache(maxsize=4096)
def poisson_mean_cap(budget: int, risk: float) -> float:
    """The largest mean m with P(Poisson(m) > budget) <= risk (0 when the budget is negative)."""
    if budget < 0:
        return 0.0
    lo, hi = 0.0, budget + 10.0 * math.sqrt(budget + 1.0) + 10.0
    for _ in range(50):
        m = (lo + hi) / 2
        term = cdf = math.exp(-m)
        for k in range(1, budget + 1):
            term *= m / k
            cdf += term
        lo, hi = (m, hi) if 1.0 - cdf <= risk else (lo, m)
    return lo
