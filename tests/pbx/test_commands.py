"""Domain commands to AMI actions (pure), and the command port over a real socket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from callcenter.errors import DomainError, LocalProtocolError
from callcenter.events import (
    AgentId,
    Announce,
    AttendedTransfer,
    BlindTransfer,
    CallArrived,
    CallId,
    ChannelId,
    DecisionId,
    Direction,
    Hangup,
    Hold,
    MuteRecording,
    OfferCall,
    Originate,
    OriginateFailed,
    PlayDtmf,
    QueueName,
    RecordingId,
    Redirect,
    SendToFallback,
    SetVariable,
    StartRecording,
    StopRecording,
    Unhold,
)
from pbx.ami import AmiDecoder, AmiMessage
from pbx.ami_client import AmiActionError, AmiClient
from pbx.calls import CallTracker
from pbx.commands import AmiAction, PbxCommandPort, UnknownChannel, to_actions
from tests.pbx.test_calls import AGENT, CALLER, ev, inbound_until_connected, run, snap

CALL = CallId(CALLER[0])
CALLER_ID, AGENT_ID = ChannelId(CALLER[0]), ChannelId(AGENT[0])


@pytest.fixture
def tracker() -> CallTracker:
    tracker = CallTracker(variables=())
    run(tracker, inbound_until_connected())
    return tracker


def test_offer_call_sets_the_contract_variables_then_redirects(tracker: CallTracker) -> None:
    offer = OfferCall(
        call_id=CALL, agent_id=AgentId("1001"), interface="PJSIP/1001", queue=QueueName("vip"),
        ring_timeout_s=12.5, decision_id=DecisionId("d-7"),
    )  # fmt: skip
    ch = CALLER[2]
    assert to_actions(offer, tracker) == [
        AmiAction("Setvar", (("Channel", ch), ("Variable", "ACD_AGENT_ID"), ("Value", "1001"))),
        AmiAction("Setvar", (("Channel", ch), ("Variable", "ACD_AGENT_INTERFACE"), ("Value", "PJSIP/1001"))),
        AmiAction("Setvar", (("Channel", ch), ("Variable", "ACD_RING_TIMEOUT"), ("Value", "13"))),
        AmiAction("Setvar", (("Channel", ch), ("Variable", "ACD_QUEUE"), ("Value", "vip"))),
        AmiAction("Setvar", (("Channel", ch), ("Variable", "ACD_DECISION_ID"), ("Value", "d-7"))),
        AmiAction("Redirect", (("Channel", ch), ("Context", "acd-connect"), ("Exten", "s"), ("Priority", "1"))),
    ]


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (
            Redirect(channel_id=CALLER_ID, context="acd-wait", exten="s", priority=2, extra_channel_id=AGENT_ID),
            [AmiAction("Redirect", (("Channel", CALLER[2]), ("Context", "acd-wait"), ("Exten", "s"), ("Priority", "2"),
                                    ("ExtraChannel", AGENT[2]), ("ExtraContext", "acd-wait"), ("ExtraExten", "s"), ("ExtraPriority", "2")))],
        ),
        (Hangup(channel_id=AGENT_ID, cause=17), [AmiAction("Hangup", (("Channel", AGENT[2]), ("Cause", "17")))]),
        (
            SetVariable(channel_id=CALLER_ID, name="CDR(userfield)", value="vip gold"),
            [AmiAction("Setvar", (("Channel", CALLER[2]), ("Variable", "CDR(userfield)"), ("Value", "vip gold")))],
        ),
        (
            Originate(destination="PJSIP/13800138000@trunk", context="outbound", exten="s", caller_id="10086 <10086>",
                      timeout_s=25, variables=(("CAMPAIGN", "c1"), ("CONTACT", "k9")), request_id="dial-1"),
            [AmiAction("Originate", (("Channel", "PJSIP/13800138000@trunk"), ("Context", "outbound"), ("Exten", "s"),
                                     ("Priority", "1"), ("Timeout", "25000"), ("Async", "true"),
                                     ("CallerID", "10086 <10086>"), ("ChannelId", "dial-1"),
                                     ("Variable", ("CAMPAIGN=c1", "CONTACT=k9"))))],
        ),
        (
            BlindTransfer(channel_id=AGENT_ID, context="agents", exten="2002"),
            [AmiAction("BlindTransfer", (("Channel", AGENT[2]), ("Context", "agents"), ("Exten", "2002")))],
        ),
        (AttendedTransfer(channel_id=AGENT_ID, exten="2002"), [AmiAction("Atxfer", (("Channel", AGENT[2]), ("Exten", "2002")))]),
        (
            Hold(channel_id=CALLER_ID),
            [AmiAction("Redirect", (("Channel", CALLER[2]), ("Context", "acd-hold"), ("Exten", "s"), ("Priority", "1"),
                                    ("ExtraChannel", AGENT[2]), ("ExtraContext", "acd-hold"), ("ExtraExten", "holder"),
                                    ("ExtraPriority", "1")))],
        ),
        (
            StartRecording(call_id=CALL, channel_id=CALLER_ID, recording_id=RecordingId("rec-1"), file="/rec/c1.wav",
                           options="b", rx_file="/rec/c1-in.wav", tx_file="/rec/c1-out.wav"),
            [AmiAction("Setvar", (("Channel", CALLER[2]), ("Variable", "CC_RECORDING_ID"), ("Value", "rec-1"))),
             AmiAction("MixMonitor", (("Channel", CALLER[2]), ("File", "/rec/c1.wav"),
                                      ("Options", "br(/rec/c1-in.wav)t(/rec/c1-out.wav)")))],
        ),
        (
            StopRecording(call_id=CALL, channel_id=CALLER_ID, recording_id=RecordingId("rec-1")),
            [AmiAction("StopMixMonitor", (("Channel", CALLER[2]),))],
        ),
        (
            MuteRecording(channel_id=CALLER_ID, recording_id=RecordingId("rec-1"), mute=True, direction="read"),
            [AmiAction("MixMonitorMute", (("Channel", CALLER[2]), ("Direction", "read"), ("State", "1")))],
        ),
        (PlayDtmf(channel_id=AGENT_ID, digit="#"), [AmiAction("PlayDTMF", (("Channel", AGENT[2]), ("Digit", "#")))]),
        (
            SendToFallback(call_id=CALL, reason="no agents"),
            [AmiAction("Setvar", (("Channel", CALLER[2]), ("Variable", "ACD_FALLBACK_REASON"), ("Value", "no agents"))),
             AmiAction("Redirect", (("Channel", CALLER[2]), ("Context", "acd-fallback"), ("Exten", "s"), ("Priority", "1")))],
        ),
    ],
)  # fmt: skip
def test_command_mapping(tracker: CallTracker, command: object, expected: list[AmiAction]) -> None:
    assert to_actions(command, tracker) == expected  # type: ignore[arg-type]


def test_unhold_bridges_the_two_parties_back(tracker: CallTracker) -> None:
    # After Hold both left the bridge and sit in [acd-hold]: the peer is the call's other channel.
    run(
        tracker,
        [
            ev("BridgeLeave", [("BridgeUniqueid", "5b1d-bridge")], snap(*CALLER)),
            ev("BridgeLeave", [("BridgeUniqueid", "5b1d-bridge")], snap(*AGENT)),
        ],
    )
    assert tracker.connected_to(CALLER_ID) == []
    assert to_actions(Unhold(channel_id=CALLER_ID), tracker) == [
        AmiAction("Bridge", (("Channel1", AGENT[2]), ("Channel2", CALLER[2]), ("Tone", "no")))
    ]


def test_unknown_channels_and_unsupported_commands(tracker: CallTracker) -> None:
    cases: list[tuple[object, str, str]] = [
        (Hangup(channel_id=ChannelId("9.9")), "no-such-channel", "Hangup: no live channel for channel_id '9.9'"),
        (
            OfferCall(call_id=CallId("gone"), agent_id=AgentId("1"), interface="PJSIP/1", queue=QueueName("q")),
            "no-such-channel",
            "OfferCall: no live channel for call_id 'gone'",
        ),
        (Announce(call_id=CALL, text="hi"), "unsupported-command", "the PBX command port has no mapping for Announce"),
    ]
    for command, error_id, message in cases:
        with pytest.raises(DomainError) as info:
            to_actions(command, tracker)  # type: ignore[arg-type]
        assert (info.value.error_id, str(info.value)) == (error_id, message)
    with pytest.raises(LocalProtocolError) as too_long:
        to_actions(Originate(destination="PJSIP/1@trunk", context="outbound", exten="1", request_id="x" * 151), tracker)
    assert (
        str(too_long.value)
        == "Originate request_id 'xxxxxxxxxxxxxxxxxxxx'... is 151 characters; Asterisk's Uniqueid holds at most 150"
    )
    run(tracker, [ev("Hangup", snap(*AGENT), Cause="16")])
    with pytest.raises(UnknownChannel) as unhold:
        to_actions(Unhold(channel_id=CALLER_ID), tracker)
    assert str(unhold.value) == "Unhold: no live channel for peer of channel_id '1700000000.1'"


# ------------------------------------------------------------------------------ the port on a socket


class TinyAsterisk:
    """An AMI server that answers Success to everything except the actions named in `fail`."""

    def __init__(self, fail: set[str] | None = None) -> None:
        self.actions: list[AmiMessage] = []
        self.fail = fail or set()
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"Asterisk Call Manager/9.0.0\r\n")
        decoder = AmiDecoder(expect_banner=False)
        try:
            while data := await reader.read(4096):
                for action in decoder.feed(data):
                    self.actions.append(action)
                    if action.name in self.fail:
                        reply = AmiMessage.response(
                            "Error", [("Message", "No such channel")], action_id=action.action_id
                        )
                    elif action.name == "Logoff":
                        reply = AmiMessage.response(
                            "Goodbye", [("Message", "Thanks for all the fish.")], action_id=action.action_id
                        )
                    else:
                        reply = AmiMessage.response("Success", [("Message", "ok")], action_id=action.action_id)
                    writer.write(reply.encode())
        finally:
            writer.close()

    def names(self) -> list[str]:
        return [a.name for a in self.actions if a.name not in ("Login", "Logoff")]

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


@pytest.fixture
async def asterisk_and_client() -> AsyncIterator[tuple[TinyAsterisk, AmiClient]]:
    asterisk = TinyAsterisk(fail={"Redirect"})
    port = await asterisk.start()
    client = AmiClient("127.0.0.1", port, "cc", "s3cret", auth="plain", action_timeout_s=2.0, ping_interval_s=60.0)
    await client.connect()
    yield asterisk, client
    await client.close()
    await asterisk.stop()


async def test_port_runs_actions_in_order_and_stops_at_the_first_failure(
    asterisk_and_client: tuple[TinyAsterisk, AmiClient], tracker: CallTracker
) -> None:
    asterisk, client = asterisk_and_client
    port = PbxCommandPort(client, tracker)
    replies = await port.execute(SetVariable(channel_id=CALLER_ID, name="X", value="1"))
    assert [r.name for r in replies] == ["Success"]
    with pytest.raises(AmiActionError):
        await port.execute(SendToFallback(call_id=CALL, reason="timeout"))
    with pytest.raises(AmiActionError):
        await port.execute(Redirect(channel_id=CALLER_ID, context="acd-wait", exten="s"))
    await port.execute(Hangup(channel_id=AGENT_ID))
    assert asterisk.names() == ["Setvar", "Setvar", "Redirect", "Redirect", "Hangup"]
    setvar = asterisk.actions[2]
    assert [(k, v) for k, v in setvar.headers if k != "ActionID"] == [
        ("Action", "Setvar"), ("Channel", CALLER[2]), ("Variable", "ACD_FALLBACK_REASON"), ("Value", "timeout"),
    ]  # fmt: skip
    with pytest.raises(UnknownChannel):  # nothing is sent for an unknown channel
        await port.execute(Hangup(channel_id=ChannelId("nope")))
    assert len(asterisk.names()) == 5


async def test_port_originate_makes_the_call_known_as_outbound(
    asterisk_and_client: tuple[TinyAsterisk, AmiClient], tracker: CallTracker
) -> None:
    asterisk, client = asterisk_and_client
    port = PbxCommandPort(client, tracker)
    first = Originate(destination="PJSIP/13800138000@trunk", context="outbound", exten="s", request_id="dial-1")
    second = Originate(destination="PJSIP/13900139000@trunk", context="outbound", exten="s", request_id="dial-2")
    await port.execute(first)
    (reply,) = await port.execute(second)
    sent = asterisk.actions[-1]
    assert (sent.get("ChannelId"), sent.get("Async")) == ("dial-2", "true")
    facts = run(
        tracker,
        [
            ev("Newchannel", snap("dial-1", "dial-1", "PJSIP/trunk-00000009", state="Down", num="<unknown>", context="outbound", exten="s")),
            AmiMessage.event("OriginateResponse", [("ActionID", reply.action_id or ""), ("Response", "Failure"), ("Reason", "0"), ("Uniqueid", "<null>")]),
        ],
    )  # fmt: skip
    arrived = facts[0]
    assert isinstance(arrived, CallArrived)
    assert (arrived.call_id, arrived.direction, arrived.dnis) == ("dial-1", Direction.OUTBOUND, "13800138000")
    assert facts[-1] == OriginateFailed(request_id="dial-2", call_id=None, reason="failed", at=0.0)
