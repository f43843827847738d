"""The domain vocabulary: every fact and command the rooms exchange.

Theory of operation
-------------------
* Facts are past tense (`CallArrived`, `AgentReady`); commands are imperative (`OfferCall`,
  `Hangup`). Both are frozen, slotted, keyword-only dataclasses, so they are cheap, hashable when
  their fields are, and cannot be changed after the fact.
* Asterisk's spellings stop at `pbx/`. Here `call_id` is Asterisk's Linkedid (one id for every
  channel of a call, stable across transfers), `channel_id` its Uniqueid.
* Every message has a wire name (`call.arrived`) and a version. `to_json` gives
  `{"type": "call.arrived", "v": 1, ...fields}`; `from_json` gives the same object back. The CTI
  WebSocket, the CRM's event table and `callcenter replay` all use this one form, so there is no
  second DTO layer. Renaming or retyping a field is a versioned change: bump `v`.
* Times are `at`: seconds since the epoch as a float, supplied by whoever observed the fact (the
  pure cores never read a clock; they receive `now`).

Rule 1: a room that needs a new fact or command adds it here, in its section, with `@message`.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NewType, TypeVar, Union, get_args, get_origin

# --------------------------------------------------------------------------------------------
# Identifiers
# --------------------------------------------------------------------------------------------

CallId = NewType("CallId", str)  # Asterisk Linkedid
ChannelId = NewType("ChannelId", str)  # Asterisk Uniqueid
BridgeId = NewType("BridgeId", str)  # Asterisk BridgeUniqueid
AgentId = NewType("AgentId", str)
QueueName = NewType("QueueName", str)
CustomerId = NewType("CustomerId", str)
CampaignId = NewType("CampaignId", str)
ContactId = NewType("ContactId", str)
RecordingId = NewType("RecordingId", str)
TimerId = NewType("TimerId", str)
DecisionId = NewType("DecisionId", str)


# --------------------------------------------------------------------------------------------
# Enumerations shared by several rooms
# --------------------------------------------------------------------------------------------


class Direction(enum.StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"
    INTERNAL = "internal"


class ChannelState(enum.StrEnum):
    """Asterisk's ChannelStateDesc values, named for the domain."""

    DOWN = "down"
    RESERVED = "reserved"
    OFFHOOK = "offhook"
    DIALING = "dialing"
    RING = "ring"  # inbound, not yet answered
    RINGING = "ringing"  # outbound, far end alerting
    UP = "up"
    BUSY = "busy"
    DIALING_OFFHOOK = "dialing-offhook"
    PRERING = "pre-ring"
    UNKNOWN = "unknown"


class DialStatus(enum.StrEnum):
    """Asterisk's DIALSTATUS values."""

    ANSWER = "ANSWER"
    BUSY = "BUSY"
    NOANSWER = "NOANSWER"
    CANCEL = "CANCEL"
    CONGESTION = "CONGESTION"
    CHANUNAVAIL = "CHANUNAVAIL"
    DONTCALL = "DONTCALL"
    TORTURE = "TORTURE"
    INVALIDARGS = "INVALIDARGS"
    PROGRESS = "PROGRESS"  # DialState only
    RINGING = "RINGING"  # DialState only


class HangupSide(enum.StrEnum):
    CALLER = "caller"
    AGENT = "agent"
    SYSTEM = "system"
    UNKNOWN = "unknown"


class AgentState(enum.StrEnum):
    LOGGED_OUT = "logged-out"
    READY = "ready"
    RESERVED = "reserved"  # an offer is ringing the agent's phone
    ON_CALL = "on-call"
    WRAP_UP = "wrap-up"
    NOT_READY = "not-ready"
    OUTBOUND = "outbound"


class CallOutcome(enum.StrEnum):
    ANSWERED = "answered"
    ABANDONED = "abandoned"
    OVERFLOWED = "overflowed"
    FALLBACK = "fallback"
    SELF_SERVICE = "self-service"  # ended in the IVR, no agent needed
    CALLBACK = "callback"
    FAILED = "failed"


# --------------------------------------------------------------------------------------------
# Message registry and JSON form
# --------------------------------------------------------------------------------------------

JsonDict = dict[str, Any]
M = TypeVar("M")

_BY_NAME: dict[str, type[Any]] = {}
_NAME_OF: dict[type[Any], tuple[str, int]] = {}
_HINTS: dict[type[Any], dict[str, Any]] = {}


def message(name: str, *, v: int = 1) -> Callable[[type[M]], type[M]]:
    """Register a dataclass as a message with wire name `name` and version `v`."""

    def register(cls: type[M]) -> type[M]:
        if name in _BY_NAME:
            raise ValueError(f"message name {name!r} is already used by {_BY_NAME[name].__name__}")
        if not dataclasses.is_dataclass(cls):
            raise TypeError(f"{cls.__name__} must be a dataclass to be a message")
        _BY_NAME[name] = cls
        _NAME_OF[cls] = (name, v)
        return fast_construction(cls)

    return register


def _rebuild(cls: type[M], values: tuple[Any, ...]) -> M:
    return cls(**dict(zip(cls.__slots__, values, strict=True)))  # type: ignore[attr-defined]


def fast_construction(cls: type[M]) -> type[M]:
    """Give a frozen, slotted dataclass a constructor that costs about half as much.

    A frozen dataclass's `__init__` sets every field through `object.__setattr__` (frozen means
    its own `__setattr__` raises), about 0.15 µs a field; the ACD builds several messages per
    decision and the call tracker one per AMI event. Here `__new__` fills a plain twin class with
    the same slots using ordinary stores and then makes it an instance of `cls`: the object is
    exactly what the dataclass would have built (same slots, same class, still frozen), with the
    dataclass's own signature and defaults. `__reduce__` keeps pickle and `copy` working, which
    would otherwise call `__new__` without arguments. Classes with `__post_init__`, `InitVar` or
    `init=False` fields keep the dataclass's own constructor.
    """
    params = getattr(cls, "__dataclass_params__", None)
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    slots = getattr(cls, "__slots__", ())
    if (
        params is None
        or not params.frozen
        or tuple(slots) != tuple(f.name for f in fields)
        or hasattr(cls, "__post_init__")
        or any(not f.init for f in fields)
        or len(fields) != len(cls.__dataclass_fields__)  # type: ignore[attr-defined]
        or len({f.kw_only for f in fields}) > 1
    ):
        return cls
    namespace: dict[str, Any] = {"_new": object.__new__, "_twin": type(f"_{cls.__name__}Builder", (), {"__slots__": slots})}
    signature, body = [], []
    for f in fields:
        if f.default is not dataclasses.MISSING:
            namespace[f"_default_{f.name}"] = f.default
            signature.append(f"{f.name}=_default_{f.name}")
        elif f.default_factory is not dataclasses.MISSING:
            namespace[f"_factory_{f.name}"] = f.default_factory
            signature.append(f"{f.name}=_new")  # a sentinel nobody passes
            body.append(f"    if {f.name} is _new: {f.name} = _factory_{f.name}()")
        else:
            signature.append(f.name)
        body.append(f"    self.{f.name} = {f.name}")
    star = "*, " if fields and fields[0].kw_only else ""
    source = "\n".join(
        [f"def __new__(cls, {star}{', '.join(signature)}):", "    self = _new(_twin)", *body, "    self.__class__ = cls", "    return self"]
    )
    exec(source, namespace)  # noqa: S102 - built from the dataclass's own field names, not from input
    new = namespace["__new__"]
    new.__qualname__ = f"{cls.__qualname__}.__new__"
    cls.__new__ = new  # type: ignore[method-assign]
    cls.__init__ = object.__init__  # type: ignore[method-assign]
    cls.__reduce__ = lambda self: (_rebuild, (type(self), tuple([getattr(self, n) for n in slots])))  # type: ignore[method-assign]
    return cls


def message_name(obj_or_cls: object) -> str:
    cls = obj_or_cls if isinstance(obj_or_cls, type) else type(obj_or_cls)
    return _NAME_OF[cls][0]


def message_types() -> dict[str, type[Any]]:
    """Every registered message by wire name (for docs, schema generation and tests)."""
    return dict(_BY_NAME)


def _hints(cls: type[Any]) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = typing.get_type_hints(cls)
        _HINTS[cls] = hints
    return hints


def _to_plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_to_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _to_plain(v) for k, v in value.items()}
    return value


def to_json(msg: object) -> JsonDict:
    """`{"type": name, "v": version, **fields}` with enums as their values and tuples as lists."""
    name, v = _NAME_OF[type(msg)]
    out: JsonDict = {"type": name, "v": v}
    for f in dataclasses.fields(msg):  # type: ignore[arg-type]
        out[f.name] = _to_plain(getattr(msg, f.name))
    return out


class MessageDecodeError(ValueError):
    """A JSON message could not be turned back into a domain object."""


def _from_plain(tp: Any, value: Any, where: str) -> Any:
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _from_plain(arg, value, where)
            except MessageDecodeError as exc:
                errors.append(str(exc))
        raise MessageDecodeError(f"{where}: {value!r} matches none of {tp}")
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise MessageDecodeError(f"{where}: expected a list, got {type(value).__name__}")
        args = get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_from_plain(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
        if len(args) != len(value):
            raise MessageDecodeError(f"{where}: expected {len(args)} items, got {len(value)}")
        return tuple(_from_plain(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True)))
    if origin is dict:
        if not isinstance(value, dict):
            raise MessageDecodeError(f"{where}: expected an object, got {type(value).__name__}")
        kt, vt = get_args(tp)
        return {_from_plain(kt, k, where): _from_plain(vt, v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(value)
        except ValueError:
            raise MessageDecodeError(f"{where}: {value!r} is not a valid {tp.__name__}") from None
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise MessageDecodeError(f"{where}: expected an object, got {type(value).__name__}")
        return _build(tp, value, where)
    supertype = getattr(tp, "__supertype__", None)  # NewType
    if supertype is not None:
        return _from_plain(supertype, value, where)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise MessageDecodeError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp in (str, int, bool):
        if not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
            raise MessageDecodeError(f"{where}: expected {tp.__name__}, got {value!r}")
        return value
    if tp is type(None):
        if value is not None:
            raise MessageDecodeError(f"{where}: expected null, got {value!r}")
        return None
    raise MessageDecodeError(f"{where}: cannot decode type {tp!r}")


def _build(cls: type[Any], data: JsonDict, where: str) -> Any:
    hints = _hints(cls)
    kwargs: dict[str, Any] = {}
    names = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in names and key not in ("type", "v"):
            raise MessageDecodeError(f"{where}: unknown field {key!r}")
    for f in dataclasses.fields(cls):
        if f.name in data:
            kwargs[f.name] = _from_plain(hints[f.name], data[f.name], f"{where}.{f.name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise MessageDecodeError(f"{where}: missing field {f.name!r}")
    return cls(**kwargs)


def from_json(data: JsonDict) -> Any:
    """The inverse of `to_json`. Raises `MessageDecodeError` naming the field that is wrong."""
    if not isinstance(data, dict):
        raise MessageDecodeError(f"message: expected an object, got {type(data).__name__}")
    name = data.get("type")
    if not isinstance(name, str) or name not in _BY_NAME:
        raise MessageDecodeError(f"message: unknown type {name!r}")
    cls = _BY_NAME[name]
    want_v = _NAME_OF[cls][1]
    if data.get("v", want_v) != want_v:
        raise MessageDecodeError(f"{name}: version {data.get('v')!r} is not supported (expected {want_v})")
    return _build(cls, data, name)


# --------------------------------------------------------------------------------------------
# Calls and channels (pbx/ translates AMI into these)
# --------------------------------------------------------------------------------------------


@message("call.arrived")
@dataclass(frozen=True, slots=True, kw_only=True)
class CallArrived:
    """A new call reached us: its first channel appeared (inbound) or was originated (outbound)."""

    call_id: CallId
    channel_id: ChannelId
    channel: str  # e.g. PJSIP/trunk-00000001
    ani: str  # caller number as presented; "" when withheld
    dnis: str  # the number dialled
    direction: Direction = Direction.INBOUND
    caller_name: str = ""
    at: float


@message("channel.created")
@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelCreated:
    call_id: CallId
    channel_id: ChannelId
    channel: str
    state: ChannelState
    caller_num: str = ""
    caller_name: str = ""
    exten: str = ""
    context: str = ""
    at: float


@message("channel.state-changed")
@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelStateChanged:
    call_id: CallId
    channel_id: ChannelId
    state: ChannelState
    at: float


@message("channel.dialplan-entered")
@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelEnteredDialplan:
    """Newexten: a channel started an application at context/exten/priority."""

    call_id: CallId
    channel_id: ChannelId
    context: str
    exten: str
    priority: int
    application: str
    app_data: str = ""
    at: float


@message("dial.began")
@dataclass(frozen=True, slots=True, kw_only=True)
class DialBegan:
    call_id: CallId
    channel_id: ChannelId | None  # None when the caller is not a channel (AMI Originate)
    dest_channel_id: ChannelId
    dest_channel: str
    dial_string: str
    at: float


@message("dial.ended")
@dataclass(frozen=True, slots=True, kw_only=True)
class DialEnded:
    call_id: CallId
    channel_id: ChannelId | None
    dest_channel_id: ChannelId
    status: DialStatus
    at: float


@message("channel.bridged")
@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelBridged:
    call_id: CallId
    channel_id: ChannelId
    bridge_id: BridgeId
    at: float


@message("channel.unbridged")
@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelUnbridged:
    call_id: CallId
    channel_id: ChannelId
    bridge_id: BridgeId
    at: float


@message("channel.held")
@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelHeld:
    call_id: CallId
    channel_id: ChannelId
    at: float


@message("channel.unheld")
@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelUnheld:
    call_id: CallId
    channel_id: ChannelId
    at: float


@message("channel.hung-up")
@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelHungUp:
    call_id: CallId
    channel_id: ChannelId
    cause: int  # Q.850 cause code
    cause_txt: str = ""
    at: float


@message("call.ended")
@dataclass(frozen=True, slots=True, kw_only=True)
class CallEnded:
    """The last channel of a call hung up."""

    call_id: CallId
    hangup_side: HangupSide = HangupSide.UNKNOWN
    cause: int = 16
    at: float


@message("call.transferred")
@dataclass(frozen=True, slots=True, kw_only=True)
class CallTransferred:
    call_id: CallId
    kind: str  # "blind" | "attended"
    target: str
    by_agent: AgentId | None = None
    at: float


@message("dtmf.received")
@dataclass(frozen=True, slots=True, kw_only=True)
class DtmfReceived:
    call_id: CallId
    channel_id: ChannelId
    digit: str
    at: float


@message("variable.set")
@dataclass(frozen=True, slots=True, kw_only=True)
class VariableSet:
    call_id: CallId
    channel_id: ChannelId
    name: str
    value: str
    at: float


@message("user.event")
@dataclass(frozen=True, slots=True, kw_only=True)
class UserEventReceived:
    """A dialplan UserEvent (e.g. the fallback path announcing itself)."""

    call_id: CallId | None
    channel_id: ChannelId | None
    name: str
    fields: tuple[tuple[str, str], ...] = ()
    at: float


@message("call.originate-failed")
@dataclass(frozen=True, slots=True, kw_only=True)
class OriginateFailed:
    """An `Originate` did not reach its destination (OriginateResponse: Failure)."""

    request_id: str  # the Originate command's request_id
    call_id: CallId | None = None  # None when Asterisk could not even create the channel
    reason: str  # "busy" | "no-answer" | "congestion" | "hangup" | "failed"
    at: float


# --------------------------------------------------------------------------------------------
# Routing requests and queueing (routing_rules/ builds the request, acd/ serves it)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SkillRequirement:
    skill: str
    min_level: int = 1  # proficiency 1..5


@dataclass(frozen=True, slots=True, kw_only=True)
class RelaxationStep:
    """After `after_s` seconds of waiting, the requirements become `skills` (usually looser)."""

    after_s: float
    skills: tuple[SkillRequirement, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class RoutingRequest:
    queue: QueueName
    skills: tuple[SkillRequirement, ...] = ()
    priority_class: str = "standard"  # e.g. "vip", "gold", "standard"
    priority: int = 0  # larger is served first
    relaxation: tuple[RelaxationStep, ...] = ()
    overflow_queue: QueueName | None = None
    overflow_after_s: float | None = None
    max_wait_s: float | None = None
    rule: str = ""  # which routing rule produced this request
    explanation: str = ""


@message("call.queued")
@dataclass(frozen=True, slots=True, kw_only=True)
class CallQueued:
    call_id: CallId
    channel_id: ChannelId | None = None
    request: RoutingRequest
    ani: str = ""
    dnis: str = ""
    customer_id: CustomerId | None = None
    at: float


@message("call.priority-changed")
@dataclass(frozen=True, slots=True, kw_only=True)
class CallPriorityChanged:
    call_id: CallId
    priority_class: str
    priority: int
    at: float


@message("call.offered")
@dataclass(frozen=True, slots=True, kw_only=True)
class CallOffered:
    """The ACD reserved an agent for the call and the agent's phone is being rung."""

    call_id: CallId
    agent_id: AgentId
    queue: QueueName
    decision_id: DecisionId | None = None
    at: float


@message("call.answered")
@dataclass(frozen=True, slots=True, kw_only=True)
class CallAnswered:
    """The agent picked up: caller and agent are bridged."""

    call_id: CallId
    agent_id: AgentId
    at: float


@message("call.offer-not-answered")
@dataclass(frozen=True, slots=True, kw_only=True)
class OfferNotAnswered:
    """Ring-no-answer (or busy/unavailable phone) for an offer."""

    call_id: CallId
    agent_id: AgentId
    reason: str = "no-answer"
    at: float


@message("call.abandoned")
@dataclass(frozen=True, slots=True, kw_only=True)
class CallAbandoned:
    call_id: CallId
    queue: QueueName | None = None
    waited_s: float = 0.0
    at: float


@message("call.overflowed")
@dataclass(frozen=True, slots=True, kw_only=True)
class CallOverflowed:
    call_id: CallId
    from_queue: QueueName
    to_queue: QueueName
    at: float


@message("call.sent-to-fallback")
@dataclass(frozen=True, slots=True, kw_only=True)
class CallSentToFallback:
    call_id: CallId
    queue: QueueName | None = None
    reason: str = ""
    at: float


# --------------------------------------------------------------------------------------------
# Agents
# --------------------------------------------------------------------------------------------


@message("agent.logged-in")
@dataclass(frozen=True, slots=True, kw_only=True)
class AgentLoggedIn:
    agent_id: AgentId
    interface: str  # what Dial() rings, e.g. PJSIP/1001
    at: float


@message("agent.logged-out")
@dataclass(frozen=True, slots=True, kw_only=True)
class AgentLoggedOut:
    agent_id: AgentId
    at: float


@message("agent.ready")
@dataclass(frozen=True, slots=True, kw_only=True)
class AgentReady:
    agent_id: AgentId
    at: float


@message("agent.not-ready")
@dataclass(frozen=True, slots=True, kw_only=True)
class AgentNotReady:
    agent_id: AgentId
    reason: str = ""
    at: float


@message("agent.wrap-up-ended")
@dataclass(frozen=True, slots=True, kw_only=True)
class WrapUpEnded:
    agent_id: AgentId
    call_id: CallId | None = None
    disposition: str = ""
    notes: str = ""
    at: float


@message("agent.state-changed")
@dataclass(frozen=True, slots=True, kw_only=True)
class AgentStateChanged:
    """Emitted by the ACD on every agent transition, for CTI, wallboards and the CRM history."""

    agent_id: AgentId
    old: AgentState
    new: AgentState
    reason: str = ""
    call_id: CallId | None = None
    at: float


# --------------------------------------------------------------------------------------------
# ACD: agent profiles, outbound state and decision records (acd/ emits and consumes these)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentSkill:
    skill: str
    level: int = 1  # proficiency 1..5


@message("agent.profile-updated")
@dataclass(frozen=True, slots=True, kw_only=True)
class AgentProfileUpdated:
    """An agent's skills, queues or limits were set (admin edit, CRM load); applies from `at` on."""

    agent_id: AgentId
    skills: tuple[AgentSkill, ...] = ()
    queues: tuple[QueueName, ...] = ()
    max_calls: int | None = None  # calls per login before the agent is paused with reason "max-calls"
    at: float


@message("agent.outbound-started")
@dataclass(frozen=True, slots=True, kw_only=True)
class AgentOutboundStarted:
    """The agent placed (or was connected to) an outbound call outside the ACD's offers."""

    agent_id: AgentId
    call_id: CallId
    at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class DecisionCandidate:
    """One agent (for a call) or one call (for an agent) that an ACD decision compared."""

    id: str
    score: tuple[float, ...]  # the strategy's sort key; the smallest wins
    note: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class DecisionExclusion:
    agent_id: AgentId
    reason: str  # "state:<state>", "wrap-up", "skill:<skill>", "level:<skill> <have> < <need>"


@message("acd.routing-decided")
@dataclass(frozen=True, slots=True, kw_only=True)
class RoutingDecided:
    """The decision record behind one offer: who was considered, who was excluded and why."""

    decision_id: DecisionId
    call_id: CallId
    agent_id: AgentId
    queue: QueueName
    trigger: str  # what prompted the decision: "call-queued", "agent-ready", "relaxed", ...
    strategy: str
    priority_class: str
    call_score_s: float  # wait + head start: the one rule that ranks calls across queues
    wait_s: float
    relaxation_step: int  # 0: the request's own skills; n: the n-th relaxation step
    requirements: tuple[SkillRequirement, ...] = ()
    candidates: tuple[DecisionCandidate, ...] = ()  # best first, at most the engine's explain limit
    candidate_count: int = 0
    excluded: tuple[DecisionExclusion, ...] = ()  # at most the explain limit
    excluded_counts: tuple[tuple[str, int], ...] = ()  # reason kind -> agents, over the whole queue
    tie_break: str = ""
    rule: str = ""  # the routing rule that produced the request
    at: float


# --------------------------------------------------------------------------------------------
# Timers (pure cores ask for them as commands; they come back as facts)
# --------------------------------------------------------------------------------------------


@message("timer.start")
@dataclass(frozen=True, slots=True, kw_only=True)
class StartTimer:
    timer_id: TimerId
    delay_s: float


@message("timer.cancel")
@dataclass(frozen=True, slots=True, kw_only=True)
class CancelTimer:
    timer_id: TimerId


@message("timer.expired")
@dataclass(frozen=True, slots=True, kw_only=True)
class TimerExpired:
    timer_id: TimerId
    at: float


# --------------------------------------------------------------------------------------------
# IVR
# --------------------------------------------------------------------------------------------


@message("ivr.entered")
@dataclass(frozen=True, slots=True, kw_only=True)
class IvrEntered:
    call_id: CallId
    channel_id: ChannelId
    flow: str
    flow_version: str
    language: str = ""
    at: float


@message("ivr.input")
@dataclass(frozen=True, slots=True, kw_only=True)
class IvrInput:
    call_id: CallId
    node: str
    kind: str  # "dtmf" | "speech" | "timeout" | "no-match"
    value: str  # masked for sensitive nodes
    confidence: float | None = None
    at: float


@message("ivr.exited")
@dataclass(frozen=True, slots=True, kw_only=True)
class IvrExited:
    call_id: CallId
    flow: str
    path: tuple[str, ...]  # node ids in order
    outcome: str  # "route" | "hangup" | "transfer" | "voicemail" | "callback" | "caller-hung-up"
    variables: tuple[tuple[str, str], ...] = ()
    at: float


# --------------------------------------------------------------------------------------------
# Recording
# --------------------------------------------------------------------------------------------


@message("recording.started")
@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingStarted:
    call_id: CallId
    recording_id: RecordingId
    channel_id: ChannelId
    at: float


@message("recording.paused")
@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingPaused:
    call_id: CallId
    recording_id: RecordingId
    by: str = ""
    at: float


@message("recording.resumed")
@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingResumed:
    call_id: CallId
    recording_id: RecordingId
    by: str = ""
    at: float


@message("recording.mute-changed")
@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingMuteChanged:
    """Asterisk confirms a MixMonitorMute (the PBX's view). Who asked and why is the recorder's
    audit fact, RecordingPaused / RecordingResumed."""

    call_id: CallId
    recording_id: RecordingId
    channel_id: ChannelId
    muted: bool
    direction: str  # "read" | "write" | "both", as Asterisk reports it
    at: float


@message("recording.stopped")
@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingStopped:
    call_id: CallId
    recording_id: RecordingId
    at: float


@message("recording.start-requested")
@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingStartRequested:
    """Someone asked to record this call now (on-demand recording: the agent's CTI button)."""

    call_id: CallId
    by: str  # an agent id, a supervisor's login, or "ivr:<node>"
    at: float


@message("recording.stop-requested")
@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingStopRequested:
    call_id: CallId
    by: str
    at: float


@message("recording.pause-requested")
@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingPauseRequested:
    """Sensitive input is about to be spoken or keyed (PCI: card number): stop capturing audio."""

    call_id: CallId
    by: str
    reason: str = "pci"
    at: float


@message("recording.resume-requested")
@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingResumeRequested:
    call_id: CallId
    by: str
    at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class PausedSpan:
    """Seconds from the start of the recording during which it was muted (silence in the file)."""

    start_s: float
    end_s: float


@message("recording.processed")
@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingProcessed:
    """The legs were merged, encoded and stored: the CRM's recording-metadata row."""

    call_id: CallId
    recording_id: RecordingId
    path: str  # relative to the recordings directory: YYYY/MM/DD/<recording_id>.<ext>
    format: str  # "ogg" (Opus) | "mp3" | "flac" | "wav"
    sha256: str
    size_bytes: int
    duration_s: float
    started_at: float
    paused_spans: tuple[PausedSpan, ...] = ()
    at: float


@message("recording.flagged")
@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingFlagged:
    """The transcript contains words from the queue's or campaign's keyword list: review the call."""

    call_id: CallId
    recording_id: RecordingId
    keywords: tuple[str, ...]
    at: float


@message("recording.deleted")
@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingDeleted:
    """Retention removed the recording and its transcript."""

    call_id: CallId
    recording_id: RecordingId
    path: str
    reason: str
    at: float


# --------------------------------------------------------------------------------------------
# Outbound campaigns
# --------------------------------------------------------------------------------------------


@message("campaign.dial-attempted")
@dataclass(frozen=True, slots=True, kw_only=True)
class DialAttempted:
    campaign_id: CampaignId
    contact_id: ContactId
    number: str
    call_id: CallId | None = None
    at: float


@message("campaign.attempt-ended")
@dataclass(frozen=True, slots=True, kw_only=True)
class AttemptEnded:
    campaign_id: CampaignId
    contact_id: ContactId
    outcome: str  # "human" | "machine" | "busy" | "no-answer" | "failed" | "abandoned"
    call_id: CallId | None = None
    at: float


@message("campaign.dial-decided")
@dataclass(frozen=True, slots=True, kw_only=True)
class DialDecided:
    """Compliance's answer before a dial, kept for every dial and every no-dial (dialer/compliance.py)."""

    campaign_id: CampaignId
    contact_id: ContactId
    number: str
    allowed: bool
    reasons: tuple[str, ...] = ()  # compliance.Reason values, e.g. "outside-calling-window"
    next_allowed_at: float | None = None  # None: never again in this campaign
    agent_reserved: bool = False
    at: float


@message("campaign.call-queued")
@dataclass(frozen=True, slots=True, kw_only=True)
class CampaignCallQueued:
    """A campaign's live answer waits in the ACD for an agent: the contact for the screen pop."""

    campaign_id: CampaignId
    contact_id: ContactId
    call_id: CallId
    number: str
    name: str = ""
    customer_id: CustomerId | None = None
    script: str = ""
    fields: tuple[tuple[str, str], ...] = ()  # the contact list's other columns
    at: float


@message("campaign.preview-offered")
@dataclass(frozen=True, slots=True, kw_only=True)
class PreviewOffered:
    """Preview mode: the runner offers the next contact to the agent it reserved (agent desktop)."""

    campaign_id: CampaignId
    contact_id: ContactId
    agent_id: AgentId
    name: str = ""
    number: str  # masked but the last 4 digits: the desktop needs no more to decide
    script: str = ""
    customer_id: CustomerId | None = None  # the customer card to show
    at: float


@message("campaign.preview-accepted")
@dataclass(frozen=True, slots=True, kw_only=True)
class PreviewAccepted:
    """The agent asked for the offered contact to be dialed (published by the CTI)."""

    campaign_id: CampaignId
    contact_id: ContactId
    agent_id: AgentId
    at: float


@message("campaign.preview-skipped")
@dataclass(frozen=True, slots=True, kw_only=True)
class PreviewSkipped:
    """The agent passed on the offered contact (published by the CTI); the next one is offered."""

    campaign_id: CampaignId
    contact_id: ContactId
    agent_id: AgentId
    at: float


@message("campaign.preview-withdrawn")
@dataclass(frozen=True, slots=True, kw_only=True)
class PreviewWithdrawn:
    """The runner took an offer back: the agent left READY (an inbound call, a break) or the
    campaign stopped; the contact waits for the next offer."""

    campaign_id: CampaignId
    contact_id: ContactId
    agent_id: AgentId
    at: float


# --------------------------------------------------------------------------------------------
# Commands (imperative). The PBX command port turns these into AMI actions.
# --------------------------------------------------------------------------------------------


@message("cmd.offer-call")
@dataclass(frozen=True, slots=True, kw_only=True)
class OfferCall:
    """Ring `agent_id` for `call_id`: the channel is sent to `[acd-connect]` to dial `interface`."""

    call_id: CallId
    agent_id: AgentId
    interface: str
    queue: QueueName
    ring_timeout_s: float = 15.0
    decision_id: DecisionId | None = None


@message("cmd.set-variable")
@dataclass(frozen=True, slots=True, kw_only=True)
class SetVariable:
    channel_id: ChannelId
    name: str
    value: str


@message("cmd.redirect")
@dataclass(frozen=True, slots=True, kw_only=True)
class Redirect:
    channel_id: ChannelId
    context: str
    exten: str
    priority: int = 1
    extra_channel_id: ChannelId | None = None


@message("cmd.hangup")
@dataclass(frozen=True, slots=True, kw_only=True)
class Hangup:
    channel_id: ChannelId
    cause: int = 16


@message("cmd.originate")
@dataclass(frozen=True, slots=True, kw_only=True)
class Originate:
    """Place a call: dial `destination` and, when it answers, run context/exten/priority."""

    destination: str  # e.g. PJSIP/13800138000@trunk
    context: str
    exten: str
    priority: int = 1
    caller_id: str = ""
    timeout_s: float = 30.0
    variables: tuple[tuple[str, str], ...] = ()
    request_id: str = ""  # correlates the OriginateResponse


@message("cmd.send-to-fallback")
@dataclass(frozen=True, slots=True, kw_only=True)
class SendToFallback:
    call_id: CallId
    reason: str = ""


@message("cmd.blind-transfer")
@dataclass(frozen=True, slots=True, kw_only=True)
class BlindTransfer:
    channel_id: ChannelId
    context: str
    exten: str


@message("cmd.attended-transfer")
@dataclass(frozen=True, slots=True, kw_only=True)
class AttendedTransfer:
    channel_id: ChannelId
    exten: str
    context: str = ""


@message("cmd.hold")
@dataclass(frozen=True, slots=True, kw_only=True)
class Hold:
    channel_id: ChannelId


@message("cmd.unhold")
@dataclass(frozen=True, slots=True, kw_only=True)
class Unhold:
    channel_id: ChannelId


@message("cmd.start-recording")
@dataclass(frozen=True, slots=True, kw_only=True)
class StartRecording:
    call_id: CallId
    channel_id: ChannelId
    recording_id: RecordingId
    file: str
    options: str = ""
    rx_file: str = ""  # separate legs: MixMonitor r(), what the channel says (read from it)
    tx_file: str = ""  # MixMonitor t(), what the channel hears (written to it)


@message("cmd.stop-recording")
@dataclass(frozen=True, slots=True, kw_only=True)
class StopRecording:
    call_id: CallId
    channel_id: ChannelId
    recording_id: RecordingId


@message("cmd.mute-recording")
@dataclass(frozen=True, slots=True, kw_only=True)
class MuteRecording:
    channel_id: ChannelId
    recording_id: RecordingId
    mute: bool
    direction: str = "both"  # "read" | "write" | "both"


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingLeg:
    speaker: str  # "customer" | "agent"
    file: str
    start_offset_s: float = 0.0  # when this leg's first sample was taken, from the recording's start


@message("cmd.process-recording")
@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessRecording:
    """The legs are complete: merge, encode, checksum, store and transcribe them (recorder/jobs.py)."""

    call_id: CallId
    recording_id: RecordingId
    legs: tuple[RecordingLeg, ...]
    started_at: float
    paused_spans: tuple[PausedSpan, ...] = ()
    direction: Direction = Direction.INBOUND
    queue: QueueName | None = None
    campaign_id: CampaignId | None = None
    agent_id: AgentId | None = None


@message("cmd.play-dtmf")
@dataclass(frozen=True, slots=True, kw_only=True)
class PlayDtmf:
    channel_id: ChannelId
    digit: str


@message("cmd.announce")
@dataclass(frozen=True, slots=True, kw_only=True)
class Announce:
    """Tell a waiting caller something (EWT, position) on the next announcement cycle."""

    call_id: CallId
    channel_id: ChannelId | None = None
    text: str = ""
    ewt_s: float | None = None
    position: int | None = None


@message("cmd.offer-callback")
@dataclass(frozen=True, slots=True, kw_only=True)
class OfferCallback:
    call_id: CallId
    reason: str = ""


# --------------------------------------------------------------------------------------------
# CTI (cti/ sends these to desktops, supervisors and wallboards; an agent's clicks become the
# facts and commands above, plus these)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PopInteraction:
    call_id: str
    at: float
    queue: str | None = None
    agent_id: str | None = None
    outcome: str = ""
    disposition: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class PopCustomer:
    """The customer card of a screen pop (money as a decimal string, never a float)."""

    customer_id: CustomerId
    account_number: str
    name: str
    tier: str
    segment: str
    balance: str
    plan: str = ""
    language: str = ""
    open_complaints: int = 0
    last_interactions: tuple[PopInteraction, ...] = ()


@message("cti.screen-pop")
@dataclass(frozen=True, slots=True, kw_only=True)
class ScreenPop:
    """What the agent's desktop shows when a call is offered, before the agent picks up."""

    call_id: CallId
    agent_id: AgentId
    ani: str
    dnis: str
    queue: QueueName | None = None
    priority_class: str = ""
    ivr_flow: str = ""
    ivr_path: tuple[str, ...] = ()
    ivr_inputs: tuple[tuple[str, str], ...] = ()
    waited_s: float = 0.0
    routing_summary: str = ""
    customer: PopCustomer | None = None
    recording_id: RecordingId | None = None
    at: float


@message("cti.callback-requested")
@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackRequested:
    """An agent asked for the customer to be called back (the dialer or a person acts on it)."""

    call_id: CallId | None
    agent_id: AgentId
    number: str
    not_before: float | None = None
    notes: str = ""
    at: float


@message("cti.request-done")
@dataclass(frozen=True, slots=True, kw_only=True)
class CtiRequestDone:
    """A desktop's request (`request_id` is the client's own) was carried out."""

    request_id: str
    action: str
    at: float


@message("cti.request-failed")
@dataclass(frozen=True, slots=True, kw_only=True)
class CtiRequestFailed:
    """A desktop's request failed; `error_id` is stable (callcenter.errors.DomainError)."""

    request_id: str
    action: str
    error_id: str
    message: str
    details: dict[str, Any] = dataclasses.field(default_factory=dict)
    at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueSnapshot:
    queue: QueueName
    waiting: int = 0
    longest_wait_s: float = 0.0
    agents_ready: int = 0
    agents_busy: int = 0
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    service_level: float | None = None
    asa_s: float | None = None
    abandon_rate: float | None = None


@message("cti.queue-stats")
@dataclass(frozen=True, slots=True, kw_only=True)
class QueueStatsPublished:
    """The live queue figures for supervisors and wallboards, sent every second or so."""

    queues: tuple[QueueSnapshot, ...]
    at: float


@message("cmd.answer-call")
@dataclass(frozen=True, slots=True, kw_only=True)
class AnswerCall:
    """Make the agent's ringing phone pick up (SIP NOTIFY Event: talk on real phones)."""

    agent_id: AgentId
    call_id: CallId
    interface: str


# The value types inside messages (requirements, candidates, snapshots) are built as often as the
# messages themselves.
for _cls in list(globals().values()):
    if isinstance(_cls, type) and _cls.__module__ == __name__ and dataclasses.is_dataclass(_cls) and _cls not in _NAME_OF:
        fast_construction(_cls)
del _cls
