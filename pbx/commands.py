"""The PBX command port: domain commands in, AMI actions out.

Theory of operation
-------------------
`to_actions(command, lookup)` is pure: it maps one command of `callcenter.events` to the AMI
actions that carry it out, in the order they must run. The domain speaks `channel_id` (Uniqueid)
and `call_id` (Linkedid); AMI wants channel *names*, which only the call tracker knows, so the
caller passes a `ChannelLookup` (the `CallTracker` is one). A channel the lookup does not know
raises `UnknownChannel` (error id ``no-such-channel``) before anything is sent.

`PbxCommandPort` is the adapter: it executes the actions through the AMI client one after the
other, stopping at the first failure (a `Redirect` must not run when the `Setvar` before it
failed). It never retries: an action that may have run is not sent twice.

The dialplan contract these actions assume is in docs/pbx-calls.md (contexts `acd-connect`,
`acd-fallback` and `acd-hold`; variables `ACD_*` and `CC_RECORDING_ID`).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Protocol

from callcenter.errors import DomainError, LocalProtocolError
from callcenter.events import (
    AttendedTransfer,
    BlindTransfer,
    CallId,
    ChannelId,
    Hangup,
    Hold,
    MuteRecording,
    OfferCall,
    Originate,
    PlayDtmf,
    Redirect,
    SendToFallback,
    SetVariable,
    StartRecording,
    StopRecording,
    Unhold,
)
from pbx.ami import AmiMessage, HeaderValue
from pbx.calls import RECORDING_ID_VARIABLE, CallTracker

logger = logging.getLogger(__name__)

# The dialplan contract (docs/pbx-calls.md).
CONNECT_CONTEXT = "acd-connect"
FALLBACK_CONTEXT = "acd-fallback"
HOLD_CONTEXT = "acd-hold"
HOLD_EXTEN = "s"  # the held party: music on hold
HOLDER_EXTEN = "holder"  # the other party waits here in silence
OFFER_VARIABLES = ("ACD_AGENT_ID", "ACD_AGENT_INTERFACE", "ACD_RING_TIMEOUT", "ACD_QUEUE", "ACD_DECISION_ID")
FALLBACK_REASON_VARIABLE = "ACD_FALLBACK_REASON"
MAX_UNIQUEID = 150  # AST_MAX_UNIQUEID: an Originate's ChannelId may not be longer

Command = (
    OfferCall
    | Redirect
    | Hangup
    | SetVariable
    | Originate
    | BlindTransfer
    | AttendedTransfer
    | Hold
    | Unhold
    | StartRecording
    | StopRecording
    | MuteRecording
    | PlayDtmf
    | SendToFallback
)


@dataclass(frozen=True, slots=True)
class AmiAction:
    """One AMI action to send: its name and headers in order (a tuple value repeats the header)."""

    name: str
    headers: tuple[tuple[str, str | tuple[str, ...]], ...]

    def kwargs(self) -> dict[str, HeaderValue]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.headers}


class ChannelLookup(Protocol):
    def channel_name(self, channel_id: ChannelId) -> str | None: ...
    def caller_channel(self, call_id: CallId) -> ChannelId | None: ...
    def peers(self, channel_id: ChannelId) -> list[ChannelId]: ...


class UnknownChannel(DomainError):
    def __init__(self, what: str, ident: str, command: object) -> None:
        super().__init__(
            "no-such-channel",
            f"{type(command).__name__}: no live channel for {what} {ident!r}",
            **{what.replace(" ", "_"): ident},
        )


class UnsupportedCommand(DomainError):
    def __init__(self, command: object) -> None:
        super().__init__("unsupported-command", f"the PBX command port has no mapping for {type(command).__name__}")


def _name(lookup: ChannelLookup, channel_id: ChannelId, command: object) -> str:
    name = lookup.channel_name(channel_id)
    if name is None:
        raise UnknownChannel("channel_id", channel_id, command)
    return name


def _caller(lookup: ChannelLookup, call_id: CallId, command: object) -> str:
    channel_id = lookup.caller_channel(call_id)
    if channel_id is None:
        raise UnknownChannel("call_id", call_id, command)
    return _name(lookup, channel_id, command)


def _setvar(channel: str, name: str, value: str) -> AmiAction:
    return AmiAction("Setvar", (("Channel", channel), ("Variable", name), ("Value", value)))


def _redirect(channel: str, context: str, exten: str, priority: int = 1) -> AmiAction:
    return AmiAction(
        "Redirect", (("Channel", channel), ("Context", context), ("Exten", exten), ("Priority", str(priority)))
    )


def _seconds(value: float) -> str:
    # Dial() takes whole seconds; never round an offer's ring time down to zero.
    return str(max(1, math.ceil(value)))


def to_actions(command: Command, lookup: ChannelLookup) -> list[AmiAction]:
    """The AMI actions that carry out `command`, in order."""
    match command:
        case OfferCall():
            channel = _caller(lookup, command.call_id, command)
            values = (
                command.agent_id,
                command.interface,
                _seconds(command.ring_timeout_s),
                command.queue,
                command.decision_id or "",
            )
            return [
                *(_setvar(channel, name, value) for name, value in zip(OFFER_VARIABLES, values, strict=True)),
                _redirect(channel, CONNECT_CONTEXT, "s"),
            ]
        case Redirect():
            headers: list[tuple[str, str | tuple[str, ...]]] = list(
                _redirect(
                    _name(lookup, command.channel_id, command), command.context, command.exten, command.priority
                ).headers
            )
            if command.extra_channel_id is not None:
                headers += [
                    ("ExtraChannel", _name(lookup, command.extra_channel_id, command)),
                    ("ExtraContext", command.context),
                    ("ExtraExten", command.exten),
                    ("ExtraPriority", str(command.priority)),
                ]
            return [AmiAction("Redirect", tuple(headers))]
        case Hangup():
            return [
                AmiAction(
                    "Hangup", (("Channel", _name(lookup, command.channel_id, command)), ("Cause", str(command.cause)))
                )
            ]
        case SetVariable():
            return [_setvar(_name(lookup, command.channel_id, command), command.name, command.value)]
        case Originate():
            headers = [
                ("Channel", command.destination),
                ("Context", command.context),
                ("Exten", command.exten),
                ("Priority", str(command.priority)),
                ("Timeout", str(round(command.timeout_s * 1000))),
                ("Async", "true"),
            ]
            if command.caller_id:
                headers.append(("CallerID", command.caller_id))
            if len(command.request_id) > MAX_UNIQUEID:
                raise LocalProtocolError(
                    f"Originate request_id {command.request_id[:20]!r}... is {len(command.request_id)} characters;"
                    f" Asterisk's Uniqueid holds at most {MAX_UNIQUEID}"
                )
            if command.request_id:
                # The new channel's Uniqueid, hence the call_id: the requester knows it up front
                # and the OriginateResponse carries it back.
                headers.append(("ChannelId", command.request_id))
            if command.variables:
                headers.append(("Variable", tuple(f"{k}={v}" for k, v in command.variables)))
            return [AmiAction("Originate", tuple(headers))]
        case BlindTransfer():
            channel = _name(lookup, command.channel_id, command)
            return [
                AmiAction(
                    "BlindTransfer", (("Channel", channel), ("Context", command.context), ("Exten", command.exten))
                )
            ]
        case AttendedTransfer():
            headers = [("Channel", _name(lookup, command.channel_id, command)), ("Exten", command.exten)]
            if command.context:
                headers.append(("Context", command.context))
            return [AmiAction("Atxfer", tuple(headers))]
        case Hold():
            held = _name(lookup, command.channel_id, command)
            peers = lookup.peers(command.channel_id)
            action = _redirect(held, HOLD_CONTEXT, HOLD_EXTEN)
            if peers:
                # Both leave the bridge together, or the peer's Dial would hang it up.
                extra = (
                    ("ExtraChannel", _name(lookup, peers[0], command)),
                    ("ExtraContext", HOLD_CONTEXT),
                    ("ExtraExten", HOLDER_EXTEN),
                    ("ExtraPriority", "1"),
                )
                action = AmiAction("Redirect", action.headers + extra)
            return [action]
        case Unhold():
            held = _name(lookup, command.channel_id, command)
            peers = lookup.peers(command.channel_id)
            if not peers:
                raise UnknownChannel("peer of channel_id", command.channel_id, command)
            peer = _name(lookup, peers[0], command)
            return [AmiAction("Bridge", (("Channel1", peer), ("Channel2", held), ("Tone", "no")))]
        case StartRecording():
            channel = _name(lookup, command.channel_id, command)
            options = command.options
            if command.rx_file:
                options += f"r({command.rx_file})"
            if command.tx_file:
                options += f"t({command.tx_file})"
            headers = [("Channel", channel), ("File", command.file)]
            if options:
                headers.append(("Options", options))
            return [
                _setvar(channel, RECORDING_ID_VARIABLE, command.recording_id),
                AmiAction("MixMonitor", tuple(headers)),
            ]
        case StopRecording():
            return [AmiAction("StopMixMonitor", (("Channel", _name(lookup, command.channel_id, command)),))]
        case MuteRecording():
            channel = _name(lookup, command.channel_id, command)
            state = "1" if command.mute else "0"
            return [
                AmiAction("MixMonitorMute", (("Channel", channel), ("Direction", command.direction), ("State", state)))
            ]
        case PlayDtmf():
            return [
                AmiAction(
                    "PlayDTMF", (("Channel", _name(lookup, command.channel_id, command)), ("Digit", command.digit))
                )
            ]
        case SendToFallback():
            channel = _caller(lookup, command.call_id, command)
            return [
                _setvar(channel, FALLBACK_REASON_VARIABLE, command.reason),
                _redirect(channel, FALLBACK_CONTEXT, "s"),
            ]
    raise UnsupportedCommand(command)


class ActionSender(Protocol):
    async def send_action(self, name: str, **headers: HeaderValue) -> AmiMessage: ...


class PbxCommandPort:
    """Executes domain commands on Asterisk through the AMI client, naming channels via the tracker."""

    def __init__(self, client: ActionSender, tracker: CallTracker) -> None:
        self._client = client
        self._tracker = tracker

    async def execute(self, command: Command) -> list[AmiMessage]:
        """Run the command's actions in order; return their replies.

        Raises `UnknownChannel` before sending anything when a channel is unknown, and the
        client's error (`AmiActionError`, `AmiActionTimeout`, `AmiConnectionLost`) at the first
        action that fails; later actions are not sent.
        """
        actions = to_actions(command, self._tracker)
        if isinstance(command, Originate) and command.request_id:
            dnis = command.destination.split("/", 1)[-1].split("@", 1)[0]
            self._tracker.expect_outbound(ChannelId(command.request_id), dnis=dnis)
        replies: list[AmiMessage] = []
        for action in actions:
            reply = await self._client.send_action(action.name, **action.kwargs())
            replies.append(reply)
            if isinstance(command, Originate) and command.request_id and reply.action_id:
                self._tracker.note_originate_action(reply.action_id, command.request_id)
        logger.info("%s: %s done (%s)", _subject(command), type(command).__name__, ", ".join(a.name for a in actions))
        return replies


def _subject(command: Command) -> str:
    for attr in ("call_id", "channel_id", "request_id"):
        value = getattr(command, attr, None)
        if value:
            return str(value)
    return "-"
