"""Invariants of the ACD core over random event sequences (Hypothesis)."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from acd.config import MaxWaitAction, Strategy
from acd.engine import ANSWERED, RINGING, WAITING, AcdEngine, canonical
from callcenter import events as ev
from callcenter.errors import IllegalTransition
from tests.acd.helpers import agent, config

QUEUES = ("billing", "tech")
SKILLS = ("billing", "tech", "english")
CLASSES = ("standard", "gold", "vip")

skill_maps = st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 5), min_size=1, max_size=3)
agent_profiles = st.lists(
    st.tuples(skill_maps, st.sets(st.sampled_from(QUEUES), min_size=1)), min_size=1, max_size=6
)
requirements = st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 5), max_size=2)


@st.composite
def routing_requests(draw: st.DrawFn) -> ev.RoutingRequest:
    queue = draw(st.sampled_from(QUEUES))
    reqs = draw(requirements)
    steps = []
    after = 0.0
    for relaxed in draw(st.lists(requirements, max_size=2)):
        after += draw(st.integers(1, 60))
        steps.append(ev.RelaxationStep(after_s=after, skills=tuple(ev.SkillRequirement(skill=s, min_level=lvl) for s, lvl in relaxed.items())))
    overflow = draw(st.none() | st.sampled_from(QUEUES))
    return ev.RoutingRequest(
        queue=ev.QueueName(queue),
        skills=tuple(ev.SkillRequirement(skill=s, min_level=lvl) for s, lvl in reqs.items()),
        priority_class=draw(st.sampled_from(CLASSES)),
        priority=draw(st.integers(0, 20)),
        relaxation=tuple(steps),
        overflow_queue=ev.QueueName(overflow) if overflow else None,
        overflow_after_s=float(draw(st.integers(1, 200))) if overflow else None,
        max_wait_s=draw(st.none() | st.integers(30, 400).map(float)),
    )


operations = st.one_of(
    st.tuples(st.just("advance"), st.integers(1, 40)),
    st.tuples(st.sampled_from(["login", "ready", "pause", "logout", "wrap-end"]), st.integers(0, 5)),
    st.tuples(st.just("call"), routing_requests()),
    st.tuples(st.sampled_from(["answer", "no-answer", "abandon", "end"]), st.integers(0, 50)),
    st.tuples(st.just("priority"), st.integers(0, 50), st.sampled_from(CLASSES)),
    st.tuples(st.just("reskill"), st.integers(0, 5), skill_maps, st.sets(st.sampled_from(QUEUES))),
    st.tuples(st.just("outbound"), st.integers(0, 5)),
)


class World:
    def __init__(self, engine: AcdEngine, agent_ids: list[ev.AgentId]) -> None:
        self.engine = engine
        self.agent_ids = agent_ids
        self.now = 0.0
        self.timers: dict[ev.TimerId, float] = {}
        self.queued: set[ev.CallId] = set()
        self.ended: set[ev.CallId] = set()
        self.n = 0

    def feed(self, event: object) -> None:
        before = {a: (r.state, r.call_id) for a, r in self.engine.agents.items()}
        try:
            out = self.engine.handle(event, now=self.now)
        except IllegalTransition:
            # Checked before anything changed: the agents are exactly as they were.
            assert {a: (r.state, r.call_id) for a, r in self.engine.agents.items()} == before
            return
        for msg in out:
            if isinstance(msg, ev.StartTimer):
                self.timers[msg.timer_id] = self.now + msg.delay_s
            elif isinstance(msg, ev.CancelTimer):
                self.timers.pop(msg.timer_id, None)
            elif isinstance(msg, ev.SendToFallback | ev.OfferCallback):
                self.ended.add(msg.call_id)
        self.check(out)

    def advance(self, dt: float) -> None:
        target = self.now + dt
        while due := sorted((t, tid) for tid, t in self.timers.items() if t <= target):
            t, tid = due[0]
            del self.timers[tid]
            self.now = t
            self.feed(ev.TimerExpired(timer_id=tid, at=t))
        self.now = target

    def calls_in(self, *states: str) -> list[ev.CallId]:
        return sorted(c.id for c in self.engine.calls.values() if c.state in states)

    def check(self, out: list[object]) -> None:
        e = self.engine
        # No agent holds two calls, and each held call points back at its agent.
        holders = [c.agent_id for c in e.calls.values() if c.state in (RINGING, ANSWERED)]
        assert len(holders) == len(set(holders))
        for c in e.calls.values():
            if c.state in (RINGING, ANSWERED):
                assert c.agent_id is not None and e.agents[c.agent_id].call_id == c.id
        for d in (m for m in out if isinstance(m, ev.RoutingDecided)):
            call = e.calls[d.call_id]
            a = e.agents[d.agent_id]
            # Offered only to an agent with the skills at the levels in force, and only those
            # of the request, of its relaxation step, or of the queue it overflowed to.
            assert d.queue in a.queues and a.meets(d.requirements)
            req = call.request
            if d.relaxation_step == 0:
                allowed = canonical(req.skills or e.config.queues[req.queue].skills)
            elif d.relaxation_step > 0:
                allowed = canonical(req.relaxation[d.relaxation_step - 1].skills)
                assert self.now - call.enqueued_at >= req.relaxation[d.relaxation_step - 1].after_s
            else:
                allowed = canonical(e.config.queues[d.queue].skills)
            assert d.requirements == allowed
            # No waiting call the agent could take deserved it more; so a call of a lower class
            # was passed over only by calls that arrived within the head-start gap (the cap).
            head = e.config.head_start(call.priority_class, call.priority)
            for other in e.calls.values():
                if other.state == WAITING and other.queue in a.queues and a.meets(other.reqs):
                    assert (call.key, call.seq) < (other.key, other.seq)
                    other_head = e.config.head_start(other.priority_class, other.priority)
                    assert call.enqueued_at - other.enqueued_at <= head - other_head + 1e-9
        # An announced position counts the waiting calls with the same queue and requirements
        # that rank ahead (the index answers by bisection; this is the scan it must agree with).
        for m in (m for m in out if isinstance(m, ev.Announce)):
            me = e.calls[m.call_id]
            ahead = [
                c for c in e.calls.values()
                if c.state == WAITING and c.queue == me.queue and c.reqs == me.reqs and (c.key, c.seq) < (me.key, me.seq)
            ]
            assert m.position == len(ahead)
        # A ready agent never sits next to a waiting call it could take.
        waiting = [c for c in e.calls.values() if c.state == WAITING]
        for a in e.agents.values():
            if a.state is ev.AgentState.READY:
                assert not any(c.queue in a.queues and a.meets(c.reqs) for c in waiting)
        # No lost call: each is still in the ACD or has ended one way or another, never both.
        for call_id in self.queued:
            assert (call_id in e.calls) != (call_id in self.ended)
        # Per queue, offered = ended there + still there.
        for q in QUEUES:
            m = e.metrics.queue(q)
            present = sum(1 for c in e.calls.values() if c.queue == q and c.state != ANSWERED)
            assert m.offered == m.ended + present


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    profiles=agent_profiles,
    strategy=st.sampled_from(list(Strategy)),
    on_max_wait=st.sampled_from(list(MaxWaitAction)),
    ops=st.lists(operations, min_size=20, max_size=80),
    seed=st.integers(0, 1000),
)
def test_invariants_hold_over_random_event_sequences(
    profiles: list[tuple[dict[str, int], set[str]]],
    strategy: Strategy,
    on_max_wait: MaxWaitAction,
    ops: list[tuple[object, ...]],
    seed: int,
) -> None:
    cfg = config(*((q, strategy) for q in QUEUES), wrap_up_s=5, on_max_wait=on_max_wait)
    agents = [agent(f"a{i}", skills, tuple(sorted(queues))) for i, (skills, queues) in enumerate(profiles)]
    w = World(AcdEngine(cfg, agents=agents, rng=random.Random(seed)), [p.agent_id for p in agents])
    for agent_id in w.agent_ids:  # start staffed, so that offers happen from the first call
        w.feed(ev.AgentLoggedIn(agent_id=agent_id, interface="PJSIP/x", at=0.0))
        w.feed(ev.AgentReady(agent_id=agent_id, at=0.0))
    for op in ops:
        kind = op[0]
        if kind == "advance":
            w.advance(float(op[1]))  # type: ignore[arg-type]
        elif kind in ("login", "ready", "pause", "logout", "wrap-end"):
            agent_id = w.agent_ids[int(op[1]) % len(w.agent_ids)]  # type: ignore[call-overload]
            event = {
                "login": ev.AgentLoggedIn(agent_id=agent_id, interface="PJSIP/x", at=w.now),
                "ready": ev.AgentReady(agent_id=agent_id, at=w.now),
                "pause": ev.AgentNotReady(agent_id=agent_id, reason="break", at=w.now),
                "logout": ev.AgentLoggedOut(agent_id=agent_id, at=w.now),
                "wrap-end": ev.WrapUpEnded(agent_id=agent_id, at=w.now),
            }[str(kind)]
            w.feed(event)
        elif kind == "call":
            w.n += 1
            call_id = ev.CallId(f"c{w.n}")
            w.queued.add(call_id)
            w.feed(ev.CallQueued(call_id=call_id, request=op[1], at=w.now))  # type: ignore[arg-type]
        elif kind == "reskill":
            agent_id = w.agent_ids[int(op[1]) % len(w.agent_ids)]  # type: ignore[call-overload]
            skills = tuple(ev.AgentSkill(skill=k, level=v) for k, v in op[2].items())  # type: ignore[union-attr]
            queues = tuple(ev.QueueName(q) for q in sorted(op[3]))  # type: ignore[call-overload]
            w.feed(ev.AgentProfileUpdated(agent_id=agent_id, skills=skills, queues=queues, at=w.now))
        elif kind == "outbound":
            agent_id = w.agent_ids[int(op[1]) % len(w.agent_ids)]  # type: ignore[call-overload]
            w.n += 1
            w.feed(ev.AgentOutboundStarted(agent_id=agent_id, call_id=ev.CallId(f"out{w.n}"), at=w.now))
        elif kind == "priority":
            calls = w.calls_in(WAITING, RINGING)
            if calls:
                call_id = calls[int(op[1]) % len(calls)]  # type: ignore[call-overload]
                w.feed(ev.CallPriorityChanged(call_id=call_id, priority_class=str(op[2]), priority=0, at=w.now))
        else:
            states = {"answer": (RINGING,), "no-answer": (RINGING,), "abandon": (WAITING, RINGING), "end": (ANSWERED,)}
            calls = w.calls_in(*states[str(kind)])
            if kind == "end":
                calls += sorted(w.engine._outbound)  # the agents' own outbound calls end too
            if not calls:
                continue
            call_id = calls[int(op[1]) % len(calls)]  # type: ignore[call-overload]
            if call_id not in w.engine.calls:
                w.feed(ev.CallEnded(call_id=call_id, at=w.now))
                continue
            holder = w.engine.calls[call_id].agent_id
            if kind == "answer":
                assert holder is not None
                w.feed(ev.CallAnswered(call_id=call_id, agent_id=holder, at=w.now))
            elif kind == "no-answer":
                assert holder is not None
                w.feed(ev.OfferNotAnswered(call_id=call_id, agent_id=holder, at=w.now))
            elif kind == "abandon":
                w.ended.add(call_id)
                w.feed(ev.CallAbandoned(call_id=call_id, at=w.now))
            else:
                w.ended.add(call_id)
                w.feed(ev.CallEnded(call_id=call_id, at=w.now))
