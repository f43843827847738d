"""The call tracker on the real traces in ../shared/ami/traces/ and on Asterisk 20 shaped streams."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callcenter.errors import RemoteProtocolError
from callcenter.events import (
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
    from_json,
    to_json,
)
from pbx.ami import AmiDecoder, AmiMessage
from pbx.calls import CallTracker

STATES = {"Down": "0", "Ring": "4", "Ringing": "5", "Up": "6"}


def load(shared_dir: Path, name: str) -> list[AmiMessage]:
    decoder = AmiDecoder()
    raw = (shared_dir / "ami" / "traces" / name).read_bytes()
    return decoder.feed(raw) + decoder.end_of_stream()


def run(tracker: CallTracker, messages: list[AmiMessage], now: float = 0.0) -> list[object]:
    out: list[object] = []
    for msg in messages:
        out += tracker.handle(msg, now=now)
    return out


def snap(
    uid: str, linked: str, channel: str, state: str = "Up", prefix: str = "", **more: str
) -> list[tuple[str, str]]:
    """A channel snapshot in Asterisk 20's header order."""
    fields = [
        ("Channel", channel), ("ChannelState", STATES[state]), ("ChannelStateDesc", state),
        ("CallerIDNum", more.pop("num", "13800138000")), ("CallerIDName", more.pop("cidname", "<unknown>")),
        ("ConnectedLineNum", "<unknown>"), ("ConnectedLineName", "<unknown>"), ("Language", "en"),
        ("AccountCode", ""), ("Context", more.pop("context", "hotline")), ("Exten", more.pop("exten", "10086")),
        ("Priority", more.pop("priority", "1")), ("Uniqueid", uid), ("Linkedid", linked),
    ]  # fmt: skip
    return [(prefix + k, v) for k, v in fields] + list(more.items())


def ev(name: str, *parts: list[tuple[str, str]], **headers: str) -> AmiMessage:
    pairs: list[tuple[str, str]] = [("Privilege", "call,all")]
    for part in parts:
        pairs += part
    return AmiMessage.event(name, [*pairs, *headers.items()])


CALLER = ("1700000000.1", "1700000000.1", "PJSIP/trunk-00000001")
AGENT = ("1700000000.2", "1700000000.1", "PJSIP/1001-00000002")
BRIDGE = "5b1d-bridge"


def inbound_until_connected() -> list[AmiMessage]:
    """Caller on the trunk -> [hotline] -> redirected to [acd-connect] -> Dial agent -> bridged."""
    return [
        ev("Newchannel", snap(*CALLER, state="Ring", exten="10086", cidname="Zhang San")),
        ev("Newexten", snap(*CALLER, state="Ring"), Extension="10086", Application="Answer", AppData=""),
        ev("Newstate", snap(*CALLER, state="Up")),
        ev("Newexten", snap(*CALLER, context="acd-connect", exten="s"), Extension="s", Application="Dial", AppData="PJSIP/1001,15"),
        ev("Newchannel", snap(*AGENT, state="Down", num="1001", context="agents", exten="s")),
        ev("DialBegin", snap(*CALLER, context="acd-connect", exten="s"), snap(*AGENT, state="Down", prefix="Dest"), DialString="1001"),
        ev("Newstate", snap(*AGENT, state="Ringing")),
        ev("DialState", snap(*CALLER), snap(*AGENT, state="Ringing", prefix="Dest"), DialStatus="RINGING"),
        ev("Newstate", snap(*AGENT, state="Up")),
        ev("DialEnd", snap(*CALLER), snap(*AGENT, prefix="Dest"), DialStatus="ANSWER"),
        ev("BridgeCreate", BridgeUniqueid=BRIDGE, BridgeType="basic", BridgeNumChannels="0"),
        ev("BridgeEnter", [("BridgeUniqueid", BRIDGE), ("BridgeNumChannels", "1")], snap(*AGENT)),
        ev("BridgeEnter", [("BridgeUniqueid", BRIDGE), ("BridgeNumChannels", "2")], snap(*CALLER)),
    ]  # fmt: skip


def hangup_from(first: tuple[str, str, str], request: str | None) -> list[AmiMessage]:
    """`first` hangs up (with `request` before it, or none), then the other leg follows."""
    other = AGENT if first == CALLER else CALLER
    msgs = [ev(request, snap(*first), Cause="16")] if request else []
    return [
        *msgs,
        ev("BridgeLeave", [("BridgeUniqueid", BRIDGE), ("BridgeNumChannels", "1")], snap(*first)),
        ev("Hangup", snap(*first), Cause="16", **{"Cause-txt": "Normal Clearing"}),
        ev("SoftHangupRequest", snap(*other), Cause="16"),
        ev("BridgeLeave", [("BridgeUniqueid", BRIDGE), ("BridgeNumChannels", "0")], snap(*other)),
        ev("BridgeDestroy", BridgeUniqueid=BRIDGE, BridgeNumChannels="0"),
        ev("Hangup", snap(*other), Cause="16", **{"Cause-txt": "Normal Clearing"}),
    ]


# ------------------------------------------------------------------------------ real traces


def test_wazo_benchmark_call_reaches_the_expected_shape(shared_dir: Path) -> None:
    tracker = CallTracker(variables=())
    facts = run(tracker, load(shared_dir, "wazo-amid--benchmark-call-events.txt"), now=1511987918.0)
    call = CallId("1511987918.22")
    assert {f.call_id for f in facts if hasattr(f, "call_id")} == {call}  # type: ignore[attr-defined]
    assert [f for f in facts if isinstance(f, CallArrived)] == [
        CallArrived(
            call_id=call, channel_id=ChannelId("1511987918.22"), channel="SCCP/101-00000004", ani="101", dnis="103",
            caller_name="Alice Wuuuuuuuuuuuunderland", at=1511987918.0,
        )
    ]  # fmt: skip
    legs = [f.channel for f in facts if isinstance(f, ChannelCreated)]
    assert legs == ["SCCP/101-00000004", "SIP/rku3uo-0000000c", "SIP/lm4w1w87-0000000d"]
    dials = [(f.dest_channel, f.dial_string) for f in facts if isinstance(f, DialBegan)]
    assert dials == [("SIP/rku3uo-0000000c", "rku3uo"), ("SIP/lm4w1w87-0000000d", "lm4w1w87")]
    ends = [(f.dest_channel_id, f.status) for f in facts if isinstance(f, DialEnded)]
    assert ends == [("1511987918.24", DialStatus.CANCEL), ("1511987918.23", DialStatus.ANSWER)]
    # The capture holds only the callee's BridgeEnter/BridgeLeave (the caller's were filtered out).
    bridged = [(type(f).__name__, f.channel_id) for f in facts if isinstance(f, ChannelBridged | ChannelUnbridged)]
    assert bridged == [("ChannelBridged", "1511987918.23"), ("ChannelUnbridged", "1511987918.23")]
    hangups = [(f.channel_id, f.cause, f.cause_txt) for f in facts if isinstance(f, ChannelHungUp)]
    assert hangups == [
        ("1511987918.24", 26, "Answered elsewhere"),
        ("1511987918.23", 16, "Normal Clearing"),
        ("1511987918.22", 16, "Normal Clearing"),
    ]
    # The callee (a dialled leg) sent the first HangupRequest: the "agent" side hung up.
    assert facts[-1] == CallEnded(call_id=call, hangup_side=HangupSide.AGENT, cause=16, at=1511987918.0)
    assert tracker.calls == {}
    assert tracker.untranslated == {
        "DeviceStateChange": 9,
        "ExtensionStatus": 8,
        "CEL": 15,
        "QueueMemberStatus": 3,
        "SIPRinging": 2,
    }
    user_events = [(f.name, f.channel_id) for f in facts if isinstance(f, UserEventReceived)]
    assert user_events[0] == ("User", "1511987918.22")
    first_fields = next(f.fields for f in facts if isinstance(f, UserEventReceived))
    assert ("WAZO_DSTID", "923") in first_fields and not any(k == "Channel" for k, _ in first_fields)
    for fact in facts:  # every fact survives the JSON form replay prints
        assert from_json(to_json(fact)) == fact


def test_wazo_trace_reports_variables_when_asked(shared_dir: Path) -> None:
    facts = run(
        CallTracker(variables={"WAZO_CHANNEL_DIRECTION"}), load(shared_dir, "wazo-amid--benchmark-call-events.txt")
    )
    found = [(f.channel_id, f.value) for f in facts if isinstance(f, VariableSet)]
    assert found and found[0] == ("1511987918.22", "from-wazo")
    everything = run(CallTracker(), load(shared_dir, "wazo-amid--benchmark-call-events.txt"))
    assert sum(isinstance(f, VariableSet) for f in everything) == 173


def test_asterisk_11_originate_trace_maps_what_it_can(shared_dir: Path) -> None:
    tracker = CallTracker(variables=())
    messages = load(shared_dir, "panoramisk--originate_with_events.txt")
    facts: list[object] = []
    renamed = None
    for msg in messages:
        facts += tracker.handle(msg, now=0.0)
        if msg.name == "Rename" and msg.get("Uniqueid") == "1414510600.0":
            renamed = tracker.channel_name(ChannelId("1414510600.0"))
    assert renamed == "SIP/ddddd-00000000"  # the masquerade renamed the Local;1 half
    # No Linkedid before Asterisk 12: every channel is keyed as its own call, and every one ends.
    arrived = [f.call_id for f in facts if isinstance(f, CallArrived)]
    ended = [f.call_id for f in facts if isinstance(f, CallEnded)]
    assert arrived == ["1414510600.0", "1414510600.1", "1414510601.2", "1414510609.3"]
    assert sorted(ended) == sorted(arrived) and tracker.calls == {}
    dials = [(f.channel_id, f.dest_channel_id, f.dest_channel) for f in facts if isinstance(f, DialBegan)]
    assert dials == [
        ("1414510600.1", "1414510601.2", "SIP/ddddd-00000000"),
        ("1414510600.0", "1414510609.3", "SIP/uuuuu-00000001"),
    ]
    dial_ends = [(f.channel_id, f.dest_channel_id, f.status) for f in facts if isinstance(f, DialEnded)]
    assert dial_ends == [
        ("1414510600.1", "1414510601.2", DialStatus.ANSWER),
        ("1414510600.0", "1414510609.3", DialStatus.ANSWER),
    ]
    assert sum(isinstance(f, ChannelEnteredDialplan) for f in facts) == 136
    untranslated = tracker.untranslated
    assert (untranslated["Bridge"], untranslated["Masquerade"], untranslated["LocalBridge"]) == (6, 1, 1)
    assert untranslated["AGIExec"] == 260 and "Newexten" not in untranslated


# ------------------------------------------------------------------------------ Asterisk 20 shapes


def test_inbound_call_connected_then_caller_hangs_up() -> None:
    tracker = CallTracker(variables=())
    facts = run(tracker, inbound_until_connected(), now=100.0)
    call = CallId(CALLER[0])
    assert facts[0] == CallArrived(
        call_id=call, channel_id=ChannelId(CALLER[0]), channel=CALLER[2], ani="13800138000", dnis="10086",
        caller_name="Zhang San", at=100.0,
    )  # fmt: skip
    assert [type(f).__name__ for f in facts[1:]] == [
        "ChannelCreated", "ChannelEnteredDialplan", "ChannelStateChanged", "ChannelEnteredDialplan", "ChannelCreated",
        "DialBegan", "ChannelStateChanged", "ChannelStateChanged", "DialEnded", "ChannelBridged", "ChannelBridged",
    ]  # fmt: skip
    assert tracker.connected_to(ChannelId(AGENT[0])) == [CALLER[0]]
    assert tracker.peers(ChannelId(CALLER[0])) == [AGENT[0]]
    assert tracker.caller_channel(call) == CALLER[0]
    assert tracker.channel_name(ChannelId(AGENT[0])) == AGENT[2]
    tracked = tracker.call(call)
    assert tracked is not None and sorted(tracked.channels) == [CALLER[0], AGENT[0]]
    assert (tracked.ani, tracked.dnis, tracked.direction) == ("13800138000", "10086", Direction.INBOUND)

    end = run(tracker, hangup_from(CALLER, "HangupRequest"), now=160.0)
    assert end[-1] == CallEnded(call_id=call, hangup_side=HangupSide.CALLER, cause=16, at=160.0)
    assert [type(f).__name__ for f in end] == [
        "ChannelUnbridged", "ChannelHungUp", "ChannelUnbridged", "ChannelHungUp", "CallEnded",
    ]  # fmt: skip
    assert tracker.calls == {} and tracker.untranslated == {}


@pytest.mark.parametrize(
    ("first", "request_event", "side"),
    [
        (AGENT, "HangupRequest", HangupSide.AGENT),
        (CALLER, "SoftHangupRequest", HangupSide.SYSTEM),  # AMI Hangup action
        (CALLER, None, HangupSide.SYSTEM),  # the dialplan ran Hangup()
    ],
)
def test_hangup_side(first: tuple[str, str, str], request_event: str | None, side: HangupSide) -> None:
    tracker = CallTracker(variables=())
    run(tracker, inbound_until_connected())
    facts = run(tracker, hangup_from(first, request_event))
    assert facts[-1] == CallEnded(call_id=CallId(CALLER[0]), hangup_side=side, cause=16, at=0.0)


def test_ring_no_answer_leg_does_not_decide_the_side_and_late_events_do_not_resurrect() -> None:
    tracker = CallTracker(variables=())
    msgs = inbound_until_connected()[:8]  # agent ringing
    msgs += [
        ev("HangupRequest", snap(*AGENT, state="Ringing"), Cause="19"),
        ev("DialEnd", snap(*CALLER), snap(*AGENT, state="Ringing", prefix="Dest"), DialStatus="NOANSWER"),
        ev("Hangup", snap(*AGENT, state="Ringing"), Cause="19", **{"Cause-txt": "No user responding"}),
        ev("VarSet", snap(*AGENT, state="Ringing"), Variable="LATE", Value="1"),  # after its Hangup
        ev("HangupRequest", snap(*CALLER), Cause="16"),
        ev("Hangup", snap(*CALLER), Cause="16", **{"Cause-txt": "Normal Clearing"}),
    ]
    facts = run(tracker, msgs)
    assert [f.status for f in facts if isinstance(f, DialEnded)] == [DialStatus.NOANSWER]
    assert sum(isinstance(f, ChannelCreated) for f in facts) == 2
    assert facts[-1] == CallEnded(call_id=CallId(CALLER[0]), hangup_side=HangupSide.CALLER, cause=16, at=0.0)


def test_channel_first_seen_mid_call_is_adopted_from_the_snapshot() -> None:
    tracker = CallTracker(variables=())
    facts = run(tracker, [ev("Newstate", snap(*AGENT, state="Up", num="1001"))])
    assert facts == [
        CallArrived(call_id=CallId(CALLER[0]), channel_id=ChannelId(AGENT[0]), channel=AGENT[2], ani="1001", dnis="10086", at=0.0),
        ChannelCreated(
            call_id=CallId(CALLER[0]), channel_id=ChannelId(AGENT[0]), channel=AGENT[2], state=ChannelState.UP,
            caller_num="1001", exten="10086", context="hotline", at=0.0,
        ),
    ]  # fmt: skip


def test_hold_dtmf_user_event_transfer_and_timestamp() -> None:
    tracker = CallTracker(variables=())
    run(tracker, inbound_until_connected())
    caller = ChannelId(CALLER[0])
    facts = run(
        tracker,
        [
            ev("Hold", snap(*CALLER), MusicClass="default"),
            ev("Hold", snap(*CALLER), MusicClass="default"),  # repeated: no second fact
            ev("Unhold", snap(*CALLER)),
            ev("DTMFBegin", snap(*CALLER), Digit="5", Direction="Received"),
            ev("DTMFEnd", snap(*CALLER), Digit="5", DurationMs="120", Direction="Received"),
            ev("DTMFEnd", snap(*AGENT), Digit="9", DurationMs="100", Direction="Sent"),
            AmiMessage.event("UserEvent", [("Privilege", "user,all"), ("Timestamp", "1700000123.250000"), ("UserEvent", "AcdFallback"), ("Reason", "timeout")]),
            ev("BlindTransfer", [("Result", "Success"), ("TransfererUniqueid", AGENT[0]), ("TransfererLinkedid", CALLER[1])], IsExternal="No", Context="agents", Extension="2002"),
        ],
        now=5.0,
    )  # fmt: skip
    call = CallId(CALLER[0])
    assert facts == [
        ChannelHeld(call_id=call, channel_id=caller, at=5.0),
        ChannelUnheld(call_id=call, channel_id=caller, at=5.0),
        DtmfReceived(call_id=call, channel_id=caller, digit="5", at=5.0),
        UserEventReceived(
            call_id=None, channel_id=None, name="AcdFallback", fields=(("Reason", "timeout"),), at=1700000123.25
        ),
        CallTransferred(call_id=call, kind="blind", target="2002@agents", at=5.0),
    ]


def test_outbound_originate_and_its_failure() -> None:
    tracker = CallTracker(variables=())
    tracker.expect_outbound(ChannelId("dial-42"), dnis="13800138000")
    facts = run(
        tracker,
        [
            ev("Newchannel", snap("dial-42", "dial-42", "PJSIP/trunk-00000007", state="Down", num="<unknown>", context="outbound", exten="s")),
            ev("Newstate", snap("dial-42", "dial-42", "PJSIP/trunk-00000007", state="Ringing", num="<unknown>")),
            ev("Hangup", snap("dial-42", "dial-42", "PJSIP/trunk-00000007", state="Ringing"), Cause="17", **{"Cause-txt": "User busy"}),
            AmiMessage.event("OriginateResponse", [("Privilege", "call,all"), ("Response", "Failure"), ("Channel", "PJSIP/13800138000@trunk"), ("Context", "outbound"), ("Exten", "s"), ("Reason", "5"), ("Uniqueid", "dial-42"), ("CallerIDNum", "<unknown>"), ("CallerIDName", "<unknown>")]),
            AmiMessage.event("OriginateResponse", [("Privilege", "call,all"), ("ActionID", "dial-43"), ("Response", "Failure"), ("Channel", "PJSIP/139@trunk"), ("Reason", "0"), ("Uniqueid", "<unknown>")]),
        ],
    )  # fmt: skip
    arrived = facts[0]
    assert isinstance(arrived, CallArrived)
    assert (arrived.direction, arrived.dnis, arrived.ani) == (Direction.OUTBOUND, "13800138000", "")
    assert facts[-3] == CallEnded(call_id=CallId("dial-42"), hangup_side=HangupSide.SYSTEM, cause=17, at=0.0)
    assert facts[-2:] == [
        OriginateFailed(request_id="dial-42", call_id=CallId("dial-42"), reason="busy", at=0.0),
        OriginateFailed(request_id="dial-43", call_id=None, reason="failed", at=0.0),
    ]


def test_recording_events_need_our_recording_id() -> None:
    tracker = CallTracker(variables=())
    run(tracker, inbound_until_connected())
    facts = run(
        tracker,
        [
            ev("MixMonitorStart", snap(*AGENT)),  # someone else's recording: no id on the channel
            ev("VarSet", snap(*CALLER), Variable="CC_RECORDING_ID", Value="rec-1"),
            ev("MixMonitorStart", snap(*CALLER)),
            ev("MixMonitorMute", snap(*CALLER), Direction="both", State="1"),
            ev("MixMonitorMute", snap(*CALLER), Direction="both", State="0"),
            ev("MixMonitorStop", snap(*CALLER)),
        ],
    )
    call, rid = CallId(CALLER[0]), RecordingId("rec-1")
    assert facts == [
        RecordingStarted(call_id=call, recording_id=rid, channel_id=ChannelId(CALLER[0]), at=0.0),
        RecordingMuteChanged(call_id=call, recording_id=rid, channel_id=ChannelId(CALLER[0]), muted=True,
                             direction="both", at=0.0),
        RecordingMuteChanged(call_id=call, recording_id=rid, channel_id=ChannelId(CALLER[0]), muted=False,
                             direction="both", at=0.0),
        RecordingStopped(call_id=call, recording_id=rid, at=0.0),
    ]


def test_untranslated_events_are_counted_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="pbx.calls")
    tracker = CallTracker()
    for _ in range(3):
        assert tracker.handle(ev("MusicOnHoldStart", snap(*CALLER), Class="default"), now=0.0) == []
    assert tracker.untranslated == {"MusicOnHoldStart": 3}
    messages = [r.getMessage() for r in caplog.records if r.name == "pbx.calls"]
    assert messages.count("AMI event MusicOnHoldStart has no translator; counting it") == 1
    assert tracker.calls == {}  # an untranslated event does not adopt its channel
    for marker in ("Disconnected", "Reconnected"):  # the AMI client's local events are known
        assert tracker.handle(AmiMessage.event(marker, [("Privilege", "local")]), now=0.0) == []
    assert tracker.untranslated == {"MusicOnHoldStart": 3}


@pytest.mark.parametrize(
    ("msg", "text"),
    [
        (
            ev("Newexten", snap(*CALLER, priority="one"), Application="NoOp"),
            "AMI Newexten at byte -1 for 1700000000.1: Priority 'one' is not an integer",
        ),
        (
            ev("DialEnd", snap(*CALLER), snap(*AGENT, prefix="Dest"), DialStatus="MAYBE"),
            "AMI DialEnd at byte -1: DialStatus 'MAYBE' is not a Dial status",
        ),
        (
            AmiMessage.event("Newstate", [("Timestamp", "soon"), *snap(*CALLER)]),
            "AMI Newstate at byte -1: Timestamp 'soon' is not a number",
        ),
    ],
)
def test_bad_values_raise_with_exact_text(msg: AmiMessage, text: str) -> None:
    tracker = CallTracker()
    run(tracker, inbound_until_connected())
    with pytest.raises(RemoteProtocolError) as info:
        tracker.handle(msg, now=0.0)
    assert str(info.value) == text
    fresh = CallTracker()  # the channel is unknown here: a rejected event must not adopt it
    with pytest.raises(RemoteProtocolError):
        fresh.handle(msg, now=0.0)
    assert fresh.calls == {} and fresh.channel(ChannelId(CALLER[0])) is None


# ------------------------------------------------------------------------------ resync


def core_show_channel(uid: str, linked: str, channel: str, state: str = "Up", bridge: str = "") -> AmiMessage:
    return AmiMessage.event(
        "CoreShowChannel",
        [("ActionID", "resync-1"), *snap(uid, linked, channel, state=state), ("Application", "Dial"),
         ("ApplicationData", "PJSIP/1001,15"), ("Duration", "00:01:05"), ("BridgeId", bridge)],
    )  # fmt: skip


OTHER = ("1700000005.7", "1700000005.7", "PJSIP/trunk-00000009")
NEW = ("1700000009.1", "1700000009.1", "PJSIP/trunk-0000000a")


def test_resync_after_an_outage_neither_invents_nor_loses_a_call() -> None:
    tracker = CallTracker(variables=())
    run(tracker, [*inbound_until_connected(), ev("Newchannel", snap(*OTHER, state="Ring"))])
    mark = tracker.resync_mark()
    # During the outage: the agent hung up (the caller is now alone in a new bridge), OTHER ended,
    # NEW arrived and is ringing.
    items = [
        core_show_channel(*CALLER, bridge="moh-bridge"),
        core_show_channel(*NEW, state="Ring"),
    ]
    facts = tracker.resync(items, now=50.0, mark=mark)
    assert facts == [
        ChannelHungUp(call_id=CallId(CALLER[0]), channel_id=ChannelId(AGENT[0]), cause=0, cause_txt="unknown (ended while AMI was down)", at=50.0),
        ChannelHungUp(call_id=CallId(OTHER[0]), channel_id=ChannelId(OTHER[0]), cause=0, cause_txt="unknown (ended while AMI was down)", at=50.0),
        CallEnded(call_id=CallId(OTHER[0]), hangup_side=HangupSide.UNKNOWN, cause=0, at=50.0),
        ChannelUnbridged(call_id=CallId(CALLER[0]), channel_id=ChannelId(CALLER[0]), bridge_id=BRIDGE, at=50.0),  # type: ignore[arg-type]
        ChannelBridged(call_id=CallId(CALLER[0]), channel_id=ChannelId(CALLER[0]), bridge_id="moh-bridge", at=50.0),  # type: ignore[arg-type]
        CallArrived(call_id=CallId(NEW[0]), channel_id=ChannelId(NEW[0]), channel=NEW[2], ani="13800138000", dnis="10086", at=50.0),
        ChannelCreated(call_id=CallId(NEW[0]), channel_id=ChannelId(NEW[0]), channel=NEW[2], state=ChannelState.RING, caller_num="13800138000", exten="10086", context="hotline", at=50.0),
    ]  # fmt: skip
    assert sorted(tracker.calls) == [CALLER[0], NEW[0]]
    assert tracker.resync(items, now=51.0) == []  # a second identical list changes nothing


def test_resync_list_in_the_stream_with_racing_events() -> None:
    tracker = CallTracker(variables=())
    run(tracker, [*inbound_until_connected(), ev("Newchannel", snap(*OTHER, state="Ring"))])
    racing = ("1700000010.3", "1700000010.3", "PJSIP/trunk-0000000b")
    stream = [
        AmiMessage.response("Success", [("EventList", "start"), ("Message", "Channels will follow")], action_id="r1"),
        core_show_channel(*CALLER, bridge=BRIDGE),
        ev("Newchannel", snap(*racing, state="Ring")),  # created after the snapshot was taken
        core_show_channel(*OTHER, state="Ring"),
        ev("Hangup", snap(*OTHER, state="Ring"), Cause="16", **{"Cause-txt": "Normal Clearing"}),  # ends while listing
        core_show_channel(*AGENT, bridge=BRIDGE),
        AmiMessage.event(
            "CoreShowChannelsComplete", [("ActionID", "r1"), ("EventList", "Complete"), ("ListItems", "3")]
        ),
    ]
    facts = run(tracker, stream)
    kinds = Counter(type(f).__name__ for f in facts)
    assert kinds == Counter({"CallArrived": 1, "ChannelCreated": 1, "ChannelHungUp": 1, "CallEnded": 1})
    assert sorted(tracker.calls) == [CALLER[0], racing[0]]  # the racing call is kept, OTHER is not recreated
    assert tracker.untranslated == {}


def test_calls_property_is_a_copy() -> None:
    tracker = CallTracker(variables=())
    run(tracker, inbound_until_connected())
    tracker.calls.clear()
    assert list(tracker.calls) == [CALLER[0]]
    assert tracker.channel(ChannelId("nope")) is None and tracker.caller_channel(CallId("nope")) is None
    assert isinstance(tracker.handle(ev("Newstate", snap(*CALLER, state="Up")), now=0.0), list)
    assert not [
        f
        for f in tracker.handle(ev("Newstate", snap(*CALLER, state="Up")), now=0.0)
        if isinstance(f, ChannelStateChanged)
    ]


# ------------------------------------------------------------------------------ invariants


@pytest.fixture(
    scope="module", params=["wazo-amid--benchmark-call-events.txt", "panoramisk--originate_with_events.txt"]
)
def trace_messages(shared_dir: Path, request: pytest.FixtureRequest) -> list[AmiMessage]:
    return load(shared_dir, request.param)


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_lost_events_never_lose_or_invent_a_call(trace_messages: list[AmiMessage], data: st.DataObject) -> None:
    """Drop any subset of the real events (an AMI outage, a filter): every call the tracker
    announces ends exactly once, and a resync with an empty list ends what is left."""
    messages = trace_messages
    keep = data.draw(st.lists(st.booleans(), min_size=len(messages), max_size=len(messages)))
    tracker = CallTracker(variables=())
    facts = run(tracker, [m for m, k in zip(messages, keep, strict=True) if k])
    facts += tracker.resync([], now=1.0)
    arrived = [f.call_id for f in facts if isinstance(f, CallArrived)]
    ended = [f.call_id for f in facts if isinstance(f, CallEnded)]
    assert sorted(arrived) == sorted(ended) and len(set(arrived)) == len(arrived)
    created = Counter(f.channel_id for f in facts if isinstance(f, ChannelCreated))
    hung_up = Counter(f.channel_id for f in facts if isinstance(f, ChannelHungUp))
    assert created == hung_up and max(created.values(), default=1) == 1
    assert tracker.calls == {}
