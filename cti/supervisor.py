"""The supervisor's and the wallboard's live picture: agents by state, queues with their figures.

Theory of operation
-------------------
`LiveView.apply(event)` folds domain events; it does no I/O and reads no clock (`now` comes in
with the queries). Agents follow the ACD's `AgentStateChanged` facts (the ACD owns agent state;
this is a copy for display). Queue figures use the ACD's own `acd.metrics.Counters`, so service
level, ASA and abandon rate mean here exactly what they mean in the simulator's report:

* a call is waiting in a queue from `CallQueued` until it is answered, abandoned (`CallAbandoned`,
  or `CallEnded` before an answer), overflowed (it then waits in the target queue) or sent to
  the fallback;
* wait = the moment it left - the moment it first entered the queue.

Listen / whisper / barge are ChanSpy calls placed with `Originate` (see `spy_command`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from acd.metrics import Counters
from callcenter import events as ev
from callcenter.events import AgentId, AgentState, CallId, QueueName, QueueSnapshot

logger = logging.getLogger(__name__)

SPY_OPTIONS = {"listen": "qE", "whisper": "qwE", "barge": "qBE"}
SPY_CONTEXT = "cc-spy"  # the dialplan context that runs ChanSpy(${CC_SPY_CHANNEL},${CC_SPY_OPTIONS})


@dataclass(slots=True)
class AgentView:
    agent_id: AgentId
    state: AgentState = AgentState.LOGGED_OUT
    since: float = 0.0
    reason: str = ""
    call_id: CallId | None = None
    interface: str = ""
    offered: int = 0
    answered: int = 0
    talk_s: float = 0.0
    answered_at: float | None = None

    def to_json(self, now: float) -> dict[str, Any]:
        return {
            "agent_id": self.agent_id,
            "state": self.state.value,
            "since": self.since,
            "in_state_s": round(max(0.0, now - self.since), 1),
            "reason": self.reason,
            "call_id": self.call_id,
            "interface": self.interface,
            "offered": self.offered,
            "answered": self.answered,
            "talk_s": round(self.talk_s, 1),
        }


@dataclass(slots=True)
class QueueView:
    name: QueueName
    service_level_s: float
    counters: Counters = field(default_factory=Counters)
    waiting: dict[CallId, float] = field(default_factory=dict)  # call -> entered this queue


class LiveView:
    def __init__(self, service_levels: dict[str, float] | None = None, *, default_service_level_s: float = 20.0) -> None:
        self._service_levels = dict(service_levels or {})
        self._default_sl = default_service_level_s
        self.agents: dict[AgentId, AgentView] = {}
        self.queues: dict[QueueName, QueueView] = {}
        self._queue_of: dict[CallId, QueueName] = {}  # waiting calls
        for name in self._service_levels:
            self._queue(QueueName(name))

    def _queue(self, name: QueueName) -> QueueView:
        q = self.queues.get(name)
        if q is None:
            q = self.queues[name] = QueueView(name, self._service_levels.get(name, self._default_sl))
        return q

    def agent(self, agent_id: AgentId) -> AgentView:
        a = self.agents.get(agent_id)
        if a is None:
            a = self.agents[agent_id] = AgentView(agent_id)
        return a

    def peek(self, agent_id: AgentId) -> AgentView:
        """The agent's row, or a logged-out one that is not added (reads never add rows)."""
        return self.agents.get(agent_id) or AgentView(agent_id)

    def _leave(self, call_id: CallId, outcome: str, at: float) -> QueueView | None:
        name = self._queue_of.pop(call_id, None)
        if name is None:
            return None
        q = self.queues[name]
        entered = q.waiting.pop(call_id)
        wait = max(0.0, at - entered)
        if outcome == "answered":
            q.counters.answer(wait, q.service_level_s)
        else:
            q.counters.leave(outcome, wait)
        return q

    def apply(self, event: object) -> None:
        match event:
            case ev.AgentStateChanged():
                a = self.agent(event.agent_id)
                a.state, a.since, a.reason = event.new, event.at, event.reason
                a.call_id = event.call_id if event.new in (AgentState.RESERVED, AgentState.ON_CALL,
                                                           AgentState.WRAP_UP, AgentState.OUTBOUND) else None
            case ev.AgentLoggedIn():
                self.agent(event.agent_id).interface = event.interface
            case ev.CallQueued():
                if event.call_id not in self._queue_of:
                    q = self._queue(event.request.queue)
                    q.counters.offered += 1
                    q.waiting[event.call_id] = event.at
                    self._queue_of[event.call_id] = q.name
            case ev.CallOffered():
                self.agent(event.agent_id).offered += 1
            case ev.CallAnswered():
                a = self.agent(event.agent_id)
                a.answered += 1
                a.answered_at = event.at
                self._leave(event.call_id, "answered", event.at)
            case ev.CallAbandoned():
                self._leave(event.call_id, "abandoned", event.at)
            case ev.CallSentToFallback():
                self._leave(event.call_id, "fallback", event.at)
            case ev.CallOverflowed():
                if self._leave(event.call_id, "overflowed", event.at) is not None:
                    q = self._queue(event.to_queue)
                    q.counters.offered += 1
                    q.waiting[event.call_id] = event.at
                    self._queue_of[event.call_id] = q.name
            case ev.CallEnded():
                self._leave(event.call_id, "abandoned", event.at)
                for a in self.agents.values():
                    if a.call_id == event.call_id and a.answered_at is not None:
                        a.talk_s += max(0.0, event.at - a.answered_at)
                        a.answered_at = None
            case _:
                pass

    def queue_snapshots(self, now: float) -> tuple[QueueSnapshot, ...]:
        # NOTE(cti): agents are not tied to queues here (the ACD holds the membership); the
        # ready/busy counts of a queue are the site's counts, which is what a one-site wallboard
        # shows. Per-queue staffing is in the ACD's QueueStats.
        n_ready = sum(1 for a in self.agents.values() if a.state is AgentState.READY)
        n_busy = sum(1 for a in self.agents.values() if a.state in (AgentState.RESERVED, AgentState.ON_CALL,
                                                                      AgentState.WRAP_UP, AgentState.OUTBOUND))
        out = []
        for q in sorted(self.queues.values(), key=lambda q: q.name):
            c = q.counters
            out.append(
                QueueSnapshot(
                    queue=q.name,
                    waiting=len(q.waiting),
                    longest_wait_s=round(max((now - t for t in q.waiting.values()), default=0.0), 1),
                    agents_ready=n_ready,
                    agents_busy=n_busy,
                    offered=c.offered,
                    answered=c.answered,
                    abandoned=c.abandoned,
                    service_level=c.service_level,
                    asa_s=None if c.asa_s is None else round(c.asa_s, 1),
                    abandon_rate=c.abandon_rate,
                )
            )
        return tuple(out)

    def agents_by_state(self, now: float) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {s.value: [] for s in AgentState}
        for a in sorted(self.agents.values(), key=lambda a: a.agent_id):
            out[a.state.value].append(a.to_json(now))
        return out


def spy_command(*, supervisor_interface: str, target_channel: str, mode: str, request_id: str) -> ev.Originate:
    """Ring the supervisor's phone; when answered, ChanSpy on the agent's channel in `mode`."""
    return ev.Originate(
        destination=supervisor_interface,
        context=SPY_CONTEXT,
        exten="s",
        caller_id=f"{mode} <{target_channel.split('/', 1)[-1].split('-', 1)[0]}>",
        variables=(("CC_SPY_CHANNEL", target_channel), ("CC_SPY_OPTIONS", SPY_OPTIONS[mode])),
        request_id=request_id,
    )
