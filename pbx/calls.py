"""Call tracking: AMI events in, the domain's call and channel facts out.

Theory of operation
-------------------
`CallTracker.handle(message, now=...)` takes one decoded AMI message and returns the domain
events (`callcenter.events`) it means, in order. It never awaits, never reads a clock (`now`, or
the message's own `Timestamp` header, becomes `at`) and never sends anything.

State
  * calls, keyed by Linkedid (`call_id`): their live channels, the origin channel (the one whose
    Uniqueid is the Linkedid: the subscriber's leg, inbound caller or outbound callee), ANI, DNIS,
    direction, and who started the hang-up;
  * channels, keyed by Uniqueid (`channel_id`): name, state, caller id, dialplan position, the
    bridge they are in, whether they were answered;
  * bridges, keyed by BridgeUniqueid: their channels. "Who is connected to whom" is "who shares a
    bridge" (`connected_to`);
  * a bounded memory of channels that ended, so late events about them are not mistaken for new
    channels.

Rules
  1. One table, `TRANSLATORS`, maps an AMI event name to its translator. An event with no entry
     is counted in `untranslated` and logged once per name at DEBUG; never dropped silently.
  2. A call starts (`CallArrived`, then `ChannelCreated`) when its first channel is seen, and ends
     (`ChannelHungUp`, then `CallEnded`) when its last live channel hangs up. A channel first seen
     in an event other than Newchannel (we started mid-call) is adopted from that event's snapshot.
  3. Hang-up side: the first hang-up request on the call from a channel that is the origin or was
     answered decides it. `HangupRequest` comes from the far end (the channel driver saw BYE):
     the origin -> CALLER, any other leg -> AGENT. `SoftHangupRequest` (AMI Hangup, a timeout) or a
     bare `Hangup` (the dialplan hung up) first -> SYSTEM. Nothing seen -> UNKNOWN. Legs that never
     answered (a ring-no-answer agent) do not count.
  4. Resync after an AMI outage (`resync`, or a `CoreShowChannel` list seen in the stream): a
     listed channel we do not know is created; a live channel that is not listed and was known
     before the list started hung up during the outage (`ChannelHungUp` cause 0, and `CallEnded`
     with cause 0 and side UNKNOWN when it was the call's last channel). State and bridge
     differences produce the usual facts. No call is invented and none is lost.
  5. A translator checks the values it needs (`Priority`, `Cause`, `DialStatus`) before it
     changes anything, so an event it rejects (`RemoteProtocolError`) leaves no trace.
  6. Asterisk 11 streams (no Linkedid) are keyed by Uniqueid, so each channel is its own call;
     the legacy `Dial` event maps to DialBegan/DialEnded and `Rename` renames. Bridge/Masquerade/
     LocalBridge of Asterisk 11 are not translated (counted). Our targets (18/20/22) always send
     Linkedid.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from callcenter.errors import RemoteProtocolError
from callcenter.events import (
    BridgeId,
    CallArrived,
    CallEnded,
    CallId,
    CallTransferred,
    ChannelBridged,
    ChannelCreated,
    ChannelEnteredDialplan,
    ChannelHeld,
    ChannelHungUp,
    ChannelId,
    ChannelState,
    ChannelStateChanged,
    ChannelUnbridged,
    ChannelUnheld,
    DialBegan,
    DialEnded,
    DialStatus,
    Direction,
    DtmfReceived,
    HangupSide,
    OriginateFailed,
    RecordingId,
    RecordingMuteChanged,
    RecordingStarted,
    RecordingStopped,
    UserEventReceived,
    VariableSet,
)
from pbx.ami import AmiKind, AmiMessage

logger = logging.getLogger(__name__)

Fact = object  # any message of callcenter.events

# The channel variable the command port sets before MixMonitor, so MixMonitor* events can be
# tied back to the domain's recording id.
RECORDING_ID_VARIABLE = "CC_RECORDING_ID"
UNKNOWN_CAUSE = 0  # Q.850 has no "unknown"; Asterisk's AST_CAUSE_NOTDEFINED is 0
ENDED_MEMORY = 4096

# ChannelState numbers (include/asterisk/channelstate.h), and the ChannelStateDesc words.
_STATE_BY_NUMBER = {
    "0": ChannelState.DOWN,
    "1": ChannelState.RESERVED,
    "2": ChannelState.OFFHOOK,
    "3": ChannelState.DIALING,
    "4": ChannelState.RING,
    "5": ChannelState.RINGING,
    "6": ChannelState.UP,
    "7": ChannelState.BUSY,
    "8": ChannelState.DIALING_OFFHOOK,
    "9": ChannelState.PRERING,
    "10": ChannelState.UNKNOWN,
}
_STATE_BY_DESC = {
    "down": ChannelState.DOWN,
    "rsrvd": ChannelState.RESERVED,
    "offhook": ChannelState.OFFHOOK,
    "dialing": ChannelState.DIALING,
    "ring": ChannelState.RING,
    "ringing": ChannelState.RINGING,
    "up": ChannelState.UP,
    "busy": ChannelState.BUSY,
    "dialing offhook": ChannelState.DIALING_OFFHOOK,
    "pre-ring": ChannelState.PRERING,
    "unknown": ChannelState.UNKNOWN,
}
# OriginateResponse Reason: the AST_CONTROL_* value the outgoing call ended in.
_ORIGINATE_REASONS = {"0": "failed", "1": "hangup", "3": "no-answer", "5": "busy", "8": "congestion"}
# Headers of a channel snapshot and of every event's preamble: not a UserEvent's own fields.
_NOT_USER_FIELDS = frozenset(
    name.lower()
    for name in (
        "Event", "Privilege", "Timestamp", "SystemName", "UserEvent", "Channel", "ChannelState",
        "ChannelStateDesc", "CallerIDNum", "CallerIDName", "ConnectedLineNum", "ConnectedLineName",
        "Language", "AccountCode", "Context", "Exten", "Priority", "Uniqueid", "Linkedid", "Tenantid",
        "ChanVariable",
    )
)  # fmt: skip


@dataclass(slots=True)
class TrackedChannel:
    """A live channel as the tracker knows it (read it; only the tracker changes it)."""

    channel_id: ChannelId
    call_id: CallId
    name: str
    state: ChannelState
    caller_num: str = ""
    caller_name: str = ""
    context: str = ""
    exten: str = ""
    bridge_id: BridgeId | None = None
    answered: bool = False
    held: bool = False
    recording_id: RecordingId | None = None
    dialing: list[ChannelId] = field(default_factory=list)  # legs it is dialing (legacy DialEnd)
    seen_at: int = 0  # message sequence number when first seen (resync races)


@dataclass(slots=True)
class TrackedCall:
    """A live call: every channel sharing one Linkedid."""

    call_id: CallId
    origin: ChannelId
    ani: str
    dnis: str
    direction: Direction
    started_at: float
    channels: dict[ChannelId, TrackedChannel] = field(default_factory=dict)
    first_hangup: tuple[ChannelId, str] | None = None  # (channel, "request" | "soft" | "hangup")
    cause: int | None = None


def _cid(value: str | None) -> str:
    return "" if value in (None, "<unknown>") else value


def _int(msg: AmiMessage, header: str) -> int | None:
    value = msg.get(header)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise RemoteProtocolError(
            f"AMI {msg.name} at byte {msg.offset} for {msg.get('Uniqueid')}: {header} {value!r} is not an integer"
        ) from None


def _dial_status(msg: AmiMessage) -> DialStatus:
    text = msg.get("DialStatus") or ""
    try:
        return DialStatus(text)
    except ValueError:
        raise RemoteProtocolError(
            f"AMI {msg.name} at byte {msg.offset}: DialStatus {text!r} is not a Dial status"
        ) from None


def _state(msg: AmiMessage, prefix: str = "") -> ChannelState:
    number = msg.get(prefix + "ChannelState")
    if number in _STATE_BY_NUMBER:
        return _STATE_BY_NUMBER[number]
    return _STATE_BY_DESC.get((msg.get(prefix + "ChannelStateDesc") or "").lower(), ChannelState.UNKNOWN)


class CallTracker:
    """Turns AMI events into domain facts and keeps the calls they describe (see the theory above).

    `variables`: the channel variables to report as `VariableSet` (None: all of them).
    """

    def __init__(self, *, variables: Iterable[str] | None = None, hold_context: str = "acd-hold") -> None:
        self._variables = None if variables is None else frozenset(variables)
        # The control plane holds a party by redirecting it to `hold_context`,s (music on hold)
        # and unholds by bridging it back; a phone's own hold arrives as Hold/Unhold events.
        # Both become ChannelHeld / ChannelUnheld.
        self._hold_context = hold_context
        self._calls: dict[CallId, TrackedCall] = {}
        self._channels: dict[ChannelId, TrackedChannel] = {}
        self._bridges: dict[BridgeId, set[ChannelId]] = {}
        self._ended: OrderedDict[ChannelId, None] = OrderedDict()
        self._outbound: dict[ChannelId, str] = {}  # expected originations: channel id -> DNIS
        self._originate_actions: dict[str, str] = {}  # the client's ActionID -> our request id
        self._seq = 0
        self._list_items: list[AmiMessage] = []
        self._list_mark: int | None = None
        self.untranslated: dict[str, int] = {}

    # -- queries (the command port and the runners read these) ----------------------------------

    @property
    def calls(self) -> dict[CallId, TrackedCall]:
        return dict(self._calls)

    def call(self, call_id: CallId) -> TrackedCall | None:
        return self._calls.get(call_id)

    def channel(self, channel_id: ChannelId) -> TrackedChannel | None:
        return self._channels.get(channel_id)

    def channel_name(self, channel_id: ChannelId) -> str | None:
        channel = self._channels.get(channel_id)
        return channel.name if channel is not None else None

    def caller_channel(self, call_id: CallId) -> ChannelId | None:
        """The call's origin channel if it is still up, else its oldest live channel."""
        call = self._calls.get(call_id)
        if call is None:
            return None
        if call.origin in call.channels:
            return call.origin
        return next(iter(call.channels), None)

    def connected_to(self, channel_id: ChannelId) -> list[ChannelId]:
        """The channels sharing a bridge with `channel_id`."""
        channel = self._channels.get(channel_id)
        if channel is None or channel.bridge_id is None:
            return []
        return sorted(c for c in self._bridges.get(channel.bridge_id, ()) if c != channel_id)

    def peers(self, channel_id: ChannelId) -> list[ChannelId]:
        """Who `channel_id` talks with: its bridge peers, else the other live channels of its call."""
        bridged = self.connected_to(channel_id)
        if bridged:
            return bridged
        channel = self._channels.get(channel_id)
        if channel is None:
            return []
        return [c for c in self._calls[channel.call_id].channels if c != channel_id]

    def expect_outbound(self, channel_id: ChannelId, *, dnis: str = "") -> None:
        """The command port is about to Originate with ChannelId=`channel_id`: that call is outbound."""
        self._outbound[channel_id] = dnis

    def note_originate_action(self, action_id: str, request_id: str) -> None:
        """The Originate for `request_id` went out as `action_id`: a failure that created no
        channel (Uniqueid ``<null>``) is matched by it."""
        self._originate_actions[action_id] = request_id

    # -- the stream --------------------------------------------------------------------------------

    def handle(self, msg: AmiMessage, *, now: float) -> list[Fact]:
        """Apply one AMI message; return the domain facts it means, in order."""
        self._seq += 1
        kind = msg.kind
        if kind is AmiKind.RESPONSE:
            if (msg.get("EventList") or "").lower() == "start" and msg.get("Message") == "Channels will follow":
                self._list_mark = self._seq
            return []
        if kind is not AmiKind.EVENT:
            return []
        name = msg.name
        translator = TRANSLATORS.get(name)
        if translator is None:
            count = self.untranslated.get(name, 0)
            if count == 0:
                logger.debug("AMI event %s has no translator; counting it", name)
            self.untranslated[name] = count + 1
            return []
        at = now
        stamp = msg.get("Timestamp")
        if stamp:
            try:
                at = float(stamp)
            except ValueError:
                raise RemoteProtocolError(
                    f"AMI {name} at byte {msg.offset}: Timestamp {stamp!r} is not a number"
                ) from None
        out: list[Fact] = []
        translator(self, msg, at, out)
        return out

    def resync(self, items: Iterable[AmiMessage], *, now: float, mark: int | None = None) -> list[Fact]:
        """Reconcile with a `CoreShowChannel` (or `Status`) list taken after a reconnect.

        `mark` is `resync_mark()` taken before the list was requested: channels first seen after
        it (events that raced the list) are not taken for gone.
        """
        out: list[Fact] = []
        listed: dict[ChannelId, AmiMessage] = {}
        for item in items:
            uid = item.get("Uniqueid")
            if uid:
                listed[ChannelId(uid)] = item
        limit = self._seq if mark is None else mark
        for gone in list(self._channels.values()):
            if gone.channel_id not in listed and gone.seen_at <= limit:
                logger.info("call %s: channel %s vanished during the AMI outage", gone.call_id, gone.channel_id)
                self._hang_up(gone, UNKNOWN_CAUSE, "unknown (ended while AMI was down)", now, out, resynced=True)
        for uid, item in listed.items():
            if uid in self._ended:
                continue  # its Hangup raced the list
            channel = self._channels.get(uid) or self._create(item, now, out)
            state = _state(item)
            if state != channel.state:
                self._set_state(channel, state, now, out)
            bridge = item.get("BridgeId") or None
            if bridge != channel.bridge_id:
                if channel.bridge_id is not None:
                    self._unbridge(channel, now, out)
                if bridge is not None:
                    self._bridge(channel, BridgeId(bridge), now, out)
        return out

    def resync_mark(self) -> int:
        return self._seq

    # -- translators -------------------------------------------------------------------------------

    def _on_newchannel(self, msg: AmiMessage, at: float, out: list[Fact]) -> None:
        uid = msg.get("Uniqueid")
        if uid and ChannelId(uid) not in self._channels and ChannelId(uid) not in self._ended:
            self._create(msg, at, out)

    def _on_newstate(self, msg: AmiMessage, at: float, out: list[Fact]) -> None:
        channel = self._adopt(msg, at, out)
        if channel is not None and _state(msg) != channel.state:
            self._set_state(channel, _state(msg), at, out)

    def _on_newexten(self, msg: AmiMessage, at: float, out: list[Fact]) -> None:
        priority = _int(msg, "Priority") or 0
        channel = self._adopt(msg, at, out)
        if channel is None:
            return
        # Asterisk 11's Newexten has only `Extension`; 12+ sends both.
        entering = (msg.get("Context") or "", msg.get("Exten") or msg.get("Extension") or "")
        moved = entering != (channel.context, channel.exten)
        channel.context, channel.exten = entering
        out.append(
            ChannelEnteredDialplan(
                call_id=channel.call_id,
                channel_id=channel.channel_id,
                context=channel.context,
                exten=channel.exten,
                priority=priority,
                application=msg.get("Application") or "",
                app_data=msg.get("AppData") or "",
                at=at,
            )
        )
        if moved and entering == (self._hold_context, "s"):
            self._set_held(channel, True, at, out)

    def _on_varset(self, msg: AmiMessage, at: float, out: list[Fact]) -> None:
        if not msg.get("Uniqueid"):
            return  # a global variable: not about a call
        channel = self._adopt(msg, at, out)
        if channel is None:
            return
        name, value = msg.get("Variable") or "", msg.get("Value") or ""
        if name == RECORDING_ID_VARIABLE:
            channel.recording_id = RecordingId(value) if value else None
        if self._variables is None or name in self._variables:
            out.append(
                VariableSet(call_id=channel.call_id, channel_id=channel.channel_id, name=name, value=value, at=at)
            )

    def _on_newcallerid(self, msg: AmiMessage, at: float, out: list[Fact]) -> None:
        channel = self._adopt(msg, at, out)
        if channel is not None:
            channel.caller_num = _cid(msg.get("CallerIDNum"))
            channel.caller_name = _cid(msg.get("CallerIDName"))

    def _on_rename(self, msg: AmiMessage, at: float, out: list[Fact]) -> None:
        channel = self._known(msg)
        if channel is not None and msg.get("Newname"):
            channel.name = msg.get("Newname") or channel.name

    def _on_dial_begin(self, msg: AmiMessage, at: float, out: list[Fact]) -> None:
        caller = self._adopt(msg, at, out) if msg.get("Uniqueid") else None
        dest = self._adopt(msg, at, out, prefix="Dest")
        if dest is None:
            return
        if caller is not None:
            caller.dialing.append(dest.channel_id)
        out.append(
            DialBegan(
                call_id=caller.call_id if caller is not None else dest.call_id,
                channel_id=caller.channel_id if caller is not None else None,
                dest_channel_id=dest.channel_id,
                dest_channel=dest.name,
                dial_string=msg.get("DialString") or "",
                at=at,
            )
        )

    def _on_dial_end(self, msg: AmiMessage, at: float, out: list[Fact]) -> None:
        status = _dial_status(msg)
        caller = self._known(msg) if msg.get("Uniqueid") else None
        dest_uid = msg.get("DestUniqueid")
        if dest_uid is not None:
            self._dial_ended(caller, ChannelId(dest_uid), status, at, out)

    def _dial_ended(
        self, caller: TrackedChannel | None, dest: ChannelId, status: DialStatus, at: float, out: list[Fact]
    ) -> None:
        if caller is not None and dest in caller.dialing:
            caller.dialing.remove(dest)
        dest_channel = self._channels.get(dest)
        call_id = caller.call_id if caller is not None else dest_channel.call_id if dest_channel else None
        if call_id is None:
            return  # neither side is known any more: nothing to say about a call
        out.append(
            DialEnded(
                call_id=call_id,
                channel_id=caller.channel_id if caller is not None else None,
                dest_channel_id=dest,
                status=status,
                at=at,
            )
        )

    def _on_legacy_dial(self, msg: AmiMessage, at: float, out: list[Fact]) -> None:
        # Asterisk 11: Event: Dial, SubEvent: Begin (Channel, Destination, UniqueID, DestUniqueID,
        # Dialstring) or End (Channel, UniqueID, DialStatus: no destination, so it ends every leg
        # the channel was dialing).
        begin = (msg.get("SubEvent") or "").lower() == "begin"
        status = None if begin else _dial_status(msg)
        caller = self._adopt(msg, at, out)
        if caller is None:
            return
        if status is None:
            dest_uid = msg.get("DestUniqueID")
            if not dest_uid:
                return
            dest = ChannelId(dest_uid)
            caller.dialing.append(dest)
            out.append(
                DialBegan(
                    call_id=caller.call_id,
                    channel_id=caller.channel_id,
                    dest_channel_id=dest,
                    dest_channel=msg.get("Destination") or "",
                    dial_string=msg.get("Dialstring") or "",
                    at=at,
                )
            )
        else:
            for dest in list(caller.dialing):
                self._dial_ended(caller, dest, status, at, out)

    def _on_bridge_create(self, msg: AmiMessage, at: float, out: list[Fact]) -> None:
        bridge = msg.get("BridgeUniqueid")
        if bridge:
            self._bridges.setdefault(BridgeId(bridge), set())

    def _on_bridge_enter(self, msg: AmiMessage, at: float, out: list[Fact]) -> None:
        channel = self._adopt(msg, at, out)
        bridge = msg.get("BridgeUniqueid")
        if channel is None or not bridge or channel.bridge_id == bridge:
            return
        if channel.bridge_id is not None:
            self._unbridge(channel, at, out)
        if channel.held and channel.context == self._hold_context:
            self._set_held(channel, False, at, out)  # bridged back out of the hold context
        self._bridge(channel, BridgeId(bridge), at, out)

    def _on_bridge_leave(self, msg: AmiMessage, at: float, out: list[Fact]) -> None:
        channel = self._known(msg)
        if channel is not None and channel.bridge_id is not None and channel.bridge_id == msg.get("BridgeUniqueid"):
            self._unbridge(channel, at, out)

    def _on_bridge_destroy(self, msg: AmiMessage, at: float, out: list[Fact]) -> None:
        bridge = BridgeId(msg.get("BridgeUniqueid") or "")
        for uid in sorted(self._bridges.get(bridge, ())):
            self._unbridge(self._channels[uid], at, out)
        self._bridges.pop(bridge, None)

    def _on_hold(self, msg: AmiMessage, at: float, out: list[Fact]) -> None:
        channel = self._adopt(msg, at, out)
        if channel is not None:
            self._set_held(channel, True, at, out)

    def _on_unhold(self, msg: AmiMessage, at: float, out: list[Fact]) -> None:
        channel = self._adopt(msg, at, out)
        if channel is not None:
            self._set_held(channel, False, at, out)

    def _set_held(self, channel: TrackedChannel, held: bool, at: float, out: list[Fact]) -> None:
        if channel.held == held:
            return
        channel.held = held
        fact = ChannelHeld if held else ChannelUnheld
        out.append(fact(call_id=channel.call_id, channel_id=channel.channel_id, at=at))

    def _on_hangup_request(self, msg: AmiMessage, at: float, out: list[Fact]) -> None:
        self._note_first_hangup(msg, "request", at, out)

    def _on_soft_hangup_request(self, msg: AmiMessage, at: float, out: list[Fact]) -> None:
        self._note_first_hangup(msg, "soft", at, out)

    def _note_first_hangup(self, msg: AmiMessage, how: str, at: float, out: list[Fact]) -> None:
        cause = _int(msg, "Cause")
        channel = self._adopt(msg, at, out)
        if channel is None:
            return
        call = self._calls[channel.call_id]
        if call.first_hangup is None and (channel.channel_id == call.origin or channel.answered):
            call.first_hangup = (channel.channel_id, how)
            call.cause = cause

    def _on_hangup(self, msg: AmiMessage, at: float, out: list[Fact]) -> None:
        cause = _int(msg, "Cause")
        channel = self._adopt(msg, at, out)
        if channel is None:
            return
        call = self._calls[channel.call_id]
        if call.first_hangup is None and (channel.channel_id == call.origin or channel.answered):
            call.first_hangup = (channel.channel_id, "hangup")
            call.cause = cause
        self._hang_up(channel, UNKNOWN_CAUSE if cause is None else cause, msg.get("Cause-txt") or "", at, out)

    def _on_dtmf_end(self, msg: AmiMessage, at: float, out: list[Fact]) -> None:
        if (msg.get("Direction") or "").lower() != "received":
            return  # digits we played (PlayDTMF) are not caller input
        channel = self._adopt(msg, at, out)
        if channel is not None:
            digit = msg.get("Digit") or ""
            out.append(DtmfReceived(call_id=channel.call_id, channel_id=channel.channel_id, digit=digit, at=at))

    def _on_user_event(self, msg: AmiMessage, at: float, out: list[Fact]) -> None:
        channel = self._adopt(msg, at, out) if msg.get("Uniqueid") else None
        fields = tuple((k, v) for k, v in msg.headers if k.lower() not in _NOT_USER_FIELDS)
        out.append(
            UserEventReceived(
                call_id=channel.call_id if channel is not None else None,
                channel_id=channel.channel_id if channel is not None else None,
                name=msg.get("UserEvent") or "",
                fields=fields,
                at=at,
            )
        )

    def _on_blind_transfer(self, msg: AmiMessage, at: float, out: list[Fact]) -> None:
        call_id = msg.get("TransfererLinkedid")
        if msg.get("Result") == "Success" and call_id:
            target = f"{msg.get('Extension') or ''}@{msg.get('Context') or ''}"
            out.append(CallTransferred(call_id=CallId(call_id), kind="blind", target=target, at=at))

    def _on_attended_transfer(self, msg: AmiMessage, at: float, out: list[Fact]) -> None:
        call_id = msg.get("OrigTransfererLinkedid")
        if msg.get("Result") == "Success" and call_id:
            target = msg.get("TransferTargetChannel") or msg.get("SecondTransfererChannel") or msg.get("DestApp") or ""
            out.append(CallTransferred(call_id=CallId(call_id), kind="attended", target=target, at=at))

    def _on_originate_response(self, msg: AmiMessage, at: float, out: list[Fact]) -> None:
        uid = ChannelId(msg.get("Uniqueid") or "")
        action_id = msg.get("ActionID") or ""
        request_id = self._originate_actions.pop(action_id, None)
        if uid in self._outbound:
            request_id = str(uid)
        request_id = request_id or action_id
        self._outbound.pop(ChannelId(request_id), None)
        if msg.get("Response") != "Failure":
            return
        channel = self._channels.get(uid)
        call_id = channel.call_id if channel is not None else CallId(uid) if uid in self._ended else None
        reason = _ORIGINATE_REASONS.get(msg.get("Reason") or "", f"reason-{msg.get('Reason')}")
        out.append(OriginateFailed(request_id=request_id, call_id=call_id, reason=reason, at=at))

    def _on_mixmonitor(self, msg: AmiMessage, at: float, out: list[Fact]) -> None:
        channel = self._adopt(msg, at, out)
        if channel is None or channel.recording_id is None:
            return  # not one of ours: no recording id was set on the channel
        rid, call_id = channel.recording_id, channel.call_id
        if msg.name == "MixMonitorStart":
            out.append(RecordingStarted(call_id=call_id, recording_id=rid, channel_id=channel.channel_id, at=at))
        elif msg.name == "MixMonitorStop":
            out.append(RecordingStopped(call_id=call_id, recording_id=rid, at=at))
        else:
            out.append(RecordingMuteChanged(call_id=call_id, recording_id=rid, channel_id=channel.channel_id,
                                            muted=msg.get("State") == "1", direction=msg.get("Direction") or "",
                                            at=at))

    def _on_list_item(self, msg: AmiMessage, at: float, out: list[Fact]) -> None:
        if self._list_mark is None:
            self._list_mark = self._seq - 1
        self._list_items.append(msg)

    def _on_list_complete(self, msg: AmiMessage, at: float, out: list[Fact]) -> None:
        items, mark = self._list_items, self._list_mark
        self._list_items, self._list_mark = [], None
        out.extend(self.resync(items, now=at, mark=self._seq if mark is None else mark))

    def _ignore(self, msg: AmiMessage, at: float, out: list[Fact]) -> None:
        """Known events that carry nothing new for the domain (see TRANSLATORS)."""

    # -- state changes -----------------------------------------------------------------------------

    def _known(self, msg: AmiMessage) -> TrackedChannel | None:
        uid = msg.get("Uniqueid")
        return self._channels.get(ChannelId(uid)) if uid else None

    def _adopt(self, msg: AmiMessage, at: float, out: list[Fact], *, prefix: str = "") -> TrackedChannel | None:
        """The channel an event is about; one we never saw is created from the event's snapshot."""
        uid = msg.get(prefix + "Uniqueid")
        if not uid:
            return None
        channel = self._channels.get(ChannelId(uid))
        if channel is None and ChannelId(uid) not in self._ended:
            channel = self._create(msg, at, out, prefix=prefix)
        return channel

    def _create(self, msg: AmiMessage, at: float, out: list[Fact], *, prefix: str = "") -> TrackedChannel:
        uid = ChannelId(msg.get(prefix + "Uniqueid") or "")
        linked = msg.get(prefix + "Linkedid")
        call_id = CallId(linked or uid)
        channel = TrackedChannel(
            channel_id=uid,
            call_id=call_id,
            name=msg.get(prefix + "Channel") or "",
            state=_state(msg, prefix),
            caller_num=_cid(msg.get(prefix + "CallerIDNum")),
            caller_name=_cid(msg.get(prefix + "CallerIDName")),
            context=msg.get(prefix + "Context") or "",
            exten=msg.get(prefix + "Exten") or "",
            answered=_state(msg, prefix) is ChannelState.UP,
            seen_at=self._seq,
        )
        call = self._calls.get(call_id)
        if call is None:
            outbound = uid in self._outbound
            dnis = self._outbound.get(uid) or channel.exten
            call = TrackedCall(
                call_id=call_id,
                origin=ChannelId(call_id),
                ani=channel.caller_num,
                dnis=dnis,
                direction=Direction.OUTBOUND if outbound else Direction.INBOUND,
                started_at=at,
            )
            self._calls[call_id] = call
            logger.info("call %s: arrived on %s from %r to %r", call_id, channel.name, call.ani, call.dnis)
            out.append(
                CallArrived(
                    call_id=call_id,
                    channel_id=uid,
                    channel=channel.name,
                    ani=call.ani,
                    dnis=call.dnis,
                    direction=call.direction,
                    caller_name=channel.caller_name,
                    at=at,
                )
            )
        call.channels[uid] = channel
        self._channels[uid] = channel
        out.append(
            ChannelCreated(
                call_id=call_id,
                channel_id=uid,
                channel=channel.name,
                state=channel.state,
                caller_num=channel.caller_num,
                caller_name=channel.caller_name,
                exten=channel.exten,
                context=channel.context,
                at=at,
            )
        )
        return channel

    def _set_state(self, channel: TrackedChannel, state: ChannelState, at: float, out: list[Fact]) -> None:
        channel.state = state
        channel.answered = channel.answered or state is ChannelState.UP
        out.append(ChannelStateChanged(call_id=channel.call_id, channel_id=channel.channel_id, state=state, at=at))

    def _bridge(self, channel: TrackedChannel, bridge: BridgeId, at: float, out: list[Fact]) -> None:
        channel.bridge_id = bridge
        self._bridges.setdefault(bridge, set()).add(channel.channel_id)
        out.append(ChannelBridged(call_id=channel.call_id, channel_id=channel.channel_id, bridge_id=bridge, at=at))

    def _unbridge(self, channel: TrackedChannel, at: float, out: list[Fact]) -> None:
        bridge = channel.bridge_id
        if bridge is None:
            return
        channel.bridge_id = None
        self._bridges.get(bridge, set()).discard(channel.channel_id)
        out.append(ChannelUnbridged(call_id=channel.call_id, channel_id=channel.channel_id, bridge_id=bridge, at=at))

    def _hang_up(
        self, channel: TrackedChannel, cause: int, cause_txt: str, at: float, out: list[Fact], *, resynced: bool = False
    ) -> None:
        if channel.bridge_id is not None:
            self._bridges.get(channel.bridge_id, set()).discard(channel.channel_id)
            channel.bridge_id = None
        del self._channels[channel.channel_id]
        self._ended[channel.channel_id] = None
        if len(self._ended) > ENDED_MEMORY:
            self._ended.popitem(last=False)
        call = self._calls[channel.call_id]
        del call.channels[channel.channel_id]
        out.append(
            ChannelHungUp(call_id=call.call_id, channel_id=channel.channel_id, cause=cause, cause_txt=cause_txt, at=at)
        )
        if call.channels:
            return
        del self._calls[call.call_id]
        if resynced:
            side, end_cause = HangupSide.UNKNOWN, UNKNOWN_CAUSE
        else:
            side = self._hangup_side(call)
            end_cause = call.cause if call.cause is not None else cause
        logger.info("call %s: ended, %s hung up, cause %d", call.call_id, side.value, end_cause)
        out.append(CallEnded(call_id=call.call_id, hangup_side=side, cause=end_cause, at=at))

    @staticmethod
    def _hangup_side(call: TrackedCall) -> HangupSide:
        if call.first_hangup is None:
            return HangupSide.UNKNOWN
        channel_id, how = call.first_hangup
        if how != "request":
            return HangupSide.SYSTEM
        return HangupSide.CALLER if channel_id == call.origin else HangupSide.AGENT


Translator = Callable[[CallTracker, AmiMessage, float, list[Fact]], None]

# Rule 1: every AMI event the tracker understands, and what it becomes.
TRANSLATORS: dict[str, Translator] = {
    "Newchannel": CallTracker._on_newchannel,  # CallArrived (first channel), ChannelCreated
    "Newstate": CallTracker._on_newstate,  # ChannelStateChanged
    "Newexten": CallTracker._on_newexten,  # ChannelEnteredDialplan
    "VarSet": CallTracker._on_varset,  # VariableSet (channel variables only)
    "NewCallerid": CallTracker._on_newcallerid,  # updates the channel's caller id
    "Rename": CallTracker._on_rename,  # updates the channel's name
    "DialBegin": CallTracker._on_dial_begin,  # DialBegan
    "DialEnd": CallTracker._on_dial_end,  # DialEnded
    "Dial": CallTracker._on_legacy_dial,  # Asterisk 11: DialBegan / DialEnded
    "BridgeCreate": CallTracker._on_bridge_create,
    "BridgeEnter": CallTracker._on_bridge_enter,  # ChannelBridged
    "BridgeLeave": CallTracker._on_bridge_leave,  # ChannelUnbridged
    "BridgeDestroy": CallTracker._on_bridge_destroy,
    "Hold": CallTracker._on_hold,  # ChannelHeld
    "Unhold": CallTracker._on_unhold,  # ChannelUnheld
    "HangupRequest": CallTracker._on_hangup_request,  # decides the hang-up side
    "SoftHangupRequest": CallTracker._on_soft_hangup_request,
    "Hangup": CallTracker._on_hangup,  # ChannelHungUp, CallEnded after the last channel
    "DTMFEnd": CallTracker._on_dtmf_end,  # DtmfReceived
    "UserEvent": CallTracker._on_user_event,  # UserEventReceived
    "BlindTransfer": CallTracker._on_blind_transfer,  # CallTransferred
    "AttendedTransfer": CallTracker._on_attended_transfer,  # CallTransferred
    "OriginateResponse": CallTracker._on_originate_response,  # OriginateFailed
    "MixMonitorStart": CallTracker._on_mixmonitor,  # RecordingStarted
    "MixMonitorStop": CallTracker._on_mixmonitor,  # RecordingStopped
    "MixMonitorMute": CallTracker._on_mixmonitor,  # RecordingMuteChanged
    "CoreShowChannel": CallTracker._on_list_item,  # rule 4
    "CoreShowChannelsComplete": CallTracker._on_list_complete,
    # Known, and deliberately without a fact: the state they carry arrives in other events.
    "DialState": CallTracker._ignore,  # the dialled channel's Newstate says the same
    "DTMFBegin": CallTracker._ignore,  # DTMFEnd carries the digit
    "NewConnectedLine": CallTracker._ignore,  # connected-line presentation only
    # The AMI client's own markers (Privilege: local). Resync is the runner's job: on Reconnected it
    # sends CoreShowChannels and calls `resync` (docs/pbx-calls.md).
    "Disconnected": CallTracker._ignore,
    "Reconnected": CallTracker._ignore,
}
