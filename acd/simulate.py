"""`callcenter simulate`: a discrete-event simulation through the real routing rules and ACD core.

Theory of operation
-------------------
Simulated time only: one heap of (time, seq, kind, ...) entries, popped in order. Callers arrive
as Poisson processes per call type; each call is routed by the real `RuleSet.route` and queued in
the real `AcdEngine`; the engine's commands are played back: `StartTimer`/`CancelTimer` become
heap entries (cancelled ones are skipped by token), an `OfferCall` becomes an answer after the
answer delay or, with the no-answer probability, an `OfferNotAnswered` after the ring timeout,
an answer schedules the hang-up after a sampled handle time, and each caller's sampled patience
schedules an abandonment that only counts if the call is still unanswered. Agents log in at the
start of their shift and leave at its end (after their call and wrap-up, if busy).

Every call must end answered, abandoned, sent to fallback or offered a callback; any other is
counted in `lost_calls`, which a correct core keeps at 0. All randomness comes from one
`random.Random(seed)`, so a scenario and a seed give the same report every run.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from acd.config import AgentProfile
from acd.engine import RINGING, AcdEngine
from acd.erlang import Prediction, erlang_a, erlang_c
from callcenter.events import (
    AgentId,
    AgentLoggedIn,
    AgentLoggedOut,
    AgentNotReady,
    AgentReady,
    AgentSkill,
    AgentState,
    AgentStateChanged,
    CallAbandoned,
    CallAnswered,
    CallEnded,
    CallId,
    CallQueued,
    CancelTimer,
    OfferCall,
    OfferCallback,
    OfferNotAnswered,
    QueueName,
    RoutingDecided,
    SendToFallback,
    StartTimer,
    TimerExpired,
    TimerId,
    to_json,
)
from crm.rfm import DEFAULT_TIER_CONFIG
from routing_rules.loader import Invalid, NodeReader, RuleError, compose, load_rules, rules_from_node
from routing_rules.rules import CallContext, Customer, QueueLoad, RuleSet

_KINDS = ("inbound",)  # the dialer adds "outbound"
_TOP = ("kind", "seed", "duration_s", "drain_s", "start", "rules", "ring", "agents", "call_types")
_DISTS = ("exponential", "fixed", "uniform", "lognormal")


@dataclass(frozen=True, slots=True)
class Distribution:
    kind: str
    mean_s: float
    spread_s: float = 0.0  # uniform: half-width; lognormal: standard deviation

    def sample(self, rng: random.Random) -> float:
        if self.kind == "exponential":
            return rng.expovariate(1.0 / self.mean_s)
        if self.kind == "fixed":
            return self.mean_s
        if self.kind == "uniform":
            return rng.uniform(self.mean_s - self.spread_s, self.mean_s + self.spread_s)
        sigma2 = math.log(1 + (self.spread_s / self.mean_s) ** 2)
        return rng.lognormvariate(math.log(self.mean_s) - sigma2 / 2, math.sqrt(sigma2))


@dataclass(frozen=True, slots=True)
class AgentGroup:
    name: str
    count: int
    skills: tuple[AgentSkill, ...]
    queues: tuple[QueueName, ...]
    shift_start_s: float
    shift_end_s: float | None
    max_calls: int | None


@dataclass(frozen=True, slots=True)
class CallType:
    name: str
    rate_per_s: float
    dnis: str
    ani: str
    ivr: dict[str, str]
    tiers: tuple[tuple[str, float], ...]  # (tier, share); the rest have no CRM record
    language: str
    handle: Distribution
    patience: Distribution | None


@dataclass(frozen=True, slots=True)
class Scenario:
    source: str
    kind: str
    seed: int
    duration_s: float
    drain_s: float
    start_epoch: float
    rules: RuleSet
    answer_delay: Distribution
    no_answer_rate: float
    ready_after_rona_s: float  # an agent made not-ready by ring-no-answer presses "ready" again
    agents: tuple[AgentGroup, ...]
    call_types: tuple[CallType, ...]


class ScenarioError(RuleError):
    """A scenario file is invalid; every problem is `FILE:LINE:COLUMN: problem`."""


def load_scenario(path: str | Path) -> Scenario:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError([f"{p}: {exc.strerror or exc}"]) from None
    root = compose(text, str(p))
    rd = NodeReader(str(p), text)
    try:
        scenario = _scenario(rd, root, p)
    except Invalid:
        scenario = None
    if rd.errors or scenario is None:
        raise ScenarioError(rd.errors)
    return scenario


def _scenario(rd: NodeReader, root: yaml.Node, path: Path) -> Scenario:
    top = rd.mapping(root, "the scenario", _TOP)
    for key in ("kind", "duration_s", "rules", "agents", "call_types"):
        if key not in top:
            raise rd.at(root, f"missing {key!r}")
    kind = rd.choice(top["kind"][1], "kind", _KINDS)
    rules_node = top["rules"][1]
    rules = _rules(rd, rules_node, path)
    start_epoch = rd.instant(top["start"][1], "start", rules.timezone) if "start" in top else 0.0
    ring_keys = ("answer_delay", "no_answer_rate", "ready_after_rona_s")
    ring = rd.mapping(top["ring"][1], "ring", ring_keys) if "ring" in top else {}
    answer_delay = _dist(rd, ring["answer_delay"][1], "ring answer_delay") if "answer_delay" in ring else Distribution("fixed", 0.0)
    no_answer = rd.number(ring["no_answer_rate"][1], "ring no_answer_rate") if "no_answer_rate" in ring else 0.0
    if no_answer >= 1:
        raise rd.at(ring["no_answer_rate"][1], "ring no_answer_rate must be below 1")
    rona_s = rd.number(ring["ready_after_rona_s"][1], "ring ready_after_rona_s") if "ready_after_rona_s" in ring else 30.0
    duration = rd.number(top["duration_s"][1], "duration_s")
    agents = tuple(
        a for node in rd.seq(top["agents"][1], "agents") if (a := rd.guard(_agent_group, rd, node, rules, duration))
    )
    call_types = tuple(c for node in rd.seq(top["call_types"][1], "call_types") if (c := rd.guard(_call_type, rd, node)))
    return Scenario(
        source=str(path),
        kind=kind,
        seed=rd.integer(top["seed"][1], "seed") if "seed" in top else 1,
        duration_s=duration,
        drain_s=rd.number(top["drain_s"][1], "drain_s") if "drain_s" in top else 6 * 3600.0,
        start_epoch=start_epoch,
        rules=rules,
        answer_delay=answer_delay,
        no_answer_rate=no_answer,
        ready_after_rona_s=rona_s,
        agents=agents,
        call_types=call_types,
    )


def _rules(rd: NodeReader, node: yaml.Node, path: Path) -> RuleSet:
    if isinstance(node, yaml.MappingNode):
        try:
            return rules_from_node(node, rd)
        except RuleError:
            raise Invalid("rules") from None  # the reader holds the errors
    name = rd.string(node, "rules")
    candidates = [path.parent / name, Path(name)]
    found = next((c for c in candidates if c.is_file()), None)
    if found is None:
        raise rd.at(node, f"rules: no file {name!r} next to the scenario or in the current directory")
    try:
        return load_rules(found)
    except RuleError as exc:
        rd.errors.extend(exc.errors)
        raise Invalid("rules") from None


def _dist(rd: NodeReader, node: yaml.Node, what: str) -> Distribution:
    f = rd.mapping(node, what, ("dist", "mean_s", "spread_s"))
    if "mean_s" not in f:
        raise rd.at(node, f"{what} needs 'mean_s'")
    kind = rd.choice(f["dist"][1], f"{what} dist", _DISTS) if "dist" in f else "exponential"
    mean = rd.number(f["mean_s"][1], f"{what} mean_s")
    spread = rd.number(f["spread_s"][1], f"{what} spread_s") if "spread_s" in f else 0.0
    if kind in ("exponential", "lognormal") and mean <= 0:
        raise rd.at(f["mean_s"][1], f"{what} mean_s must be above 0 for {kind}")
    if kind == "uniform" and spread > mean:
        raise rd.at(f["spread_s"][1], f"{what} spread_s must not exceed mean_s (times are not negative)")
    return Distribution(kind, mean, spread)


def _agent_group(rd: NodeReader, node: yaml.Node, rules: RuleSet, duration: float) -> AgentGroup:
    f = rd.mapping(node, "agent group", ("group", "count", "skills", "queues", "shift", "max_calls"))
    for key in ("group", "count", "queues"):
        if key not in f:
            raise rd.at(node, f"agent group needs {key!r}")
    name = rd.string(f["group"][1], "agent group name")
    what = f"agent group {name!r}"
    skills = []
    for skill, (_, level_node) in (rd.mapping(f["skills"][1], f"{what} skills") if "skills" in f else {}).items():
        level = rd.integer(level_node, f"{what} skill {skill!r}")
        if not 1 <= level <= 5:
            raise rd.at(level_node, f"{what} skill {skill!r} level must be 1..5, got {level}")
        skills.append(AgentSkill(skill=skill, level=level))
    queues = []
    for q in rd.seq(f["queues"][1], f"{what} queues"):
        queue = rd.string(q, f"{what} queues")
        if queue not in rules.queues:
            raise rd.at(q, f"{what}: unknown queue {queue!r}; the rules declare {', '.join(sorted(rules.queues))}")
        queues.append(QueueName(queue))
    start, end = 0.0, None
    if "shift" in f:
        s = rd.mapping(f["shift"][1], f"{what} shift", ("start_s", "end_s"))
        start = rd.number(s["start_s"][1], f"{what} shift start_s") if "start_s" in s else 0.0
        end = rd.number(s["end_s"][1], f"{what} shift end_s") if "end_s" in s else None
        if end is not None and end <= start:
            raise rd.at(s["end_s"][1], f"{what} shift ends before it starts")
    return AgentGroup(
        name=name,
        count=rd.integer(f["count"][1], f"{what} count"),
        skills=tuple(skills),
        queues=tuple(queues),
        shift_start_s=start,
        shift_end_s=end,
        max_calls=rd.integer(f["max_calls"][1], f"{what} max_calls") if "max_calls" in f else None,
    )


def _call_type(rd: NodeReader, node: yaml.Node) -> CallType:
    keys = ("name", "rate_per_hour", "dnis", "ani", "ivr", "tiers", "language", "handle_time", "patience")
    f = rd.mapping(node, "call type", keys)
    for key in ("name", "rate_per_hour", "dnis", "handle_time"):
        if key not in f:
            raise rd.at(node, f"call type needs {key!r}")
    name = rd.string(f["name"][1], "call type name")
    what = f"call type {name!r}"
    tiers = []
    if "tiers" in f:
        for tier, (_, share_node) in rd.mapping(f["tiers"][1], f"{what} tiers").items():
            tiers.append((tier, rd.number(share_node, f"{what} tier {tier!r} share")))
        if sum(s for _, s in tiers) > 1.0 + 1e-9:
            raise rd.at(f["tiers"][1], f"{what} tier shares add up to more than 1")
    ivr = {k: str(v.value) for k, (_, v) in rd.mapping(f["ivr"][1], f"{what} ivr").items()} if "ivr" in f else {}
    return CallType(
        name=name,
        rate_per_s=rd.number(f["rate_per_hour"][1], f"{what} rate_per_hour") / 3600.0,
        dnis=str(f["dnis"][1].value),
        ani=str(f["ani"][1].value) if "ani" in f else "",
        ivr=ivr,
        tiers=tuple(tiers),
        language=str(f["language"][1].value) if "language" in f else "",
        handle=_dist(rd, f["handle_time"][1], f"{what} handle_time"),
        patience=_dist(rd, f["patience"][1], f"{what} patience") if "patience" in f else None,
    )


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------

_ARRIVAL, _FEED, _TIMER, _ANSWER, _ABANDON, _LOGIN, _SHIFT_END, _READY_AGAIN = range(8)


@dataclass(slots=True)
class _CallInfo:
    type_index: int
    queue: QueueName
    outcome: str = ""


def simulate(scenario: Scenario, *, on_record: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Run the scenario; return the report (see docs/simulate.md). `on_record` receives each
    call's `call.queued` and each `acd.routing-decided` as JSON (for the decision log)."""
    rng = random.Random(scenario.seed)
    rules = scenario.rules
    profiles: list[AgentProfile] = []
    shifts: list[tuple[AgentId, float, float | None]] = []
    for group in scenario.agents:
        for i in range(group.count):
            agent_id = AgentId(f"{group.name}-{i + 1}")
            profiles.append(
                AgentProfile(agent_id=agent_id, skills=group.skills, queues=group.queues, max_calls=group.max_calls)
            )
            shifts.append((agent_id, group.shift_start_s, group.shift_end_s))
    engine = AcdEngine(rules.acd_config(), agents=profiles, rng=random.Random(rng.random()))
    heap: list[tuple[float, int, int, Any, Any]] = []
    seq = 0

    def push(t: float, kind: int, a: Any = None, b: Any = None) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(heap, (t, seq, kind, a, b))

    timers: dict[TimerId, int] = {}
    calls: dict[CallId, _CallInfo] = {}
    busy_states = (AgentState.RESERVED, AgentState.ON_CALL, AgentState.WRAP_UP, AgentState.OUTBOUND)
    agent_time: dict[AgentId, list[float]] = {p.agent_id: [0.0, 0.0, 0.0] for p in profiles}  # logged, busy, since
    end = scenario.duration_s + scenario.drain_s
    events = 0

    def run(event: object, now: float) -> None:
        nonlocal events
        events += 1
        for msg in engine.handle(event, now=now):
            if isinstance(msg, StartTimer):
                push(now + msg.delay_s, _TIMER, msg.timer_id, seq + 1)
                timers[msg.timer_id] = seq
            elif isinstance(msg, CancelTimer):
                timers.pop(msg.timer_id, None)
            elif isinstance(msg, AgentStateChanged):
                acc = agent_time[msg.agent_id]
                span = now - acc[2]
                if msg.old is not AgentState.LOGGED_OUT:
                    acc[0] += span
                    if msg.old in busy_states:
                        acc[1] += span
                acc[2] = now
                if msg.new is AgentState.NOT_READY and msg.reason == "end-of-shift":
                    push(now, _FEED, AgentLoggedOut(agent_id=msg.agent_id, at=now))
                elif msg.new is AgentState.NOT_READY and msg.reason == "rona":
                    push(now + scenario.ready_after_rona_s, _READY_AGAIN, msg.agent_id)
            elif isinstance(msg, OfferCall):
                if scenario.no_answer_rate and rng.random() < scenario.no_answer_rate:
                    no_answer = OfferNotAnswered(call_id=msg.call_id, agent_id=msg.agent_id, at=now + msg.ring_timeout_s)
                    push(now + msg.ring_timeout_s, _FEED, no_answer)
                else:
                    push(now + scenario.answer_delay.sample(rng), _ANSWER, msg.call_id, msg.agent_id)
            elif isinstance(msg, SendToFallback):
                calls[msg.call_id].outcome = "fallback"
            elif isinstance(msg, OfferCallback):
                calls[msg.call_id].outcome = "callback"
            elif isinstance(msg, RoutingDecided) and on_record is not None:
                on_record(to_json(msg))

    def load(queue: str) -> QueueLoad:  # the rules ask during routing, at the current `now`
        stats = engine.queue_stats(QueueName(queue), now)
        return QueueLoad(
            waiting=stats.waiting,
            longest_wait_s=stats.longest_wait_s,
            ready_agents=stats.ready_agents or 0,
            staffed_agents=stats.staffed_agents or 0,
        )

    for agent_id, start, stop in shifts:
        push(start, _LOGIN, agent_id)
        if stop is not None:
            push(stop, _SHIFT_END, agent_id)
    for index, ct in enumerate(scenario.call_types):
        if ct.rate_per_s > 0:
            push(rng.expovariate(ct.rate_per_s), _ARRIVAL, index)

    arrivals = 0
    now = 0.0
    while heap:
        now, _, kind, a, b = heapq.heappop(heap)
        if now > end:
            break
        if kind == _TIMER:
            if timers.get(a) == b:
                del timers[a]
                run(TimerExpired(timer_id=a, at=now), now)
        elif kind == _FEED:
            run(a, now)
        elif kind == _ANSWER:
            call = engine.calls.get(a)
            if call is not None and call.state == RINGING and call.agent_id == b:
                calls[a].outcome = "answered"
                run(CallAnswered(call_id=a, agent_id=b, at=now), now)
                handle = scenario.call_types[calls[a].type_index].handle.sample(rng)
                push(now + handle, _FEED, CallEnded(call_id=a, at=now + handle))
        elif kind == _ABANDON:
            call = engine.calls.get(a)
            if call is not None and call.state != "answered":
                calls[a].outcome = "abandoned"
                run(CallAbandoned(call_id=a, queue=call.queue, waited_s=now - call.enqueued_at, at=now), now)
        elif kind == _ARRIVAL:
            ct = scenario.call_types[a]
            nxt = now + rng.expovariate(ct.rate_per_s)
            if nxt < scenario.duration_s:
                push(nxt, _ARRIVAL, a)
            arrivals += 1
            call_id = CallId(f"c{arrivals}")
            customer = _customer(ct, rng)
            ctx = CallContext(
                dnis=ct.dnis,
                ani=ct.ani,
                ivr=ct.ivr,
                at=scenario.start_epoch + now,
                customer=customer,
                load=load,
            )
            request = rules.route(ctx)
            calls[call_id] = _CallInfo(type_index=a, queue=request.queue)
            if ct.patience is not None:
                push(now + ct.patience.sample(rng), _ABANDON, call_id)
            queued = CallQueued(call_id=call_id, request=request, ani=ct.ani, dnis=ct.dnis, at=now)
            if on_record is not None:
                on_record(to_json(queued))
            run(queued, now)
        elif kind == _LOGIN:
            run(AgentLoggedIn(agent_id=a, interface=f"Local/{a}", at=now), now)
            run(AgentReady(agent_id=a, at=now), now)
        elif kind == _READY_AGAIN:
            agent = engine.agents[a]
            if agent.state is AgentState.NOT_READY and agent.reason == "rona":
                run(AgentReady(agent_id=a, at=now), now)
        elif kind == _SHIFT_END:
            state = engine.agents[a].state
            if state in (AgentState.READY, AgentState.NOT_READY, AgentState.WRAP_UP):
                run(AgentLoggedOut(agent_id=a, at=now), now)
            elif state in (AgentState.ON_CALL, AgentState.OUTBOUND):
                run(AgentNotReady(agent_id=a, reason="end-of-shift", at=now), now)
            elif state is AgentState.RESERVED:
                push(now + 1.0, _SHIFT_END, a)  # let the ringing offer finish first
    for agent_id, acc in agent_time.items():  # close the books of agents still logged in
        if engine.agents[agent_id].state is not AgentState.LOGGED_OUT:
            span = now - acc[2]
            acc[0] += span
            if engine.agents[agent_id].state in busy_states:
                acc[1] += span
    return _report(scenario, engine, calls, agent_time, profiles, events, now)


def _customer(ct: CallType, rng: random.Random) -> Customer | None:
    if not ct.tiers and not ct.language:
        return None
    draw = rng.random()
    for tier, share in ct.tiers:
        if draw < share:
            p = DEFAULT_TIER_CONFIG.priority_for(tier)  # what the CRM's card would say (crm/tiers.yaml)
            return Customer(tier=tier, language=ct.language, priority_class=p.priority_class, priority=p.priority)
        draw -= share
    return Customer(language=ct.language) if ct.language else None


def _r(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def _prediction(p: Prediction | None, *, abandon: bool) -> dict[str, float | None] | None:
    if p is None:
        return None
    out = {"service_level": _r(p.service_level), "asa_s": _r(p.asa_s, 2)}
    if abandon:
        out["abandon_rate"] = _r(p.abandon_rate)
    return out


def _report(
    scenario: Scenario,
    engine: AcdEngine,
    calls: dict[CallId, _CallInfo],
    agent_time: dict[AgentId, list[float]],
    profiles: list[AgentProfile],
    events: int,
    until: float,
) -> dict[str, Any]:
    outcomes: dict[str, int] = {"answered": 0, "abandoned": 0, "fallback": 0, "callback": 0}
    for info in calls.values():
        if info.outcome:
            outcomes[info.outcome] += 1
    lost = sum(1 for info in calls.values() if not info.outcome)
    queues: dict[str, Any] = {}
    for name, qc in scenario.rules.queues.items():
        counters = engine.metrics.queue(name)
        members = [p.agent_id for p in profiles if name in p.queues]
        logged = sum(agent_time[a][0] for a in members)
        busy = sum(agent_time[a][1] for a in members)
        routed = [info for info in calls.values() if info.queue == name]
        entry: dict[str, Any] = {
            "offered": counters.offered,
            "answered": counters.answered,
            "abandoned": counters.abandoned,
            "overflowed": counters.overflowed,
            "fallback": counters.fallback,
            "callback": counters.callback,
            "service_level_t_s": qc.service_level_s,
            "service_level": _r(counters.service_level),
            "asa_s": _r(counters.asa_s, 2),
            "avg_wait_s": _r(counters.avg_wait_s, 2),
            "max_wait_s": _r(counters.max_wait_s, 2),
            "aht_s": _r(counters.aht_s, 2),
            "abandon_rate": _r(counters.abandon_rate),
            "occupancy": _r(busy / logged) if logged else None,
        }
        entry.update(_theory(scenario, name, routed, qc.wrap_up_s, qc.service_level_s))
        queues[name] = entry
    classes = {
        name: {
            "offered": c.offered,
            "answered": c.answered,
            "abandoned": c.abandoned,
            "service_level": _r(c.service_level),
            "asa_s": _r(c.asa_s, 2),
            "avg_wait_s": _r(c.avg_wait_s, 2),
            "max_wait_s": _r(c.max_wait_s, 2),
        }
        for name, c in sorted(engine.metrics.classes.items())
    }
    return {
        "kind": scenario.kind,
        "scenario": scenario.source,
        "seed": scenario.seed,
        "duration_s": scenario.duration_s,
        "simulated_until_s": round(until, 1),
        "agents": len(profiles),
        "calls": len(calls),
        "events": events,
        "outcomes": outcomes,
        "lost_calls": lost,
        "queues": queues,
        "classes": classes,
    }


def _theory(scenario: Scenario, queue: str, routed: list[_CallInfo], wrap_up_s: float, sl_t_s: float) -> dict[str, Any]:
    """Erlang C and A for the calls the rules sent to `queue`, as if its agents served it alone."""
    if not routed or scenario.duration_s <= 0:
        return {"erlang_c": None, "erlang_a": None, "load": None}
    types = scenario.call_types
    rate = len(routed) / scenario.duration_s
    service = sum(types[i.type_index].handle.mean_s for i in routed) / len(routed)
    service += wrap_up_s + scenario.answer_delay.mean_s
    patiences = [types[i.type_index].patience for i in routed]
    patience = None if any(p is None for p in patiences) else sum(p.mean_s for p in patiences if p) / len(patiences)
    staffed = 0.0
    for group in scenario.agents:
        if queue in group.queues:
            stop = min(group.shift_end_s if group.shift_end_s is not None else scenario.duration_s, scenario.duration_s)
            staffed += group.count * max(0.0, stop - group.shift_start_s) / scenario.duration_s
    agents = math.floor(staffed + 1e-9)
    c = erlang_c(arrival_rate=rate, service_time_s=service, agents=agents, sl_t_s=sl_t_s)
    a = erlang_a(arrival_rate=rate, service_time_s=service, agents=agents, patience_s=patience, sl_t_s=sl_t_s)
    return {
        "erlang_c": _prediction(c, abandon=False),
        "erlang_a": _prediction(a, abandon=True),
        "load": {
            "arrival_rate_per_h": round(rate * 3600, 2),
            "service_time_s": round(service, 2),
            "agents": agents,
            "patience_s": _r(patience, 2),
            "erlangs": round(rate * service, 3),
        },
    }
