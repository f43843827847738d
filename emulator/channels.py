"""Channels and bridges as Asterisk 20 shows them on AMI, and the events they produce.

Theory of operation
-------------------
Pure data and formatting: no I/O, no clock (timestamps come in as arguments).

* `Channel` holds what Asterisk's channel snapshot holds (name, state, caller and connected line,
  context/exten/priority, Uniqueid, Linkedid) plus the variables and the application running.
  `Bridge` holds the bridge snapshot.
* `snapshot(channel, prefix)` and `bridge_snapshot(bridge, prefix)` write the header blocks in the
  order of `ast_manager_build_channel_state_string_prefix` / `..._bridge_state_...` (see
  ../shared/ami/wire-format-notes.md): empty caller/connected number and name become `<unknown>`,
  names are C-escaped, empty Language/AccountCode/Context/Exten stay empty.
* Each event function returns an `AmiEvent` (name, class, headers) with the body in the header
  order of spec/asterisk-wire-templates-20.20.1.json; `event_message` adds `Event:` and
  `Privilege: <class>,all` in front and the blank line after.
* Identifier rules: Uniqueid is `<epoch seconds>.<n>` with one counter for the whole process;
  Linkedid is the Uniqueid of the channel that started the call and is inherited by every channel
  dialled or originated on its behalf. Channel names are `PJSIP/<endpoint>-%08x` and
  `Local/<exten>@<context>-%08x;1|;2`, each technology with its own counter.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from pbx.ami import AmiMessage

Headers = list[tuple[str, str]]

STATE_DESC = {
    0: "Down",
    1: "Rsrvd",
    2: "OffHook",
    3: "Dialing",
    4: "Ring",
    5: "Ringing",
    6: "Up",
    7: "Busy",
    8: "Dialing Offhook",
    9: "Pre-ring",
    10: "Unknown",
}
DOWN, RING, RINGING, UP = 0, 4, 5, 6

# Q.850 causes the emulator produces, with Asterisk's texts (main/causes table).
CAUSE_TEXT = {
    0: "Unknown",
    16: "Normal Clearing",
    17: "User busy",
    18: "No user responding",
    19: "User alerting, no answer",
    20: "Subscriber absent",
    21: "Call Rejected",
    26: "Answered elsewhere",
    34: "Circuit/channel congestion",
    127: "Interworking, unspecified",
}
NORMAL_CLEARING, USER_BUSY, NO_ANSWER, SUBSCRIBER_ABSENT, CONGESTION = 16, 17, 19, 20, 34


@dataclass(slots=True, eq=False, repr=False)
class Channel:
    name: str
    uniqueid: str
    linkedid: str
    tech: str  # "PJSIP" | "Local"
    endpoint: str  # PJSIP endpoint name, or "exten@context" for Local
    created_at: float
    state: int = DOWN
    caller_num: str = ""
    caller_name: str = ""
    connected_num: str = ""
    connected_name: str = ""
    language: str = "en"
    accountcode: str = ""
    context: str = ""
    exten: str = ""
    priority: int = 1
    variables: dict[str, str] = field(default_factory=dict)
    application: str = ""
    appdata: str = ""
    bridge: Bridge | None = None
    hungup: bool = False
    hangup_cause: int = NORMAL_CLEARING
    dnid: str = ""
    answered_at: float | None = None

    def __repr__(self) -> str:
        return f"<Channel {self.name} {self.uniqueid}>"


@dataclass(slots=True, eq=False, repr=False)
class Bridge:
    uniqueid: str
    type: str = "basic"
    technology: str = "simple_bridge"
    creator: str = ""
    name: str = ""
    channels: list[Channel] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"<Bridge {self.uniqueid} {[c.name for c in self.channels]}>"


class AmiEvent(NamedTuple):
    """An event before framing: its name, its class (`call`, `dialplan`, ...) and its body."""

    name: str
    klass: str
    headers: Headers


def c_escape(value: str) -> str:
    """ast_escape_c: backslash escapes for control characters, quotes and backslashes."""
    if value.isprintable() and "\\" not in value and '"' not in value and "'" not in value and "?" not in value:
        return value
    table = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v",
             "\\": "\\\\", "'": "\\'", '"': '\\"', "?": "\\?"}
    return "".join(table.get(c, c) for c in value)


def snapshot(ch: Channel, prefix: str = "") -> Headers:
    return [
        (prefix + "Channel", ch.name),
        (prefix + "ChannelState", str(ch.state)),
        (prefix + "ChannelStateDesc", STATE_DESC[ch.state]),
        (prefix + "CallerIDNum", ch.caller_num or "<unknown>"),
        (prefix + "CallerIDName", c_escape(ch.caller_name) or "<unknown>"),
        (prefix + "ConnectedLineNum", ch.connected_num or "<unknown>"),
        (prefix + "ConnectedLineName", c_escape(ch.connected_name) or "<unknown>"),
        (prefix + "Language", ch.language),
        (prefix + "AccountCode", ch.accountcode),
        (prefix + "Context", ch.context),
        (prefix + "Exten", ch.exten),
        (prefix + "Priority", str(ch.priority)),
        (prefix + "Uniqueid", ch.uniqueid),
        (prefix + "Linkedid", ch.linkedid),
    ]


def bridge_snapshot(bridge: Bridge, prefix: str = "") -> Headers:
    return [
        (prefix + "BridgeUniqueid", bridge.uniqueid),
        (prefix + "BridgeType", bridge.type),
        (prefix + "BridgeTechnology", bridge.technology),
        (prefix + "BridgeCreator", bridge.creator or "<unknown>"),
        (prefix + "BridgeName", bridge.name or "<unknown>"),
        (prefix + "BridgeNumChannels", str(len(bridge.channels))),
        (prefix + "BridgeVideoSourceMode", "none"),
    ]


def event_message(event: AmiEvent, timestamp: float | None = None) -> AmiMessage:
    """The event as Asterisk writes it from the manager_event path: Event, Privilege, then
    `Timestamp` when manager.conf has `timestampevents = yes`, then the body."""
    first = [("Privilege", f"{event.klass},all")]
    if timestamp is not None:
        first.append(("Timestamp", f"{timestamp:.6f}"))
    return AmiMessage.event(event.name, [*first, *event.headers])


def with_chanvars(headers: Headers, names: tuple[str, ...], variables: Callable[[str], dict[str, str] | None]) -> Headers:
    """Add manager.conf `channelvars` to every channel snapshot block: after `<prefix>Linkedid`,
    one `<prefix>ChanVariable: name=value` per name, empty values included. `variables` maps a
    Uniqueid to that channel's variables."""
    if not names:
        return headers
    out: Headers = []
    uniqueid: dict[str, str] = {}
    for key, value in headers:
        out.append((key, value))
        if key.endswith("Uniqueid"):
            uniqueid[key[: -len("Uniqueid")]] = value
        elif key.endswith("Linkedid") and key[: -len("Linkedid")] in uniqueid:
            prefix = key[: -len("Linkedid")]
            values = variables(uniqueid[prefix]) or {}
            out.extend((f"{prefix}ChanVariable", f"{n}={c_escape(values.get(n, ''))}") for n in names)
    return out


def channel_event(name: str, ch: Channel, *extra: tuple[str, str], klass: str = "call") -> AmiEvent:
    """Events whose body is the channel snapshot followed by their own fields."""
    return AmiEvent(name, klass, [*snapshot(ch), *extra])


def newexten(ch: Channel, app: str, appdata: str) -> AmiEvent:
    return channel_event("Newexten", ch, ("Extension", ch.exten), ("Application", app), ("AppData", appdata),
                         klass="dialplan")


def varset(ch: Channel, variable: str, value: str) -> AmiEvent:
    return channel_event("VarSet", ch, ("Variable", variable), ("Value", c_escape(value)), klass="dialplan")


def hangup_event(ch: Channel) -> AmiEvent:
    cause = ch.hangup_cause
    return channel_event("Hangup", ch, ("Cause", str(cause)), ("Cause-txt", CAUSE_TEXT.get(cause, "Unknown")))


def dial_event(name: str, caller: Channel | None, dest: Channel, *extra: tuple[str, str]) -> AmiEvent:
    # The caller block is absent when nobody dials (AMI Originate).
    headers = [*(snapshot(caller) if caller else []), *snapshot(dest, "Dest"), *extra]
    return AmiEvent(name, "call", headers)


def bridge_event(name: str, bridge: Bridge, ch: Channel | None = None) -> AmiEvent:
    return AmiEvent(name, "call", [*bridge_snapshot(bridge), *(snapshot(ch) if ch else [])])


def user_event(ch: Channel | None, user_event_name: str, fields: Headers) -> AmiEvent:
    # The UserEvent application: snapshot, UserEvent, then the given headers as written.
    return AmiEvent("UserEvent", "user", [*(snapshot(ch) if ch else []), ("UserEvent", user_event_name), *fields])


def blind_transfer_event(transferer: Channel, transferee: Channel | None, bridge: Bridge, context: str, exten: str) -> AmiEvent:
    headers: Headers = [("Result", "Success"), *snapshot(transferer, "Transferer")]
    if transferee is not None:
        headers += snapshot(transferee, "Transferee")
    headers += [*bridge_snapshot(bridge), ("IsExternal", "Yes"), ("Context", context), ("Extension", exten)]
    return AmiEvent("BlindTransfer", "call", headers)


def originate_response(action_id: str, ok: bool, channel: str, reason: int, uniqueid: str,
                       caller_num: str, caller_name: str, *, context: str = "", exten: str = "",
                       application: str = "", data: str = "") -> AmiEvent:
    headers: Headers = [("ActionID", action_id)] if action_id else []
    headers += [("Response", "Success" if ok else "Failure"), ("Channel", channel)]
    if application:
        headers += [("Application", application), ("Data", data)]
    else:
        headers += [("Context", context), ("Exten", exten)]
    headers += [("Reason", str(reason)), ("Uniqueid", uniqueid or "<null>"),
                ("CallerIDNum", caller_num or "<unknown>"), ("CallerIDName", caller_name or "<unknown>")]
    return AmiEvent("OriginateResponse", "call", headers)
