"""The agent state table.

Theory of operation
-------------------
An agent is in exactly one `AgentState`. What may happen in each state is the table
`AGENT_TRANSITIONS[state][trigger] -> new state`; anything not in the table is an
`IllegalTransition` naming the agent, the state and the event. Triggers are the domain events the
engine receives plus the engine's own decisions (an offer, the wrap-up timer); the engine maps each
event to one trigger, checks the table *before* changing anything, and only then applies it.

Rule 1: only `acd/engine.py` changes agent state, and only through `transition()`.
Rule 2: `docs/acd.md` shows this table; `state_diagram()` renders it (Mermaid), so the picture
cannot drift from the code.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from callcenter.errors import IllegalTransition
from callcenter.events import AgentId, AgentState, CallId, QueueName, SkillRequirement


class Trigger(enum.StrEnum):
    LOGIN = "login"  # AgentLoggedIn
    LOGOUT = "logout"  # AgentLoggedOut
    READY = "ready"  # AgentReady
    NOT_READY = "not-ready"  # AgentNotReady (a pause, with a reason)
    OFFER = "offer"  # the engine reserved the agent for a call (OfferCall)
    ANSWER = "answer"  # CallAnswered
    NO_ANSWER = "no-answer"  # OfferNotAnswered, or the offer guard timer: ring-no-answer (RONA)
    CALLER_GONE = "caller-gone"  # the caller hung up while the agent's phone rang
    CALL_ENDED = "call-ended"  # CallEnded for the agent's call
    WRAP_UP_DONE = "wrap-up-done"  # WrapUpEnded or the wrap-up timer
    PAUSE_AFTER_CALL = "pause-after-call"  # wrap-up done, but a pause was asked for or max calls reached
    OUTBOUND = "outbound"  # AgentOutboundStarted


S = AgentState
T = Trigger

AGENT_TRANSITIONS: dict[AgentState, dict[Trigger, AgentState]] = {
    S.LOGGED_OUT: {T.LOGIN: S.NOT_READY},
    S.NOT_READY: {
        T.READY: S.READY,
        T.NOT_READY: S.NOT_READY,  # a new pause reason
        T.OUTBOUND: S.OUTBOUND,
        T.LOGOUT: S.LOGGED_OUT,
    },
    S.READY: {
        T.OFFER: S.RESERVED,
        T.NOT_READY: S.NOT_READY,
        T.OUTBOUND: S.OUTBOUND,
        T.LOGOUT: S.LOGGED_OUT,
    },
    S.RESERVED: {
        T.ANSWER: S.ON_CALL,
        T.NO_ANSWER: S.NOT_READY,
        T.CALLER_GONE: S.READY,
        T.NOT_READY: S.NOT_READY,  # the agent declined the offer: the call goes back to the queue
        T.LOGOUT: S.LOGGED_OUT,
    },
    S.ON_CALL: {
        T.CALL_ENDED: S.WRAP_UP,
        T.NOT_READY: S.ON_CALL,  # remembered: the agent pauses when the call and wrap-up end
    },
    S.OUTBOUND: {
        T.CALL_ENDED: S.WRAP_UP,
        T.NOT_READY: S.OUTBOUND,
    },
    S.WRAP_UP: {
        T.WRAP_UP_DONE: S.READY,
        T.PAUSE_AFTER_CALL: S.NOT_READY,
        T.READY: S.READY,  # pressing "ready" ends wrap-up early
        T.NOT_READY: S.NOT_READY,
        T.LOGOUT: S.LOGGED_OUT,
    },
}


# The table flattened on the members' string values, for speed (Enum.__hash__ is Python code).
_FLAT = {(s.value, t.value): new for s, row in AGENT_TRANSITIONS.items() for t, new in row.items()}


def transition(agent_id: AgentId, state: AgentState, trigger: Trigger, event_name: str) -> AgentState:
    """The state after `trigger`, or `IllegalTransition` naming agent, state and event."""
    new = _FLAT.get((state._value_, trigger._value_))
    if new is None:
        raise IllegalTransition(f"agent {agent_id}: can't handle {event_name} in state {state.name}")
    return new


def state_diagram() -> str:
    """The table as a Mermaid state diagram (pasted into docs/acd.md)."""
    lines = ["stateDiagram-v2"]
    for state, row in AGENT_TRANSITIONS.items():
        for trigger, new in row.items():
            lines.append(f"    {state.name} --> {new.name}: {trigger.value}")
    return "\n".join(lines)


# Why an agent in each state other than READY cannot take a call (decision records).
STATE_EXCLUSIONS = {s.value: "wrap-up" if s is AgentState.WRAP_UP else f"state:{s.value}" for s in AgentState if s is not AgentState.READY}


@dataclass(slots=True, eq=False)
class AgentRecord:
    """One agent's row: profile, state and the counters the strategies rank by."""

    id: AgentId
    skills: dict[str, int]
    queues: tuple[QueueName, ...]
    max_calls: int | None = None
    interface: str = ""
    state: AgentState = AgentState.LOGGED_OUT
    reason: str = ""  # pause reason while NOT_READY
    pending_pause: str | None = None  # asked for while on a call
    call_id: CallId | None = None
    idle_since: float = 0.0
    login_at: float = 0.0
    busy_s: float = 0.0  # reserved + on call + wrap-up, since login
    busy_since: float | None = None
    calls_handled: int = 0  # since login
    # The engine's caches, rebuilt when the profile changes, so a state change touches the
    # containers directly instead of looking them up by key:
    index_keys: tuple[tuple[str, str, int], ...] = ()  # (queue, skill, level) and (queue, "", 0)
    pools: tuple[set[AgentId], ...] = ()  # the ready pools the agent joins when READY
    shelves: tuple[Any, ...] = ()  # own level, the engine's shelf for (queue, skill), flat: one tuple less to read
    state_counts: tuple[dict[str, int], ...] = ()  # per queue: agents by state value
    indexed: bool = False  # in the engine's ready pools

    def occupancy(self, now: float) -> float:
        logged = now - self.login_at
        if logged <= 0:
            return 0.0
        busy = self.busy_s + (now - self.busy_since if self.busy_since is not None else 0.0)
        return busy / logged

    def meets(self, reqs: tuple[SkillRequirement, ...]) -> bool:
        skills = self.skills
        for r in reqs:  # noqa: SIM110 - a plain loop: all() over a generator is 3x slower here
            if skills.get(r.skill, 0) < r.min_level:
                return False
        return True

    def exclusion(self, reqs: tuple[SkillRequirement, ...]) -> str | None:
        """Why this agent cannot take a call with `reqs` now, or None if it can."""
        state = self.state
        if state is not AgentState.READY:
            return STATE_EXCLUSIONS[state._value_]
        for r in reqs:
            have = self.skills.get(r.skill, 0)
            if have == 0:
                return f"skill:{r.skill}"
            if have < r.min_level:
                return f"level:{r.skill} {have}<{r.min_level}"
        return None
