"""Outbound campaign simulation: the real pacer, compliance and contact queue on simulated time.

Theory of operation
-------------------
* A discrete-event simulation (one heap of timed events, one seeded `random.Random`) of a shift:
  agents, a trunk whose lines resolve as live answer, machine, busy, failure or no answer after
  drawn times, AMD taking `amd_s` to tell a live answer, talk and wrap-up times, optional inbound
  traffic that blended agents take first, and preview time in preview mode.
* Every `tick_s` the pacer's `tick` says how many lines to dial (and for whom); the contact queue
  picks contacts and asks compliance before each dial; every decision is counted.
* A live answer goes to its reserved agent, else to any free agent, else waits; an agent who
  becomes free serves waiting inbound calls first, then waiting live answers. A live answer not
  connected within the 2-second rule (`grace_s`, minus the bridge time `connect_s`) is an abandon:
  it hears the identification message, counts in the abandon ledger and locks the contact out.
* Abandon rates are reported per window as the worst value the window took while it was being
  judged: a calendar day at its end (or the run's end), a rolling window at every live answer
  once the run has covered its span, and at the run's end (so a 30-day window in a 4-hour run
  is judged on the whole run). `abandon_rate_max_window` is the worst of them.
* While every contact the queue looked at is refused until a later time (the calling window is
  closed), ticks skip dialing until then, so a night costs nothing.
* `run(scenario, seed)` is pure apart from its own generator: same scenario and seed, same result.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfoNotFoundError

from callcenter.errors import ConfigError
from callcenter.events import AgentId, CampaignId, ContactId
from dialer.abandon import DEFAULT_WINDOWS, AbandonWindow, parse_windows
from dialer.compliance import Attempt, CampaignRules, History, Outcome, check, parse_rules
from dialer.contact_queue import ContactQueue
from dialer.contacts import Contact
from dialer.forecast import Forecast
from dialer.pacing import AgentStatus, Dial, Mode, PacerConfig, PacerState, tick
from dialer.windows import zone

# --------------------------------------------------------------------------------------------
# Scenario
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Dist:
    """A duration distribution: lognormal, gamma, exponential, uniform or fixed, by mean and sd."""

    kind: str
    mean: float
    sd: float = 0.0

    def sample(self, rng: random.Random) -> float:
        if self.kind == "fixed" or self.sd == 0.0:
            return self.mean
        if self.kind == "exponential":
            return rng.expovariate(1.0 / self.mean)
        if self.kind == "uniform":
            half = self.sd * math.sqrt(3.0)
            return max(0.0, rng.uniform(self.mean - half, self.mean + half))
        if self.kind == "gamma":
            shape = (self.mean / self.sd) ** 2
            return rng.gammavariate(shape, self.mean / shape)
        sigma2 = math.log(1.0 + (self.sd / self.mean) ** 2)
        return rng.lognormvariate(math.log(self.mean) - sigma2 / 2.0, math.sqrt(sigma2))


DIST_KINDS = ("lognormal", "gamma", "exponential", "uniform", "fixed")


@dataclass(frozen=True, slots=True)
class Scenario:
    agents: int = 50
    duration_s: float = 4 * 3600.0
    start: float = datetime.fromisoformat("2026-03-02T09:00:00-05:00").timestamp()  # a Monday, New York
    time_zone: str = "America/New_York"  # the contacts'
    list_size: int = 1_000_000
    tick_s: float = 1.0
    pacer: PacerConfig = field(default_factory=lambda: PacerConfig(mode=Mode.PREDICTIVE))
    windows: tuple[AbandonWindow, ...] = DEFAULT_WINDOWS
    rules: CampaignRules = field(default_factory=lambda: CampaignRules(campaign_id=CampaignId("sim")))
    live_rate: float = 0.20
    machine_rate: float = 0.15
    busy_rate: float = 0.10
    failed_rate: float = 0.03
    answer_s: Dist = Dist("lognormal", 9.0, 5.0)
    busy_s: Dist = Dist("uniform", 4.0, 1.0)
    ring_timeout_s: float = 25.0
    amd_s: float = 1.5
    connect_s: float = 0.3
    talk_s: Dist = Dist("lognormal", 180.0, 120.0)
    wrap_s: Dist = Dist("lognormal", 25.0, 10.0)
    preview_s: Dist = Dist("lognormal", 10.0, 5.0)
    inbound_per_hour: float = 0.0
    inbound_talk_s: Dist = Dist("lognormal", 240.0, 150.0)


def parse_scenario(data: Mapping[str, Any]) -> Scenario:
    """A `Scenario` from YAML data (`kind: outbound`); errors name the key and the value."""
    if data.get("kind") != "outbound":
        raise ConfigError(f"scenario.kind: {data.get('kind')!r}; expected 'outbound'")
    known = {
        "kind", "name", "seed", "agents", "duration_s", "start", "time_zone", "list_size", "tick_s", "pacing",
        "abandon_windows", "compliance", "lines", "talk_s", "wrap_s", "preview_s", "connect_s", "inbound",
    }  # fmt: skip
    _no_unknown(data, known, "scenario")
    kw: dict[str, Any] = {}
    for key, kind in (("agents", int), ("list_size", int), ("duration_s", float), ("tick_s", float)):
        if key in data:
            kw[key] = _positive(data[key], f"scenario.{key}", kind)
    if "connect_s" in data:
        kw["connect_s"] = _fraction_or_seconds(data["connect_s"], "scenario.connect_s", 0.0, 2.0)
    if "time_zone" in data:
        try:
            zone(str(data["time_zone"]))
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"scenario.time_zone: {data['time_zone']!r} is not a known time zone") from None
        kw["time_zone"] = str(data["time_zone"])
    if "start" in data:
        try:
            start = datetime.fromisoformat(str(data["start"]))
        except ValueError:
            raise ConfigError(f"scenario.start: {data['start']!r} is not an ISO date-time") from None
        if start.tzinfo is None:
            raise ConfigError(f"scenario.start: {data['start']!r} needs a UTC offset")
        kw["start"] = start.timestamp()
    for key in ("talk_s", "wrap_s", "preview_s"):
        if key in data:
            kw[key] = parse_dist(data[key], f"scenario.{key}")
    pacing = _section(data, "pacing")
    _no_unknown(
        pacing, {"mode", "abandon_limit", "target_share", "overshoot_risk", "ratio_max", "min_pool"}, "scenario.pacing"
    )
    try:
        mode = Mode(pacing.get("mode", "predictive"))
    except ValueError:
        raise ConfigError(
            f"scenario.pacing.mode: {pacing.get('mode')!r}; expected one of {', '.join(m.value for m in Mode)}"
        ) from None
    limit = _fraction_or_seconds(pacing.get("abandon_limit", 0.03), "scenario.pacing.abandon_limit", 0.0, 0.5)
    pacer_kw: dict[str, Any] = {
        k: _fraction_or_seconds(pacing[k], f"scenario.pacing.{k}", 0.0, 1.0)
        for k in ("target_share", "overshoot_risk")
        if k in pacing
    }
    if "ratio_max" in pacing:
        pacer_kw["ratio_max"] = _positive(pacing["ratio_max"], "scenario.pacing.ratio_max", float)
    if "min_pool" in pacing:
        pacer_kw["min_pool"] = _positive(pacing["min_pool"], "scenario.pacing.min_pool", int)
    kw["pacer"] = PacerConfig(mode=mode, abandon_limit=limit, **pacer_kw)
    if "abandon_windows" in data:
        raw = data["abandon_windows"]
        if not isinstance(raw, list):
            raise ConfigError("scenario.abandon_windows: expected a list")
        kw["windows"] = parse_windows(raw, "scenario.abandon_windows")
    kw["rules"] = parse_rules(
        _section(data, "compliance"), campaign_id=CampaignId("sim"), abandon_limit=limit, where="scenario.compliance"
    )
    lines = _section(data, "lines")
    _no_unknown(
        lines,
        {"live_rate", "machine_rate", "busy_rate", "failed_rate", "answer_s", "busy_s", "ring_timeout_s", "amd_s"},
        "scenario.lines",
    )
    for key in ("live_rate", "machine_rate", "busy_rate", "failed_rate"):
        if key in lines:
            kw[key] = _fraction_or_seconds(lines[key], f"scenario.lines.{key}", 0.0, 1.0)
    for key in ("answer_s", "busy_s"):
        if key in lines:
            kw[key] = parse_dist(lines[key], f"scenario.lines.{key}")
    for key in ("ring_timeout_s", "amd_s"):
        if key in lines:
            kw[key] = _fraction_or_seconds(lines[key], f"scenario.lines.{key}", 0.0, 600.0)
    inbound = _section(data, "inbound")
    _no_unknown(inbound, {"calls_per_hour", "talk_s"}, "scenario.inbound")
    if "calls_per_hour" in inbound:
        kw["inbound_per_hour"] = _fraction_or_seconds(inbound["calls_per_hour"], "scenario.inbound.calls_per_hour", 0.0, 1e6)
    if "talk_s" in inbound:
        kw["inbound_talk_s"] = parse_dist(inbound["talk_s"], "scenario.inbound.talk_s")
    scenario = Scenario(**kw)
    shares = scenario.live_rate + scenario.machine_rate + scenario.busy_rate + scenario.failed_rate
    if shares > 1.0:
        raise ConfigError(f"scenario.lines: live, machine, busy and failed rates add up to {shares:.3f}; at most 1")
    return scenario


def parse_dist(spec: Any, where: str) -> Dist:
    if isinstance(spec, int | float) and not isinstance(spec, bool):
        return Dist("fixed", _positive(spec, where, float))
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where}: expected a number or {{dist: lognormal, mean: ..., sd: ...}}")
    _no_unknown(spec, {"dist", "mean", "sd"}, where)
    kind = spec.get("dist", "lognormal")
    if kind not in DIST_KINDS:
        raise ConfigError(f"{where}.dist: {kind!r}; expected one of {', '.join(DIST_KINDS)}")
    mean = _positive(spec.get("mean"), f"{where}.mean", float)
    sd = _fraction_or_seconds(spec.get("sd", 0.0), f"{where}.sd", 0.0, 1e6)
    return Dist(kind, mean, sd)


def _section(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise ConfigError(f"scenario.{key}: expected a mapping")
    return value


def _no_unknown(data: Mapping[str, Any], known: set[str], where: str) -> None:
    for key in data:
        if key not in known:
            raise ConfigError(f"{where}: unknown key {key!r}; expected one of {', '.join(sorted(known))}")


def _positive(value: Any, where: str, kind: type) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0 or (kind is int and value != int(value)):
        expected = "a positive integer" if kind is int else "a positive number"
        raise ConfigError(f"{where}: {value!r}; expected {expected}")
    return kind(value)


def _fraction_or_seconds(value: Any, where: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ConfigError(f"{where}: {value!r}; expected a number from {low:g} to {high:g}")
    return float(value)


# --------------------------------------------------------------------------------------------
# Simulation
# --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Agent:
    agent_id: AgentId
    status: AgentStatus = AgentStatus.FREE
    since: float = 0.0
    line: str | None = None  # the reserved line
    preview: Contact | None = None


@dataclass(slots=True)
class _Waiting:
    contact: Contact
    answered_at: float
    done: bool = False


class _Run:
    def __init__(self, sc: Scenario, seed: int) -> None:
        self.sc = sc
        self.rng = random.Random(seed)
        self.now = sc.start
        self.end = sc.start + sc.duration_s
        self.events: list[tuple[float, int, Callable[..., None], tuple[Any, ...]]] = []
        self.seq = 0
        fc = Forecast(prior_live_rate=0.25, prior_answer_s=10.0, prior_ring_timeout_s=sc.ring_timeout_s)
        self.pacer = PacerState.create(sc.pacer, sc.windows, forecast=fc)
        self.agents = [_Agent(AgentId(f"a{i:03d}"), since=sc.start) for i in range(sc.agents)]
        self.by_id = {a.agent_id: a for a in self.agents}
        for a in self.agents:
            self.pacer.agent_status(a.agent_id, AgentStatus.FREE, sc.start)
        self.queue = ContactQueue(self._contacts(), sc.rules)
        self.attempts: dict[ContactId, list[Attempt]] = {}
        self.line_contact: dict[str, Contact] = {}
        self.line_agent: dict[str, _Agent] = {}
        self.waiting_out: deque[_Waiting] = deque()
        self.waiting_in: deque[float] = deque()
        self.time_in: dict[AgentStatus, float] = dict.fromkeys(AgentStatus, 0.0)
        self.dials = 0
        self.live = 0
        self.abandons = 0
        self.connect_waits: list[float] = []
        self.inbound_waits: list[float] = []
        self.outcomes: Counter[str] = Counter()
        self.no_dial: Counter[str] = Counter()
        self.worst: dict[str, float] = {w.name: 0.0 for w in sc.windows}
        self.worst_answers: dict[str, int] = {w.name: 0 for w in sc.windows}
        self.rates_cache: tuple[float, tuple[Any, ...]] = (-1.0, ())
        self.blocked_until = sc.start
        self.day_so_far: dict[str, tuple[Any, float, int]] = {}  # calendar-day window -> (day, rate, answers)

    def _contacts(self) -> Iterator[Contact]:
        zones = (self.sc.time_zone,)
        for i in range(self.sc.list_size):
            yield Contact(ContactId(f"c{i}"), f"+1212{2000000 + i:07d}", "US", zones)

    # ---- event plumbing ----------------------------------------------------------------

    def at(self, t: float, fn: Callable[..., None], *args: Any) -> None:
        self.seq += 1
        heapq.heappush(self.events, (t, self.seq, fn, args))

    def go(self) -> dict[str, Any]:
        self.at(self.sc.start, self.tick)
        if self.sc.inbound_per_hour > 0:
            self.at(self.sc.start + self.rng.expovariate(self.sc.inbound_per_hour / 3600.0), self.inbound_arrives)
        while self.events and self.events[0][0] <= self.end:
            t, _, fn, args = heapq.heappop(self.events)
            self.now = t
            fn(*args)
        self.now = self.end
        for a in self.agents:
            self.set_status(a, a.status)
        return self.report()

    def set_status(self, agent: _Agent, status: AgentStatus) -> None:
        self.time_in[agent.status] += self.now - agent.since
        agent.status, agent.since = status, self.now
        self.pacer.agent_status(agent.agent_id, status, self.now)

    # ---- pacing and dialing --------------------------------------------------------------

    def tick(self) -> None:
        self.at(self.now + self.sc.tick_s, self.tick)
        if self.now < self.blocked_until:
            return  # every contact looked at was refused until then (a closed calling window)
        if self.sc.pacer.mode is Mode.PREVIEW:
            self.offer_previews()
        for dial in tick(self.pacer, self.now):
            if not self.place(dial):
                break

    def history(self, contact: Contact) -> History:
        if self.rates_cache[0] != self.now:
            self.rates_cache = (self.now, self.pacer.ledger.rates(self.now))
        return History(tuple(self.attempts.get(contact.contact_id, ())), self.rates_cache[1])

    def choose(self, reserved: bool) -> Contact | None:
        chosen, decisions = self.queue.take(1, self.now, self.history, agent_reserved=reserved)
        for d in decisions:
            self.no_dial.update(d.decision.reasons)
        waits = [d.decision.next_allowed_at for d in decisions]
        if not chosen and decisions and all(w is not None and w > self.now for w in waits):
            self.blocked_until = min(w for w in waits if w is not None)
        return chosen[0] if chosen else None

    def offer_previews(self) -> None:
        for agent in self.agents:
            if agent.status is AgentStatus.FREE:
                contact = self.choose(reserved=True)
                if contact is None:
                    return
                agent.preview = contact
                self.set_status(agent, AgentStatus.PREVIEWING)
                self.at(self.now + self.sc.preview_s.sample(self.rng), self.preview_accepted, agent)

    def preview_accepted(self, agent: _Agent) -> None:
        assert agent.preview is not None
        self.pacer.preview_accepted(agent.agent_id, agent.preview.contact_id)

    def place(self, dial: Dial) -> bool:
        agent = self.by_id[dial.agent_id] if dial.agent_id else None
        if agent is not None and agent.preview is not None:
            contact: Contact | None = agent.preview
            agent.preview = None
            # Time passed while the agent read the preview: ask again before dialing.
            assert contact is not None
            decision = check(contact, self.sc.rules, self.history(contact), self.now, agent_reserved=True)
            if not decision.allowed:
                self.no_dial.update(decision.reasons)
                if decision.next_allowed_at is not None:
                    self.queue.push(contact, decision.next_allowed_at)
                self.set_status(agent, AgentStatus.FREE)
                return True
        else:
            contact = self.choose(reserved=agent is not None)
        if contact is None:
            return False
        self.dials += 1
        line = f"l{self.dials}"
        self.line_contact[line] = contact
        self.pacer.dial_placed(line, dial, self.now)
        if agent is not None:
            agent.line = line
            self.line_agent[line] = agent
            self.set_status(agent, AgentStatus.RESERVED)
        sc, u = self.sc, self.rng.random()
        if u < sc.live_rate + sc.machine_rate:
            answer = sc.answer_s.sample(self.rng)
            if answer < sc.ring_timeout_s:
                self.at(self.now + answer + sc.amd_s, self.resolved, line, "human" if u < sc.live_rate else "machine")
                return True
            self.at(self.now + sc.ring_timeout_s, self.resolved, line, Outcome.NO_ANSWER.value)
        elif u < sc.live_rate + sc.machine_rate + sc.busy_rate:
            self.at(self.now + sc.busy_s.sample(self.rng), self.resolved, line, Outcome.BUSY.value)
        elif u < sc.live_rate + sc.machine_rate + sc.busy_rate + sc.failed_rate:
            self.at(self.now + 1.0, self.resolved, line, Outcome.FAILED.value)
        else:
            self.at(self.now + sc.ring_timeout_s, self.resolved, line, Outcome.NO_ANSWER.value)
        return True

    def attempt(self, contact: Contact, outcome: Outcome) -> None:
        self.outcomes[outcome.value] += 1
        self.attempts.setdefault(contact.contact_id, []).append(Attempt(self.sc.rules.campaign_id, self.now, outcome))
        # Back in the queue for when compliance would next allow it (retry delay, lock-out, window).
        due = check(contact, self.sc.rules, self.history(contact), self.now, agent_reserved=True).next_allowed_at
        if due is not None:
            self.queue.push(contact, due)

    def resolved(self, line: str, outcome: str) -> None:
        live = outcome == "human"
        self.pacer.line_resolved(line, self.now, live=live)
        contact = self.line_contact.pop(line)
        agent = self.line_agent.pop(line, None)
        if agent is not None:
            agent.line = None
        if not live:
            self.attempt(contact, Outcome(outcome))
            if agent is not None:
                self.agent_free(agent)
            return
        self.live += 1
        if agent is None:
            agent = next((a for a in self.agents if a.status is AgentStatus.FREE), None)
        if agent is not None:
            self.connect(agent, contact, self.now)
            return
        waiting = _Waiting(contact, self.now)
        self.waiting_out.append(waiting)
        self.at(self.now + self.sc.pacer.grace_s - self.sc.connect_s, self.grace_over, waiting)

    def connect(self, agent: _Agent, contact: Contact, answered_at: float) -> None:
        self.connect_waits.append(self.now - answered_at + self.sc.connect_s)
        self.record_live(abandoned=False)
        self.attempt(contact, Outcome.HUMAN)
        self.set_status(agent, AgentStatus.TALKING)
        self.at(self.now + self.sc.connect_s + self.sc.talk_s.sample(self.rng), self.talk_over, agent)

    def grace_over(self, waiting: _Waiting) -> None:
        if waiting.done:
            return
        waiting.done = True
        self.abandons += 1
        self.record_live(abandoned=True)
        self.attempt(waiting.contact, Outcome.ABANDONED)

    def record_live(self, *, abandoned: bool) -> None:
        self.pacer.live_answer(self.now, abandoned=abandoned)
        self.judge(final=False)

    def judge(self, *, final: bool) -> None:
        elapsed = self.now - self.sc.start
        for w, r in zip(self.sc.windows, self.pacer.ledger.rates(self.now), strict=True):
            if w.kind == "calendar-day":
                # A day is judged when it is over: when a later day's first answer comes, or at the end.
                day = datetime.fromtimestamp(self.now, zone(w.time_zone)).date()
                previous = self.day_so_far.get(w.name)
                if previous is not None and (previous[0] != day or final):
                    self.worsen(w.name, previous[1], previous[2])
                if not final:
                    self.day_so_far[w.name] = (day, r.rate, r.answers)
            elif final or elapsed >= w.span_s:
                self.worsen(w.name, r.rate, r.answers)

    def worsen(self, name: str, rate: float, answers: int) -> None:
        if rate >= self.worst[name]:
            self.worst[name], self.worst_answers[name] = rate, answers

    # ---- agents and inbound ------------------------------------------------------------

    def talk_over(self, agent: _Agent) -> None:
        self.set_status(agent, AgentStatus.WRAP_UP)
        self.at(self.now + self.sc.wrap_s.sample(self.rng), self.wrap_over, agent)

    def wrap_over(self, agent: _Agent) -> None:
        self.agent_free(agent)

    def agent_free(self, agent: _Agent) -> None:
        if self.waiting_in:
            self.take_inbound(agent, self.waiting_in.popleft())
            return
        while self.waiting_out:
            waiting = self.waiting_out.popleft()
            if not waiting.done:
                waiting.done = True
                self.connect(agent, waiting.contact, waiting.answered_at)
                return
        self.set_status(agent, AgentStatus.FREE)

    def inbound_arrives(self) -> None:
        self.pacer.inbound_arrived(self.now)
        agent = next((a for a in self.agents if a.status is AgentStatus.FREE), None)
        if agent is None:
            self.waiting_in.append(self.now)
        else:
            self.take_inbound(agent, self.now)
        self.at(self.now + self.rng.expovariate(self.sc.inbound_per_hour / 3600.0), self.inbound_arrives)

    def take_inbound(self, agent: _Agent, arrived: float) -> None:
        self.inbound_waits.append(self.now - arrived)
        self.set_status(agent, AgentStatus.TALKING)
        self.at(self.now + self.sc.inbound_talk_s.sample(self.rng), self.talk_over, agent)

    # ---- results -----------------------------------------------------------------------

    def report(self) -> dict[str, Any]:
        self.judge(final=True)
        sc = self.sc
        agent_hours = sc.agents * sc.duration_s / 3600.0
        # Talk that runs past the end of the shift is cut at the end.
        busy = self.time_in[AgentStatus.TALKING] + self.time_in[AgentStatus.WRAP_UP]
        talk_min = self.time_in[AgentStatus.TALKING] / 60.0
        waits = sorted(self.connect_waits)
        rates = {
            w.name: {"rate": round(self.worst[w.name], 5), "answers_when_worst": self.worst_answers[w.name]}
            for w in sc.windows
        }
        return {
            "kind": "outbound",
            "mode": sc.pacer.mode.value,
            "agents": sc.agents,
            "answer_rate": sc.live_rate,
            "duration_s": sc.duration_s,
            "occupancy": round(busy / (sc.agents * sc.duration_s), 4),
            "talk_min_per_hour": round(talk_min / agent_hours, 2),
            "dials_per_agent_hour": round(self.dials / agent_hours, 2),
            "dials": self.dials,
            "live_answers": self.live,
            "abandons": self.abandons,
            "abandon_rate": round(self.abandons / self.live, 5) if self.live else 0.0,
            "abandon_rate_by_window": rates,
            "abandon_rate_max_window": max((r["rate"] for r in rates.values()), default=0.0),
            "connect_p99_s": round(waits[min(len(waits) - 1, int(0.99 * len(waits)))], 3) if waits else None,
            "connect_max_s": round(waits[-1], 3) if waits else None,
            "inbound_calls": len(self.inbound_waits),
            "inbound_wait_mean_s": round(sum(self.inbound_waits) / len(self.inbound_waits), 2)
            if self.inbound_waits
            else None,
            "outcomes": dict(sorted(self.outcomes.items())),
            "no_dial_reasons": dict(sorted(self.no_dial.items())),
        }


def run(scenario: Mapping[str, Any] | Scenario, seed: int) -> dict[str, Any]:
    """Simulate one outbound scenario (YAML data with `kind: outbound`, or a `Scenario`)."""
    sc = scenario if isinstance(scenario, Scenario) else parse_scenario(scenario)
    return _Run(sc, seed).go()
