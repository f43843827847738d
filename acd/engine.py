"""The ACD core: skills-based, VIP-priority call distribution as a pure function of events.

Theory of operation
-------------------
`AcdEngine.handle(event, now=...) -> [messages]` applies one domain event and returns what should
happen: commands (`OfferCall`, `StartTimer`, `CancelTimer`, `SendToFallback`, `OfferCallback`,
`Announce`) and facts (`AgentStateChanged`, `RoutingDecided`, `CallOverflowed`,
`CallSentToFallback`). It never awaits, never reads a clock, and draws randomness only from the
injected `random.Random`. Timers are commands that come back as `TimerExpired`.

Agents move through the table in `acd/state.py`. Calls move waiting -> ringing -> answered -> gone,
and ringing -> waiting again on ring-no-answer (RONA) or when the agent declines.

Rule 1 (one ranking rule): a waiting call's score is `wait + head start`, where the head start is
its class's `head_start_s` plus its `priority` in seconds. Across every queue an agent serves, the
agent gets the call with the highest score. As `wait` grows at the same rate for every call, the
order of two calls never changes with time, so each call has a constant key
`enqueued_at - head_start` (smaller is better) and sorted lists keep the order. A class whose head start is
H seconds more than another's can pass over a call of that class only if it arrived less than H
seconds after it: that difference is the aging cap, and no class starves.

Rule 2 (the other direction): when a call finds several ready agents, its queue's strategy picks
one (longest idle, most skilled, least occupied, fewest calls, round robin, random); ties go to
the smaller agent id.

Rule 3 (invariant): a READY agent is never able to take a waiting call. Every event that creates
either (a call queued, relaxed or overflowed; an agent ready or re-skilled) immediately tries to
match it, so the queue and the ready pool never overlap.

Rule 4 (indexes, no scans): ready agents are kept in sets per queue and per (queue, skill,
level or more); waiting calls in sorted lists per (queue, requirements) "group", and the groups on
shelves per (queue, first skill). A call looks only at the ready agents of its rarest
requirement; an agent only at the shelves of its queues and skills. Agents cache the pools,
shelves and counters they touch (see `_cache`). A RONA call keeps its key, so it goes back to the
head of its class. No event does work in proportion to a queue's length.

Rule 5: every offer carries a `RoutingDecided` record: at most `explain_limit` candidates and their
strategy keys (best first), a bounded sample of excluded queue members with the reason (state,
wrap-up, skill, level), counts of exclusions by reason over the whole queue from counters, the
relaxation step and the tie-break.
"""

from __future__ import annotations

import heapq
import logging
import random
from bisect import bisect_left, insort
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from acd.config import AcdConfig, AcdError, AgentProfile, MaxWaitAction, Strategy
from acd.ewt import Ewt, estimate_wait, mean_wait_s
from acd.metrics import Counters, LiveStats, Metrics
from acd.state import STATE_EXCLUSIONS, AgentRecord, Trigger, transition
from acd.strategies import STRATEGY_KEYS
from callcenter.events import (
    AgentId,
    AgentLoggedIn,
    AgentLoggedOut,
    AgentNotReady,
    AgentOutboundStarted,
    AgentProfileUpdated,
    AgentReady,
    AgentState,
    AgentStateChanged,
    Announce,
    CallAbandoned,
    CallAnswered,
    CallEnded,
    CallId,
    CallOverflowed,
    CallPriorityChanged,
    CallQueued,
    CallSentToFallback,
    CancelTimer,
    ChannelId,
    DecisionCandidate,
    DecisionExclusion,
    DecisionId,
    OfferCall,
    OfferCallback,
    OfferNotAnswered,
    QueueName,
    RoutingDecided,
    RoutingRequest,
    SendToFallback,
    SkillRequirement,
    StartTimer,
    TimerExpired,
    TimerId,
    WrapUpEnded,
)

logger = logging.getLogger(__name__)

Reqs = tuple[SkillRequirement, ...]
# (queue, ((skill, min level), ...)): plain tuples hash in C, the dataclasses would not.
GroupKey = tuple[str, tuple[tuple[str, int], ...]]
# (key, seq, call): smallest is served first; (key, seq) is unique, so the call is never compared
QueueEntry = tuple[float, int, "CallRecord"]

# State sets and per-queue state counts use the states' string values: Enum.__hash__ is Python
# code, and these are looked up several times per transition.
_BUSY = frozenset(s.value for s in (AgentState.RESERVED, AgentState.ON_CALL, AgentState.WRAP_UP, AgentState.OUTBOUND))
_UNSTAFFED = frozenset(s.value for s in (AgentState.LOGGED_OUT, AgentState.NOT_READY))
_READY = AgentState.READY
_STATE_VALUES = tuple(s.value for s in AgentState)
# (old value, new value) -> (staffed delta, busy delta): what a transition does to the counters.
_EDGES = {
    (a, b): (int(b not in _UNSTAFFED) - int(a not in _UNSTAFFED), int(b in _BUSY) - int(a in _BUSY))
    for a in _STATE_VALUES
    for b in _STATE_VALUES
}
# A decision record's excluded_counts keys, in the order of the state values.
_EXCLUSION_LABELS = tuple(sorted(STATE_EXCLUSIONS.items()))
EXCLUSION_SCAN = 8  # members looked at per excluded agent a record may name (see _exclusions)
WAITING, RINGING, ANSWERED = "waiting", "ringing", "answered"


@dataclass(slots=True, eq=False)
class CallRecord:
    id: CallId
    channel_id: ChannelId | None
    request: RoutingRequest
    queue: QueueName
    priority_class: str
    priority: int  # extra head start in seconds, on top of the class's
    enqueued_at: float  # first entry into the ACD; kept across RONA and overflow
    key: float  # enqueued_at - head start: smaller is served first (Rule 1)
    seq: int
    reqs: Reqs
    step: int = 0  # relaxation step in force; -1 after overflow (the target queue's skills)
    state: str = WAITING
    agent_id: AgentId | None = None
    group: _Group | None = None
    offers: int = 0
    timers: set[TimerId] = field(default_factory=set)
    answered_at: float = 0.0


@dataclass(slots=True, eq=False)
class _Group:
    """Waiting calls with the same queue and requirements, best first.

    `heap` is kept sorted (a sorted list is a heap too): the head is `heap[0]`, a call leaves by
    bisection, and a call's position is a bisection, with no stale entries. Inserting and leaving
    move the list's tail in memory (C `memmove`, about a microsecond per 10,000 entries).
    `eq=False`: groups compare by identity, so `shelf.remove(group)` finds this one."""

    key: GroupKey
    reqs: Reqs
    level: int  # the first requirement's level; found through (queue, its skill)
    rest: tuple[tuple[str, int], ...]  # the other requirements as (skill, min level)
    shelf: list[_Group]  # the (queue, first skill) shelf that lists this group (see AcdEngine._shelves)
    heap: list[QueueEntry] = field(default_factory=list)

    @property
    def live(self) -> int:
        return len(self.heap)


def canonical(reqs: Iterable[SkillRequirement]) -> Reqs:
    """Requirements in one order, so equal sets share a group."""
    reqs = tuple(reqs)
    return reqs if len(reqs) < 2 else tuple(sorted(reqs, key=lambda r: (r.skill, r.min_level)))


class AcdEngine:
    """The pure ACD core. See the module's theory of operation."""

    def __init__(
        self,
        config: AcdConfig,
        *,
        agents: Iterable[AgentProfile] = (),
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.rng = rng if rng is not None else random.Random(0)
        self.metrics = Metrics()
        self.agents: dict[AgentId, AgentRecord] = {}
        self.calls: dict[CallId, CallRecord] = {}
        self._ready: dict[tuple[str, str, int], set[AgentId]] = {}
        self._staffed: dict[tuple[str, str, int], int] = {}
        self._groups: dict[GroupKey, _Group] = {}
        # Groups by (queue, first skill): a free agent reads only the shelves of its own queues
        # and skills, and on them each group's first level and other requirements.
        self._shelves: dict[tuple[str, str], list[_Group]] = {}
        # Members per queue in the order they joined (round robin), with their round-robin number
        self._members: dict[str, dict[AgentId, AgentRecord]] = {q: {} for q in config.queues}
        self._member_order: dict[str, dict[AgentId, int]] = {q: {} for q in config.queues}
        self._member_seq = 0
        self._rr_last: dict[str, int] = {}
        # state value -> agents; every state has a key, so a transition is two in-place updates
        self._queue_states: dict[str, dict[str, int]] = {q: dict.fromkeys(_STATE_VALUES, 0) for q in config.queues}
        self._waiting_in: dict[str, dict[CallId, CallRecord]] = {q: {} for q in config.queues}
        self._timers: dict[TimerId, tuple[str, str]] = {}
        self._outbound: dict[CallId, AgentId] = {}
        self._seq = 0
        self._handlers: dict[type[Any], Callable[[Any, float], list[object]]] = {
            CallQueued: self._on_call_queued,
            CallAnswered: self._on_call_answered,
            OfferNotAnswered: self._on_offer_not_answered,
            CallAbandoned: self._on_call_abandoned,
            CallEnded: self._on_call_ended,
            CallPriorityChanged: self._on_priority_changed,
            AgentLoggedIn: self._on_logged_in,
            AgentLoggedOut: self._on_logged_out,
            AgentReady: self._on_ready,
            AgentNotReady: self._on_not_ready,
            WrapUpEnded: self._on_wrap_up_ended,
            AgentProfileUpdated: self._on_profile_updated,
            AgentOutboundStarted: self._on_outbound_started,
            TimerExpired: self._on_timer,
        }
        for profile in agents:
            self._set_profile(profile.agent_id, profile.skills, profile.queues, profile.max_calls, profile.interface)

    # ----------------------------------------------------------------------------------------
    # The one entry point
    # ----------------------------------------------------------------------------------------

    def handle(self, event: object, *, now: float) -> list[object]:
        """Apply one event; return what should happen. Never awaits, never reads a clock.

        Events the ACD has no use for return []. An event that an agent's state does not allow
        raises `IllegalTransition` before anything has changed.
        """
        handler = self._handlers.get(type(event))
        if handler is None:
            return []
        return handler(event, now)

    # ----------------------------------------------------------------------------------------
    # Calls
    # ----------------------------------------------------------------------------------------

    def _on_call_queued(self, ev: CallQueued, now: float) -> list[object]:
        if ev.call_id in self.calls:
            logger.warning("call %s: queued again while %s; ignored", ev.call_id, self.calls[ev.call_id].state)
            return []
        req = ev.request
        queue = self.config.queues.get(req.queue)
        if queue is None:
            logger.warning("call %s: unknown queue %r; sent to fallback", ev.call_id, req.queue)
            return [
                SendToFallback(call_id=ev.call_id, reason="unknown-queue"),
                CallSentToFallback(call_id=ev.call_id, queue=req.queue, reason="unknown-queue", at=now),
            ]
        self._seq += 1
        call = CallRecord(
            id=ev.call_id,
            channel_id=ev.channel_id,
            request=req,
            queue=req.queue,
            priority_class=req.priority_class,
            priority=req.priority,
            enqueued_at=now,
            key=now - self.config.head_start(req.priority_class, req.priority),
            seq=self._seq,
            reqs=canonical(req.skills or queue.skills),
        )
        self.calls[call.id] = call
        self.metrics.queue(call.queue).offered += 1
        self.metrics.klass(call.priority_class).offered += 1
        out: list[object] = []
        for number, step in enumerate(req.relaxation, start=1):
            self._start_timer(out, f"relax:{call.id}:{number}", "relax", call.id, step.after_s)
        if req.overflow_queue is not None and req.overflow_after_s is not None:
            self._start_timer(out, f"overflow:{call.id}", "overflow", call.id, req.overflow_after_s)
        if req.max_wait_s is not None:
            self._start_timer(out, f"maxwait:{call.id}", "maxwait", call.id, req.max_wait_s)
        self._place_call(call, now, "call-queued", out)
        if call.state == WAITING:
            position, eligible, aht, _ = self._wait_inputs(call)
            out.append(Announce(call_id=call.id, channel_id=call.channel_id, ewt_s=mean_wait_s(position, eligible, aht), position=position))
        return out

    def _on_call_answered(self, ev: CallAnswered, now: float) -> list[object]:
        call = self.calls.get(ev.call_id)
        if call is None or call.state != RINGING or call.agent_id != ev.agent_id:
            logger.debug("call %s: answer by %s is not for a current offer; ignored", ev.call_id, ev.agent_id)
            return []
        agent = self.agents[ev.agent_id]
        new = transition(agent.id, agent.state, Trigger.ANSWER, "CallAnswered")
        out: list[object] = []
        call.state = ANSWERED
        call.answered_at = now
        self._cancel_call_timers(call, out)
        wait = now - call.enqueued_at
        sl = self.config.queues[call.queue].service_level_s
        self.metrics.queue(call.queue).answer(wait, sl)
        self.metrics.klass(call.priority_class).answer(wait, sl)
        self._set_state(agent, new, now, out, call_id=call.id)
        return out

    def _on_offer_not_answered(self, ev: OfferNotAnswered, now: float) -> list[object]:
        call = self.calls.get(ev.call_id)
        if call is None or call.state != RINGING or call.agent_id != ev.agent_id:
            logger.debug("call %s: no-answer from %s is not for a current offer; ignored", ev.call_id, ev.agent_id)
            return []
        return self._ring_no_answer(call, now)

    def _ring_no_answer(self, call: CallRecord, now: float) -> list[object]:
        assert call.agent_id is not None  # Precondition: the call is ringing an agent
        agent = self.agents[call.agent_id]
        new = transition(agent.id, agent.state, Trigger.NO_ANSWER, "OfferNotAnswered")
        out: list[object] = []
        self._cancel_timer(out, f"offer:{call.id}")
        agent.reason = "rona"
        agent.call_id = None
        self._set_state(agent, new, now, out, reason="rona", call_id=call.id)
        self._requeue(call, now, "rona", out)
        return out

    def _on_call_abandoned(self, ev: CallAbandoned, now: float) -> list[object]:
        return self._caller_gone(ev.call_id, now)

    def _on_call_ended(self, ev: CallEnded, now: float) -> list[object]:
        agent_id = self._outbound.pop(ev.call_id, None)
        if agent_id is not None:
            return self._agent_call_ended(self.agents[agent_id], None, now)
        call = self.calls.get(ev.call_id)
        if call is None:
            return []
        if call.state != ANSWERED:
            return self._caller_gone(ev.call_id, now)
        assert call.agent_id is not None  # Precondition: an answered call has its agent
        del self.calls[call.id]
        talk = now - call.answered_at
        out = self._agent_call_ended(self.agents[call.agent_id], call, now)
        wrap = self.config.queues[call.queue].wrap_up_s
        for counters in (self.metrics.queue(call.queue), self.metrics.klass(call.priority_class)):
            counters.handled += 1
            counters.handle_s += talk + wrap
        return out

    def _caller_gone(self, call_id: CallId, now: float) -> list[object]:
        """The caller hung up before an agent answered."""
        call = self.calls.get(call_id)
        if call is None or call.state == ANSWERED:
            return []  # an answered call ends with CallEnded, for its agent
        del self.calls[call_id]
        out: list[object] = []
        self._cancel_call_timers(call, out)
        wait = now - call.enqueued_at
        self.metrics.queue(call.queue).leave("abandoned", wait)
        self.metrics.klass(call.priority_class).leave("abandoned", wait)
        if call.state == WAITING:
            self._remove_from_group(call)
            return out
        assert call.agent_id is not None
        agent = self.agents[call.agent_id]
        new = transition(agent.id, agent.state, Trigger.CALLER_GONE, "CallAbandoned")
        self._cancel_timer(out, f"offer:{call.id}")
        agent.call_id = None
        self._set_state(agent, new, now, out, reason="caller-gone", call_id=call.id)
        self._agent_available(agent, now, "agent-ready", out)
        return out

    def _on_priority_changed(self, ev: CallPriorityChanged, now: float) -> list[object]:
        call = self.calls.get(ev.call_id)
        if call is None or call.state == ANSWERED:
            return []
        old_class = call.priority_class
        if old_class != ev.priority_class:
            self.metrics.klass(old_class).offered -= 1
            self.metrics.klass(ev.priority_class).offered += 1
        waiting = call.state == WAITING
        if waiting:  # re-rank now: out of its group under the old key, back in with the new one
            self._remove_from_group(call)
        call.priority_class = ev.priority_class
        call.priority = ev.priority
        call.key = call.enqueued_at - self.config.head_start(ev.priority_class, ev.priority)
        if waiting:
            self._add_to_group(call)
        return []

    # ----------------------------------------------------------------------------------------
    # Agents
    # ----------------------------------------------------------------------------------------

    def _agent(self, agent_id: AgentId) -> AgentRecord:
        agent = self.agents.get(agent_id)
        if agent is None:
            logger.warning("agent %s: no profile; it has no skills and no queues until one is set", agent_id)
            agent = self._set_profile(agent_id, (), (), None, "")
        return agent

    def _on_logged_in(self, ev: AgentLoggedIn, now: float) -> list[object]:
        agent = self._agent(ev.agent_id)
        new = transition(agent.id, agent.state, Trigger.LOGIN, "AgentLoggedIn")
        agent.interface = ev.interface or agent.interface
        agent.login_at = now
        agent.busy_s = 0.0
        agent.calls_handled = 0
        agent.reason = "login"
        out: list[object] = []
        self._set_state(agent, new, now, out, reason="login")
        return out

    def _on_logged_out(self, ev: AgentLoggedOut, now: float) -> list[object]:
        agent = self._agent(ev.agent_id)
        new = transition(agent.id, agent.state, Trigger.LOGOUT, "AgentLoggedOut")
        out: list[object] = []
        self._cancel_timer(out, f"wrap:{agent.id}")
        ringing = self.calls.get(agent.call_id) if agent.call_id else None
        agent.call_id = None
        agent.pending_pause = None
        self._set_state(agent, new, now, out, reason="logout")
        if ringing is not None:
            self._cancel_timer(out, f"offer:{ringing.id}")
            self._requeue(ringing, now, "agent-logged-out", out)
        return out

    def _on_ready(self, ev: AgentReady, now: float) -> list[object]:
        agent = self._agent(ev.agent_id)
        new = transition(agent.id, agent.state, Trigger.READY, "AgentReady")
        out: list[object] = []
        self._cancel_timer(out, f"wrap:{agent.id}")
        agent.reason = ""
        agent.pending_pause = None
        self._set_state(agent, new, now, out)
        self._agent_available(agent, now, "agent-ready", out)
        return out

    def _on_not_ready(self, ev: AgentNotReady, now: float) -> list[object]:
        agent = self._agent(ev.agent_id)
        reasons = self.config.pause_reasons
        if reasons and ev.reason not in reasons:
            raise AcdError(f"agent {agent.id}: unknown pause reason {ev.reason!r}; expected one of {', '.join(reasons)}")
        new = transition(agent.id, agent.state, Trigger.NOT_READY, "AgentNotReady")
        out: list[object] = []
        if new is agent.state and new._value_ in _BUSY:  # on a call: pause when it and wrap-up are over
            agent.pending_pause = ev.reason
            return out
        self._cancel_timer(out, f"wrap:{agent.id}")
        declined = self.calls.get(agent.call_id) if agent.state is AgentState.RESERVED and agent.call_id else None
        agent.call_id = None
        agent.reason = ev.reason
        self._set_state(agent, new, now, out, reason=ev.reason)
        if declined is not None:
            self._cancel_timer(out, f"offer:{declined.id}")
            self._requeue(declined, now, "declined", out)
        return out

    def _on_wrap_up_ended(self, ev: WrapUpEnded, now: float) -> list[object]:
        agent = self._agent(ev.agent_id)
        if agent.state is not AgentState.WRAP_UP and agent.calls_handled > 0 and agent.state is not AgentState.LOGGED_OUT:
            # The wrap-up timer (or "ready") got there first; the desktop's click is late.
            logger.debug("agent %s: WrapUpEnded in state %s ignored (wrap-up already over)", agent.id, agent.state)
            return []
        out: list[object] = []
        self._cancel_timer(out, f"wrap:{agent.id}")  # the other ways into _end_wrap_up have no timer left
        self._end_wrap_up(agent, now, "WrapUpEnded", out)
        return out

    def _on_profile_updated(self, ev: AgentProfileUpdated, now: float) -> list[object]:
        agent = self.agents.get(ev.agent_id)
        was_ready = agent is not None and agent.state is AgentState.READY
        agent = self._set_profile(ev.agent_id, ev.skills, ev.queues, ev.max_calls, agent.interface if agent else "")
        out: list[object] = []
        if was_ready:
            self._agent_available(agent, now, "agent-reskilled", out)
        return out

    def _on_outbound_started(self, ev: AgentOutboundStarted, now: float) -> list[object]:
        agent = self._agent(ev.agent_id)
        new = transition(agent.id, agent.state, Trigger.OUTBOUND, "AgentOutboundStarted")
        out: list[object] = []
        agent.call_id = ev.call_id
        self._outbound[ev.call_id] = agent.id
        self._set_state(agent, new, now, out, reason="outbound", call_id=ev.call_id)
        return out

    def _agent_call_ended(self, agent: AgentRecord, call: CallRecord | None, now: float) -> list[object]:
        new = transition(agent.id, agent.state, Trigger.CALL_ENDED, "CallEnded")
        out: list[object] = []
        call_id = agent.call_id
        agent.call_id = None
        agent.calls_handled += 1
        self._set_state(agent, new, now, out, call_id=call_id)
        queue = self.config.queues.get(call.queue) if call else None
        wrap_s = queue.wrap_up_s if queue else 0.0
        if wrap_s > 0:
            self._start_timer(out, f"wrap:{agent.id}", "wrap", agent.id, wrap_s)
        else:
            self._end_wrap_up(agent, now, "CallEnded", out)
        return out

    def _end_wrap_up(self, agent: AgentRecord, now: float, event_name: str, out: list[object]) -> None:
        pause = agent.pending_pause
        if pause is None and agent.max_calls is not None and agent.calls_handled >= agent.max_calls:
            pause = "max-calls"
        trigger = Trigger.WRAP_UP_DONE if pause is None else Trigger.PAUSE_AFTER_CALL
        new = transition(agent.id, agent.state, trigger, event_name)
        agent.pending_pause = None
        agent.reason = pause or ""
        self._set_state(agent, new, now, out, reason=pause or "")
        if new is _READY:
            self._agent_available(agent, now, "agent-ready", out)

    # ----------------------------------------------------------------------------------------
    # Timers
    # ----------------------------------------------------------------------------------------

    def _on_timer(self, ev: TimerExpired, now: float) -> list[object]:
        entry = self._timers.pop(ev.timer_id, None)
        if entry is None:
            return []  # cancelled, or already acted on
        kind, target = entry
        out: list[object] = []
        if kind == "wrap":
            agent = self.agents[AgentId(target)]
            if agent.state is AgentState.WRAP_UP:
                self._end_wrap_up(agent, now, "TimerExpired", out)
            return out
        call = self.calls.get(CallId(target))
        if call is None:
            return out
        call.timers.discard(ev.timer_id)
        if kind == "offer":
            if call.state == RINGING:  # the PBX never told us how the ring ended: treat as RONA
                return self._ring_no_answer(call, now)
            return out
        if kind == "relax":
            step = int(ev.timer_id.rsplit(":", 1)[1])
            if call.step < 0 or step <= call.step:
                return out
            call.step = step
            was_waiting = call.state == WAITING
            if was_waiting:
                self._remove_from_group(call)
            call.reqs = canonical(call.request.relaxation[step - 1].skills)
            if was_waiting:
                self._place_call(call, now, "relaxed", out)
            return out
        if call.state != WAITING:
            return out  # ringing: `_requeue` re-checks the deadline if the offer fails
        self._remove_from_group(call)
        if kind == "overflow":
            self._overflow(call, now, out)
        else:
            self._max_wait(call, now, out)
        return out

    def _overflow(self, call: CallRecord, now: float, out: list[object]) -> None:
        target = call.request.overflow_queue
        assert target is not None  # Precondition: only requests with an overflow queue get the timer
        queue = self.config.queues.get(target)
        if queue is None:
            self._max_wait(call, now, out, reason="unknown-overflow-queue")
            return
        wait = now - call.enqueued_at
        self.metrics.queue(call.queue).leave("overflowed", wait)
        self.metrics.queue(target).offered += 1
        self._cancel_timer(out, *[t for t in list(call.timers) if t.startswith("relax:")])
        out.append(CallOverflowed(call_id=call.id, from_queue=call.queue, to_queue=target, at=now))
        call.queue = target
        call.step = -1
        call.reqs = canonical(queue.skills)
        self._place_call(call, now, "overflowed", out)

    def _max_wait(self, call: CallRecord, now: float, out: list[object], reason: str = "max-wait") -> None:
        del self.calls[call.id]
        self._cancel_call_timers(call, out)
        wait = now - call.enqueued_at
        action = self.config.queues[call.queue].on_max_wait
        outcome = "callback" if action is MaxWaitAction.CALLBACK and reason == "max-wait" else "fallback"
        self.metrics.queue(call.queue).leave(outcome, wait)
        self.metrics.klass(call.priority_class).leave(outcome, wait)
        if outcome == "callback":
            out.append(OfferCallback(call_id=call.id, reason=reason))
        else:
            out.append(SendToFallback(call_id=call.id, reason=reason))
            out.append(CallSentToFallback(call_id=call.id, queue=call.queue, reason=reason, at=now))

    def _start_timer(
        self, out: list[object], timer_id: str, kind: str, target: str, delay_s: float, call: CallRecord | None = None
    ) -> None:
        """Start a timer for the agent `target` (kind "wrap") or the call `target` (`call`, if
        the caller has it at hand)."""
        tid = TimerId(timer_id)
        self._timers[tid] = (kind, target)
        if kind != "wrap":
            (call or self.calls[CallId(target)]).timers.add(tid)
        out.append(StartTimer(timer_id=tid, delay_s=max(0.0, delay_s)))

    def _cancel_timer(self, out: list[object], *timer_ids: str) -> None:
        for timer_id in timer_ids:
            tid = TimerId(timer_id)
            entry = self._timers.pop(tid, None)
            if entry is not None:
                if entry[0] != "wrap":
                    call = self.calls.get(CallId(entry[1]))
                    if call is not None:
                        call.timers.discard(tid)
                out.append(CancelTimer(timer_id=tid))

    def _cancel_call_timers(self, call: CallRecord, out: list[object]) -> None:
        timers = sorted(call.timers)
        call.timers.clear()
        for tid in timers:
            if self._timers.pop(tid, None) is not None:
                out.append(CancelTimer(timer_id=tid))

    # ----------------------------------------------------------------------------------------
    # Matching
    # ----------------------------------------------------------------------------------------

    def _place_call(self, call: CallRecord, now: float, trigger: str, out: list[object]) -> None:
        """Offer the call to the best ready agent, or put it in its group to wait (Rule 3)."""
        candidates = self._candidate_agents(call.queue, call.reqs)
        if not candidates:
            call.state = WAITING
            self._add_to_group(call)
            return
        self._offer_to_best_agent(call, candidates, now, trigger, out)

    def _requeue(self, call: CallRecord, now: float, trigger: str, out: list[object]) -> None:
        """A ringing call comes back (RONA, declined, agent gone); deadlines missed meanwhile apply."""
        call.state = WAITING
        call.agent_id = None
        wait = now - call.enqueued_at
        req = call.request
        if req.max_wait_s is not None and wait >= req.max_wait_s:
            self._max_wait(call, now, out)
        elif call.step >= 0 and req.overflow_queue is not None and req.overflow_after_s is not None and wait >= req.overflow_after_s:
            self._overflow(call, now, out)
        else:
            self._place_call(call, now, trigger, out)

    def _agent_available(self, agent: AgentRecord, now: float, trigger: str, out: list[object]) -> None:
        """The agent is READY: give it the best call it can take, or add it to the ready pool."""
        compared = self._best_calls_for(agent)
        if not compared:
            self._index_ready(agent)
            return
        tie = ""
        if len(compared) > 1:
            compared.sort()  # queue entries: (key, seq, call)
            if compared[0][0] == compared[1][0]:
                tie = "equal call scores: the call queued first"
        shown = [e[2] for e in compared[: self.config.explain_limit]]
        candidates = tuple(
            [DecisionCandidate(id=c.id, score=(round(c.key - now, 3),), note=f"{c.queue} {c.priority_class}") for c in shown]
        )
        best = shown[0]
        self._remove_from_group(best)
        self._offer(best, agent, now, trigger, out, candidates, len(compared), (), (), tie)

    def _candidate_agents(self, queue: QueueName, reqs: Reqs) -> list[AgentRecord]:
        """READY agents of `queue` that meet `reqs`, from the pool of the rarest requirement."""
        agents, ready = self.agents, self._ready
        if not reqs:
            return [agents[agent_id] for agent_id in ready.get((queue, "", 0), ())]
        best: set[AgentId] | None = None
        best_req = reqs[0]
        for r in reqs:
            pool = ready.get((queue, r.skill, r.min_level))
            if not pool:
                return []
            if best is None or len(pool) < len(best):
                best, best_req = pool, r
        assert best is not None
        if len(reqs) == 1:
            return [agents[agent_id] for agent_id in best]
        others = tuple([r for r in reqs if r is not best_req])
        return [agent for agent in map(agents.__getitem__, best) if agent.meets(others)]

    def _best_calls_for(self, agent: AgentRecord) -> list[QueueEntry]:
        """The head entries of every group of waiting calls the agent can take, over all its
        queues; the smallest is the call that deserves the agent most (Rule 1)."""
        compared: list[QueueEntry] = []
        append, skills = compared.append, agent.skills
        pairs = iter(agent.shelves)
        for level, shelf in zip(pairs, pairs, strict=True):
            for group in shelf:
                if group.level <= level:
                    for skill, need in group.rest:  # inline: a call to `meets` costs more than this loop
                        if skills.get(skill, 0) < need:
                            break
                    else:
                        append(group.heap[0])
        return compared

    def _offer_to_best_agent(
        self, call: CallRecord, candidates: list[AgentRecord], now: float, trigger: str, out: list[object]
    ) -> None:
        queue = self.config.queues[call.queue]
        strategy = queue.strategy
        score = STRATEGY_KEYS[strategy]
        order = self._member_order[call.queue]
        reqs = call.reqs
        # Only round robin needs each member's distance and only random a draw (in agent-id
        # order, so a seed gives the same decisions every run).
        if strategy is Strategy.ROUND_ROBIN:
            last, modulus = self._rr_last.get(call.queue, -1), self._member_seq + 1
            keyed = [(score(a, reqs, now, (order.get(a.id, 0) - last - 1) % modulus, 0.0), a.id, a) for a in candidates]
        elif strategy is Strategy.RANDOM:
            candidates.sort(key=lambda a: a.id)
            draw = self.rng.random
            keyed = [(score(a, reqs, now, 0, draw()), a.id, a) for a in candidates]
        else:
            keyed = [(score(a, reqs, now, 0, 0.0), a.id, a) for a in candidates]
        # (key, agent id, agent): ids are unique, so tuples never compare the agents themselves
        limit = self.config.explain_limit
        keep = max(2, limit)  # two, to see a tie
        ranked = heapq.nsmallest(keep, keyed) if len(keyed) > keep else sorted(keyed)
        agent = ranked[0][2]
        tie = ""
        if len(ranked) > 1 and ranked[0][0] == ranked[1][0]:
            tie = f"equal {strategy.value} keys: the smaller agent id"
        elif strategy is Strategy.RANDOM:
            tie = "random draw"
        if strategy is Strategy.ROUND_ROBIN:
            self._rr_last[call.queue] = order.get(agent.id, 0)
        shown = tuple([DecisionCandidate(id=a.id, score=tuple([round(x, 3) for x in k])) for k, _, a in ranked[:limit]])
        excluded, counts = self._exclusions(call, len(candidates))
        self._offer(call, agent, now, trigger, out, shown, len(candidates), excluded, counts, tie)

    def _exclusions(
        self, call: CallRecord, n_candidates: int
    ) -> tuple[tuple[DecisionExclusion, ...], tuple[tuple[str, int], ...]]:
        """Queue members that could not take the call and why: counts over the whole queue from
        the per-queue state counters, and by name the first `explain_limit` excluded members
        among the first `EXCLUSION_SCAN` × `explain_limit` members (a bounded sample: a queue
        whose first members are all eligible lists fewer)."""
        limit = self.config.explain_limit
        listed: list[DecisionExclusion] = []
        reqs = call.reqs
        for agent_id, agent in islice(self._members[call.queue].items(), EXCLUSION_SCAN * limit):
            reason = agent.exclusion(reqs)
            if reason is not None:
                listed.append(DecisionExclusion(agent_id=agent_id, reason=reason))
                if len(listed) >= limit:
                    break
        states = self._queue_states[call.queue]
        counts = [(label, states[s]) for s, label in _EXCLUSION_LABELS if states[s]]
        lacking = states.get("ready", 0) - n_candidates
        if lacking:
            counts.append(("skill-or-level", lacking))
        return tuple(listed), tuple(counts)

    def _offer(
        self,
        call: CallRecord,
        agent: AgentRecord,
        now: float,
        trigger: str,
        out: list[object],
        candidates: tuple[DecisionCandidate, ...],
        candidate_count: int,
        excluded: tuple[DecisionExclusion, ...],
        excluded_counts: tuple[tuple[str, int], ...],
        tie_break: str,
    ) -> None:
        agent_id, call_id, queue_name = agent.id, call.id, call.queue
        new = transition(agent_id, agent.state, Trigger.OFFER, "OfferCall")
        queue = self.config.queues[queue_name]
        call.state = RINGING
        call.agent_id = agent_id
        call.offers += 1
        agent.call_id = call_id
        decision_id = DecisionId(f"{call_id}/{call.offers}")
        self._set_state(agent, new, now, out, call_id=call_id)
        out.append(
            RoutingDecided(
                decision_id=decision_id,
                call_id=call_id,
                agent_id=agent_id,
                queue=queue_name,
                trigger=trigger,
                strategy=queue.strategy._value_,
                priority_class=call.priority_class,
                call_score_s=round(now - call.key, 3),
                wait_s=round(now - call.enqueued_at, 3),
                relaxation_step=call.step,
                requirements=call.reqs,
                candidates=candidates,
                candidate_count=candidate_count,
                excluded=excluded,
                excluded_counts=excluded_counts,
                tie_break=tie_break,
                rule=call.request.rule,
                at=now,
            )
        )
        out.append(
            OfferCall(
                call_id=call_id,
                agent_id=agent_id,
                interface=agent.interface,
                queue=queue_name,
                ring_timeout_s=queue.ring_timeout_s,
                decision_id=decision_id,
            )
        )
        self._start_timer(out, f"offer:{call_id}", "offer", call_id, queue.ring_timeout_s + self.config.offer_guard_s, call)

    # ----------------------------------------------------------------------------------------
    # Indexes
    # ----------------------------------------------------------------------------------------

    def _add_to_group(self, call: CallRecord) -> None:
        reqs = call.reqs
        pairs = tuple([(r.skill, r.min_level) for r in reqs])
        gkey = (call.queue, pairs)
        entry = (call.key, call.seq, call)
        group = self._groups.get(gkey)
        if group is None:
            level, rest = (reqs[0].min_level, pairs[1:]) if reqs else (0, ())
            shelf = self._shelves.setdefault((call.queue, reqs[0].skill if reqs else ""), [])
            group = self._groups[gkey] = _Group(key=gkey, reqs=reqs, level=level, rest=rest, shelf=shelf, heap=[entry])
            shelf.append(group)
        else:
            insort(group.heap, entry)
        call.group = group
        self._waiting_in[call.queue][call.id] = call

    def _remove_from_group(self, call: CallRecord) -> None:
        group = call.group
        if group is None:
            return
        call.group = None
        del self._waiting_in[call.queue][call.id]
        heap = group.heap
        at = bisect_left(heap, (call.key, call.seq))  # (key, seq) is unique: this call's entry
        del heap[at]
        if not heap:
            del self._groups[group.key]
            group.shelf.remove(group)  # the shelf stays, even empty: agents' caches hold it (see _cache)

    @staticmethod
    def _pool_keys(agent: AgentRecord) -> Iterator[tuple[str, str, int]]:
        """(queue, skill, level *or more*) for each skill level the agent has, and (queue, "", 0)."""
        for queue, skill, level in agent.index_keys:
            for at_least in range(1, level + 1) if skill else (0,):
                yield (queue, skill, at_least)

    def _cache(self, agent: AgentRecord) -> None:
        """Build the agent's caches (see AgentRecord) after its skills or queues changed. Pools
        and group lists are created here if new and never removed, so the cached objects stay the
        ones the indexes use."""
        keys: list[tuple[str, str, int]] = []
        for q in agent.queues:
            keys.append((q, "", 0))
            keys.extend((q, skill, level) for skill, level in agent.skills.items())
        agent.index_keys = tuple(keys)
        agent.pools = tuple(self._ready.setdefault(key, set()) for key in self._pool_keys(agent))
        shelves = self._shelves
        agent.shelves = tuple(x for q, skill, level in keys for x in (level, shelves.setdefault((q, skill), [])))
        agent.state_counts = tuple(self._queue_states[q] for q in agent.queues)

    def _index_ready(self, agent: AgentRecord) -> None:
        """Into the ready pools: per queue, and per (queue, skill, level *or more*), so a call's
        requirement is one look-up."""
        agent.indexed = True
        agent_id = agent.id
        for pool in agent.pools:
            pool.add(agent_id)

    def _unindex_ready(self, agent: AgentRecord) -> None:
        if not agent.indexed:
            return
        agent.indexed = False
        agent_id = agent.id
        for pool in agent.pools:
            pool.discard(agent_id)

    def _count_staffed(self, agent: AgentRecord, delta: int) -> None:
        """Staffed agents per (queue, skill, level *or more*), so a count is one look-up."""
        staffed = self._staffed
        for key in self._pool_keys(agent):
            staffed[key] = staffed.get(key, 0) + delta

    def _set_profile(
        self, agent_id: AgentId, skills: Iterable[Any], queues: Iterable[QueueName], max_calls: int | None, interface: str
    ) -> AgentRecord:
        agent = self.agents.get(agent_id)
        known_queues = tuple(q for q in dict.fromkeys(queues) if q in self.config.queues)
        skill_map = {s.skill: s.level for s in skills}
        if agent is None:
            agent = self.agents[agent_id] = AgentRecord(id=agent_id, skills=skill_map, queues=known_queues)
            for q in known_queues:
                self._join(agent, q)
            self._cache(agent)
        else:
            staffed = agent.state._value_ not in _UNSTAFFED
            self._unindex_ready(agent)
            if staffed:
                self._count_staffed(agent, -1)
            for q in agent.queues:
                if q not in known_queues:
                    del self._members[q][agent.id]
                    del self._member_order[q][agent.id]
                    self._queue_states[q][agent.state._value_] -= 1
            for q in known_queues:
                if q not in agent.queues:
                    self._join(agent, q)
            agent.skills = skill_map
            agent.queues = known_queues
            self._cache(agent)
            if staffed:
                self._count_staffed(agent, +1)
        agent.max_calls = max_calls
        agent.interface = interface or agent.interface
        return agent

    def _join(self, agent: AgentRecord, queue: QueueName) -> None:
        self._member_seq += 1
        self._members[queue][agent.id] = agent
        self._member_order[queue][agent.id] = self._member_seq
        counts = self._queue_states[queue]
        state = agent.state._value_
        counts[state] = counts.get(state, 0) + 1

    def _set_state(
        self,
        agent: AgentRecord,
        new: AgentState,
        now: float,
        out: list[object],
        *,
        reason: str = "",
        call_id: CallId | None = None,
    ) -> None:
        old = agent.state
        if agent.indexed:  # only a READY agent is in the pools
            self._unindex_ready(agent)
        if old is not new:
            was, now_is = old._value_, new._value_
            for counts in agent.state_counts:
                counts[was] -= 1
                counts[now_is] += 1
            staffed, busy = _EDGES[was, now_is]
            if staffed:
                self._count_staffed(agent, staffed)
            if busy > 0:
                agent.busy_since = now
            elif busy < 0 and agent.busy_since is not None:
                agent.busy_s += now - agent.busy_since
                agent.busy_since = None
        if new is _READY:
            agent.idle_since = now
        agent.state = new  # the runner logs each AgentStateChanged; the core stays quiet on its hot path
        out.append(AgentStateChanged(agent_id=agent.id, old=old, new=new, reason=reason, call_id=call_id, at=now))

    # ----------------------------------------------------------------------------------------
    # Queries (wallboards, rules, announcements); read-only
    # ----------------------------------------------------------------------------------------

    def eligible_agents(self, queue: QueueName, reqs: Reqs) -> int:
        """Logged-in, unpaused agents of `queue` meeting `reqs` (an upper bound for several skills)."""
        staffed = self._staffed
        if not reqs:
            return staffed.get((queue, "", 0), 0)
        count = staffed.get((queue, reqs[0].skill, reqs[0].min_level), 0)
        for r in reqs[1:]:
            count = min(count, staffed.get((queue, r.skill, r.min_level), 0))
        return count

    def estimate_wait(self, call_id: CallId) -> Ewt:
        position, eligible, aht, samples = self._wait_inputs(self.calls[call_id])
        return estimate_wait(position=position, eligible_agents=eligible, aht_s=aht, aht_samples=samples)

    def _wait_inputs(self, call: CallRecord) -> tuple[int, int, float, int]:
        """Calls ahead in its group, eligible agents, AHT and its number of samples."""
        group = call.group
        position = 0 if group is None else bisect_left(group.heap, (call.key, call.seq))
        counters = self.metrics.queue(call.queue)
        aht = counters.aht_s
        if aht is None:
            aht = self.config.default_aht_s
        return position, self.eligible_agents(call.queue, call.reqs), aht, counters.handled

    def waiting(self, queue: QueueName) -> int:
        return len(self._waiting_in.get(queue, ()))

    def ready_agents(self, queue: QueueName) -> int:
        return len(self._ready.get((queue, "", 0), ()))

    def queue_stats(self, queue: QueueName, now: float) -> LiveStats:
        """A queue's live snapshot (wallboards, the rules' `queue.*` names)."""
        logged = [a for a in self._members[queue].values() if a.state is not AgentState.LOGGED_OUT]
        return self._stats(
            queue,
            self._waiting_in[queue].values(),
            self.metrics.queue(queue),
            now,
            ready=self.ready_agents(queue),
            staffed=self._staffed.get((queue, "", 0), 0),
            occupancy=sum(a.occupancy(now) for a in logged) / len(logged) if logged else None,
        )

    def class_stats(self, priority_class: str, now: float) -> LiveStats:
        """A priority class's live snapshot, across queues."""
        waiting = (c for c in self.calls.values() if c.state == WAITING and c.priority_class == priority_class)
        return self._stats(priority_class, waiting, self.metrics.klass(priority_class), now)

    @staticmethod
    def _stats(
        name: str,
        waiting: Iterable[CallRecord],
        counters: Counters,
        now: float,
        *,
        ready: int | None = None,
        staffed: int | None = None,
        occupancy: float | None = None,
    ) -> LiveStats:
        waits = [now - c.enqueued_at for c in waiting]
        return LiveStats(
            name=name,
            waiting=len(waits),
            longest_wait_s=max(waits, default=0.0),
            ready_agents=ready,
            staffed_agents=staffed,
            offered=counters.offered,
            answered=counters.answered,
            abandoned=counters.abandoned,
            service_level=counters.service_level,
            asa_s=counters.asa_s,
            aht_s=counters.aht_s,
            abandon_rate=counters.abandon_rate,
            occupancy=occupancy,
        )

def replay(engine: AcdEngine, events: Iterable[tuple[float, object]]) -> list[tuple[float, object]]:
    """Feed `(now, event)` pairs in order; return every `(now, message)` the engine emitted."""
    out: list[tuple[float, object]] = []
    for now, event in events:
        out.extend((now, msg) for msg in engine.handle(event, now=now))
    return out
