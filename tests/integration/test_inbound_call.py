"""An inbound call through the production dialplan, end to end over real sockets:
[hotline] -> FastAGI IVR (pbx.fastagi) -> [acd-wait] -> Setvar + Redirect (pbx.ami_client) ->
[acd-connect] -> the agent answers -> talk -> hang-up; plus the fallback and ring-no-answer paths."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import soundfile as sf

from callcenter.events import ChannelHeld, ChannelUnheld
from emulator.app import Emulator, PlacedCall
from pbx.agi import AgiEnvironment
from pbx.ami import AmiMessage
from pbx.ami_client import AmiClient
from pbx.calls import CallTracker
from pbx.fastagi import AgiSession, FastAgiServer
from tests.integration.conftest import AmiProbe

UTTERANCE = "audio/espeak-ng-ivr/billing__en-us.wav"


class Ivr:
    """A tiny IVR: answer, ask for a digit, record what the caller says, route to an agent."""

    def __init__(self, record_dir: Path) -> None:
        self.record_dir = record_dir
        self.sessions: list[AgiEnvironment] = []
        self.digits: list[str] = []
        self.recordings: list[Path] = []

    async def handle(self, session: AgiSession) -> None:
        self.sessions.append(session.env)
        await session.send("ANSWER")
        reply = await session.send("GET DATA", "beep", "3000", "1")
        self.digits.append(reply.result or "")
        target = self.record_dir / f"utt-{session.env.uniqueid}"
        await session.send("RECORD FILE", str(target), "wav", "#", "5000", "s=1")
        self.recordings.append(Path(f"{target}.wav"))
        await session.send("SET VARIABLE", "CC_IVR_RESULT", "route")


@pytest.fixture
async def fastagi(tmp_path: Path) -> AsyncIterator[tuple[FastAgiServer, Ivr]]:
    ivr = Ivr(tmp_path / "ivr")
    server = FastAgiServer({"ivr": ivr.handle}, port=0)
    await server.start()
    yield server, ivr
    await server.stop()


@pytest.fixture
async def ami_client(ami_user: tuple[str, str]) -> AsyncIterator[Callable[[Emulator], Awaitable[AmiClient]]]:
    clients: list[AmiClient] = []

    async def connect(emulator: Emulator) -> AmiClient:
        client = AmiClient("127.0.0.1", emulator.ami_port, *ami_user, auth="md5", ping_interval_s=60)
        await client.connect()
        clients.append(client)
        return client

    yield connect
    for client in clients:
        await client.close()


async def offer(client: AmiClient, channel: str, agent: str, ring_timeout_s: int, **extra: str) -> None:
    """What the PBX command port sends for OfferCall (docs/dialplan.md)."""
    variables = {"ACD_AGENT_ID": agent, "ACD_AGENT_INTERFACE": f"PJSIP/{agent}",
                 "ACD_RING_TIMEOUT": str(ring_timeout_s), **extra}
    for name, value in variables.items():
        await client.send_action("Setvar", Channel=channel, Variable=name, Value=value)
    await client.send_action("Redirect", Channel=channel, Context="acd-connect", Exten="s", Priority="1")


async def test_inbound_call_is_answered_by_the_agent_and_recorded(
    make_emulator, ami_probe, ami_client, fastagi, shared_dir: Path, tmp_path: Path
) -> None:
    server, ivr = fastagi
    emulator: Emulator = await make_emulator(agi_port=server.port, clock_scale=10.0)
    probe: AmiProbe = await ami_probe(emulator)
    client = await ami_client(emulator)
    emulator.set_endpoint("1001", answer_after_s=2.0, talk_s=None)
    call = emulator.place_call({
        "ani": "13800138000", "dnis": "10086", "digits": [[0.5, "2"]],
        "utterances": [str(shared_dir / UTTERANCE)], "talk_s": 20.0,
    })

    waiting = await probe.wait_event("UserEvent", UserEvent="AcdWaiting", Uniqueid=call.uniqueid)
    assert waiting.get("Channel") == call.channel
    assert ivr.sessions[0].callerid == "13800138000"
    assert ivr.sessions[0].dnis == "10086"
    assert ivr.sessions[0].uniqueid == call.uniqueid
    assert ivr.digits == ["2"]
    recorded, rate = sf.read(ivr.recordings[0], dtype="int16")
    assert rate == 8000 and recorded.ndim == 1 and len(recorded) > 8000  # the spoken utterance + silence

    record_file = tmp_path / "rec" / "call.wav"
    await offer(client, call.channel, "1001", 15, ACD_RECORD="1", ACD_RECORDING_FILE=str(record_file))

    dial = await probe.wait_event("DialBegin", Uniqueid=call.uniqueid)
    agent_channel = dial.get("DestChannel") or ""
    assert agent_channel.startswith("PJSIP/1001-")
    assert dial.get("DestLinkedid") == call.linkedid == call.uniqueid
    await probe.wait_event("DialEnd", DestChannel=agent_channel, DialStatus="ANSWER")
    enter = await probe.wait_event("BridgeEnter", Channel=call.channel)
    assert enter.get("BridgeNumChannels") == "2"
    # The caller hangs up after talking 20 s (2 s real at 10x); the agent is hung up after them.
    hangup = await probe.wait_event("Hangup", Channel=call.channel)
    assert hangup.get("Cause") == "16"
    await probe.wait_event("Hangup", Channel=agent_channel)
    assert probe.find("HangupRequest", Channel=call.channel)  # the caller's side hung up
    assert probe.find("SoftHangupRequest", Channel=agent_channel)
    assert probe.find("MixMonitorStop", Channel=call.channel)
    samples, rate = sf.read(record_file, dtype="int16")
    assert rate == 8000 and abs(len(samples) / 8000 - 20.0) < 1.5  # recorded while bridged only
    names = [m.name for m in probe.events if m.get("Channel") == call.channel or m.get("DestChannel") == call.channel]
    assert names.index("DialBegin") < names.index("DialEnd") < names.index("BridgeEnter") < names.index("Hangup")


async def test_nobody_redirects_so_the_dialplan_falls_back_to_voicemail(make_emulator, ami_probe) -> None:
    # No FastAGI server either: the control plane is gone, the caller must still be served.
    emulator: Emulator = await make_emulator(agi_port=1, clock_scale=20.0, globals={"ACD_FALLBACK_TIMEOUT": "20"})
    probe: AmiProbe = await ami_probe(emulator)
    call = emulator.place_call({"ani": "13800138000", "dnis": "10086"})
    agi = await probe.wait_event("VarSet", Channel=call.channel, Variable="AGISTATUS")
    assert agi.get("Value") == "FAILURE"
    fallback = await probe.wait_event("UserEvent", UserEvent="AcdFallback", Channel=call.channel)
    assert fallback.get("Reason") == "timeout"
    await probe.wait_event("Hangup", Channel=call.channel)
    assert probe.find("VarSet", Channel=call.channel, Variable="VMSTATUS", Value="SUCCESS")
    starts = probe.find("MusicOnHoldStart", Channel=call.channel)
    stops = probe.find("MusicOnHoldStop", Channel=call.channel)
    assert len(starts) == len(stops) >= 1
    assert list((emulator.config.spool_dir / "voicemail" / "hotline" / "10086" / "INBOX").glob("msg*.wav"))


async def test_ring_no_answer_returns_the_caller_to_waiting(make_emulator, ami_probe, ami_client, fastagi) -> None:
    server, _ = fastagi
    emulator: Emulator = await make_emulator(agi_port=server.port, clock_scale=10.0)
    probe: AmiProbe = await ami_probe(emulator)
    client = await ami_client(emulator)
    emulator.set_endpoint("1002", answer=False)
    call = emulator.place_call({"ani": "13800138001", "dnis": "10086", "digits": [[0.2, "1"]]})
    await probe.wait_event("UserEvent", UserEvent="AcdWaiting", Uniqueid=call.uniqueid)
    await offer(client, call.channel, "1002", 5)
    failed = await probe.wait_event("UserEvent", UserEvent="AcdOfferFailed", Channel=call.channel)
    assert failed.get("Agent") == "1002"
    assert failed.get("DialStatus") == "NOANSWER"
    dial_end = probe.find("DialEnd", Channel=call.channel)[0]
    assert dial_end.get("DialStatus") == "NOANSWER"
    # Back in the queue: waiting again, with music.
    await probe.wait_for(lambda m: m.name == "UserEvent" and m.get("UserEvent") == "AcdWaiting"
                         and m.get("Channel") == call.channel, start=probe.messages.index(failed))
    await probe.wait_for(lambda m: m.name == "MusicOnHoldStart" and m.get("Channel") == call.channel,
                         start=probe.messages.index(failed))
    assert emulator.channel(call.channel) is not None
    assert not probe.find("Hangup", Channel=call.channel)


async def test_a_client_disconnecting_mid_call_does_not_disturb_the_call(make_emulator, ami_probe) -> None:
    emulator: Emulator = await make_emulator(agi_port=1, clock_scale=10.0, globals={"ACD_FALLBACK_TIMEOUT": "30"})
    leaving: AmiProbe = await ami_probe(emulator)
    staying: AmiProbe = await ami_probe(emulator)
    call = emulator.place_call({"ani": "13800138002", "dnis": "10086", "hangup_after_s": 10.0})
    await leaving.wait_event("MusicOnHoldStart", Channel=call.channel)
    leaving.writer.transport.abort()  # gone without Logoff, mid-call
    await asyncio.sleep(0.05)
    assert len(emulator.ami.sessions) == 1
    hangup = await staying.wait_event("Hangup", Channel=call.channel)
    assert hangup.get("Cause") == "16"
    reply = await staying.action("Ping")
    assert reply.get("Ping") == "Pong"


async def test_mixmonitor_writes_the_two_legs_and_their_mix(make_emulator, ami_probe, shared_dir: Path,
                                                            tmp_path: Path) -> None:
    emulator: Emulator = await make_emulator(agi_port=1, clock_scale=10.0)
    probe: AmiProbe = await ami_probe(emulator)
    emulator.set_endpoint("1003", answer_after_s=0.5, talk_s=None)
    call = emulator.place_call({"ani": "13800138000", "dnis": "10086",
                                "utterances": [str(shared_dir / UTTERANCE)], "talk_s": 30.0})
    await probe.wait_event("MusicOnHoldStart", Channel=call.channel)
    await probe.action("Setvar", Channel=call.channel, Variable="ACD_AGENT_INTERFACE", Value="PJSIP/1003")
    await probe.action("Redirect", Channel=call.channel, Context="acd-connect", Exten="s", Priority="1")
    await probe.wait_event("BridgeEnter", Channel=call.channel)
    rx, tx, mixed = tmp_path / "rx.wav", tmp_path / "tx.wav", tmp_path / "mix.wav"
    started = await probe.action("MixMonitor", Channel=call.channel, File=str(mixed), Options=f"r({rx})t({tx})")
    assert [k for k, _ in started.headers] == ["Response", "ActionID", "MixMonitorID"]
    await asyncio.sleep(1.0)  # 10 s of conversation
    stopped = await probe.action("StopMixMonitor", Channel=call.channel, MixMonitorID=started.get("MixMonitorID"))
    assert stopped.headers == (("Response", "Success"), ("ActionID", stopped.get("ActionID")))
    await probe.wait_event("MixMonitorStop", Channel=call.channel)
    legs = {}
    for path in (rx, tx, mixed):
        samples, rate = sf.read(path, dtype="int16")
        assert rate == 8000 and abs(len(samples) / 8000 - 10.0) < 1.0
        legs[path] = samples.astype("int32")
    n = min(len(v) for v in legs.values())
    caller, agent, mix = legs[rx][:n], legs[tx][:n], legs[mixed][:n]
    assert abs(caller).mean() > 100 and abs(agent).mean() > 100  # both sides spoke
    assert not (caller == agent).all()
    assert (abs(mix - (caller + agent).clip(-32768, 32767)) <= 1).all()
    await emulator.far_end_hangup(call.channel)


async def test_hold_and_unhold_the_way_the_command_port_does(make_emulator, ami_probe) -> None:
    # pbx/commands.py: Hold = one Redirect (held party to acd-hold,s; the other, as ExtraChannel,
    # to acd-hold,holder); Unhold = Bridge of the two.
    emulator: Emulator = await make_emulator(agi_port=1, clock_scale=10.0)
    probe: AmiProbe = await ami_probe(emulator)
    emulator.set_endpoint("1004", answer_after_s=0.2, talk_s=None)
    call = emulator.place_call({"ani": "13800138000", "dnis": "10086"})
    await probe.wait_event("MusicOnHoldStart", Channel=call.channel)
    await probe.action("Setvar", Channel=call.channel, Variable="ACD_AGENT_INTERFACE", Value="PJSIP/1004")
    await probe.action("Redirect", Channel=call.channel, Context="acd-connect", Exten="s", Priority="1")
    agent = (await probe.wait_event("DialBegin", Channel=call.channel)).get("DestChannel") or ""
    await probe.wait_event("BridgeEnter", Channel=call.channel)
    mark = len(probe.messages)
    held = await probe.action("Redirect", Channel=call.channel, Context="acd-hold", Exten="s", Priority="1",
                              ExtraChannel=agent, ExtraContext="acd-hold", ExtraExten="holder", ExtraPriority="1")
    assert held.get("Message") == "Dual Redirect successful"
    await probe.wait_for(lambda m: m.name == "MusicOnHoldStart" and m.get("Channel") == call.channel, start=mark)
    await probe.wait_for(lambda m: m.name == "Newexten" and m.get("Channel") == agent
                         and m.get("Application") == "Wait", start=mark)
    assert len(probe.find("BridgeLeave")) == 2 and probe.find("BridgeDestroy")
    unheld = await probe.action("Bridge", Channel1=agent, Channel2=call.channel, Tone="no")
    assert unheld.get("Message") == "Channels have been bridged"
    await probe.wait_for(lambda m: m.name == "MusicOnHoldStop" and m.get("Channel") == call.channel, start=mark)
    enters = [m for m in probe.messages[mark:] if m.name == "BridgeEnter"]
    assert {m.get("Channel") for m in enters} == {agent, call.channel}
    assert not probe.find("Hangup")
    await emulator.far_end_hangup(agent)
    await probe.wait_event("Hangup", Channel=call.channel)
    # The tracker reads this hold (a Redirect to acd-hold,s, then a Bridge back) as a hold.
    tracker = CallTracker(variables=set())
    facts = [f for m in probe.messages if m.kind == "event" for f in tracker.handle(m, now=0.0)]
    holds = [(type(f).__name__, f.channel_id) for f in facts if isinstance(f, ChannelHeld | ChannelUnheld)]
    assert holds == [("ChannelHeld", call.uniqueid), ("ChannelUnheld", call.uniqueid)]


async def ring_a_manual_phone(make_emulator, ami_probe) -> tuple[Emulator, AmiProbe, PlacedCall, AmiMessage]:
    """A caller on hold sent by hand (Setvar, Redirect) to ring phone 1005, which does not answer
    by itself; returns the emulator, the probe, the call and the RINGING DialState."""
    emulator: Emulator = await make_emulator(agi_port=1, clock_scale=10.0)
    probe: AmiProbe = await ami_probe(emulator)
    emulator.set_endpoint("1005", answer=False, talk_s=None)
    call = emulator.place_call({"ani": "13800138000", "dnis": "10086", "talk_s": 5.0})
    await probe.wait_event("MusicOnHoldStart", Channel=call.channel)
    await probe.action("Setvar", Channel=call.channel, Variable="ACD_AGENT_INTERFACE", Value="PJSIP/1005")
    await probe.action("Setvar", Channel=call.channel, Variable="ACD_RING_TIMEOUT", Value="60")
    await probe.action("Redirect", Channel=call.channel, Context="acd-connect", Exten="s", Priority="1")
    ringing = await probe.wait_event("DialState", Channel=call.channel, DialStatus="RINGING")
    return emulator, probe, call, ringing


async def test_an_agent_answers_by_hand(make_emulator, ami_probe) -> None:
    emulator, probe, call, ringing = await ring_a_manual_phone(make_emulator, ami_probe)
    assert not emulator.answer(call.channel)  # the caller's leg is not ringing
    assert emulator.answer(ringing.get("DestChannel") or "")
    await probe.wait_event("BridgeEnter", Channel=call.channel)
    await probe.wait_event("Hangup", Channel=call.channel)
    assert probe.find("DialEnd", Channel=call.channel, DialStatus="ANSWER")


@pytest.mark.parametrize(
    ("target", "dest_prefix"), [("13900139000", "PJSIP/pstn-trunk-"), ("1002", "PJSIP/1002-")]
)
async def test_an_ivr_transfer_dials_the_target_and_queues_the_caller_if_it_fails(
    make_emulator, ami_probe, target: str, dest_prefix: str
) -> None:
    async def transfer(session: AgiSession) -> None:
        await session.send("SET VARIABLE", "CC_IVR_RESULT", "transfer")
        await session.send("SET VARIABLE", "CC_IVR_TARGET", target)

    server = FastAgiServer({"ivr": transfer}, port=0)
    await server.start()
    try:
        emulator: Emulator = await make_emulator(agi_port=server.port, clock_scale=10.0)
        probe: AmiProbe = await ami_probe(emulator)
        emulator.set_endpoint("1002", busy=True)
        emulator.set_trunk(answer_rate=0.0, busy_rate=1.0, machine_rate=0.0)
        call = emulator.place_call({"ani": "13800138000", "dnis": "10086"})
        dial = await probe.wait_event("DialBegin", Uniqueid=call.uniqueid)
        assert (dial.get("DestChannel") or "").startswith(dest_prefix)
        await probe.wait_event("DialEnd", Uniqueid=call.uniqueid, DialStatus="BUSY")
        # A busy transfer target does not drop the caller: they wait for an agent.
        await probe.wait_event("UserEvent", UserEvent="AcdWaiting", Uniqueid=call.uniqueid)
        await emulator.far_end_hangup(call.channel)
    finally:
        await server.stop()


async def test_a_pjsipnotify_talk_answers_the_ringing_phone(make_emulator, ami_probe) -> None:
    # What callcenter.app.NotifyAnswerer sends for the desktop's Answer; other events do nothing.
    _, probe, call, ringing = await ring_a_manual_phone(make_emulator, ami_probe)
    agent = ringing.get("DestChannel") or ""
    ignored = await probe.action("PJSIPNotify", Endpoint="1005", Variable="Event=check-sync")
    assert ignored.get("Message") == "NOTIFY sent"
    await asyncio.sleep(0.3)  # 3 s of ringing: a manual phone does not answer by itself
    assert not probe.find("DialEnd", Channel=call.channel)
    reply = await probe.action("PJSIPNotify", Endpoint="1005", Variable="Event=talk")
    assert reply.headers == (("Response", "Success"), ("ActionID", reply.get("ActionID")), ("Message", "NOTIFY sent"))
    await probe.wait_event("DialEnd", Channel=call.channel, DestChannel=agent, DialStatus="ANSWER")
    await probe.wait_event("BridgeEnter", Channel=agent)
    await probe.wait_event("BridgeEnter", Channel=call.channel)
    await probe.wait_event("Hangup", Channel=call.channel)


async def test_pjsipnotify_errors_are_asterisks(emulator, ami_probe) -> None:
    probe: AmiProbe = await ami_probe(emulator)
    cases = [
        ({"Endpoint": "4711", "Variable": "Event=talk"}, "Unable to retrieve endpoint 4711"),
        ({"Variable": "Event=talk"}, "PJSIPNotify requires either an endpoint name, a SIP URI, or a channel."),
        ({"Endpoint": "1001", "URI": "sip:1001@10.0.0.5", "Variable": "Event=talk"},
         "PJSIPNotify requires either an endpoint name, a SIP URI, or a channel.  You must use only one of them."),
        ({"Endpoint": "1001"}, "PJSIPNotify requires either an Option or Variable(s).You must use only one of them."),
        ({"Endpoint": "1001", "Option": "answer"}, "Unable to find notify type 'answer'"),
        ({"Channel": "PJSIP/1001-0000ffff", "Variable": "Event=talk"}, "Channel PJSIP/1001-0000ffff not found"),
    ]
    for headers, message in cases:
        reply = await probe.action("PJSIPNotify", **headers)
        assert (reply.get("Response"), reply.get("Message")) == ("Error", message), headers
    ok = await probe.action("PJSIPNotify", Endpoint="PJSIP/1001", Variable="Event=talk")
    assert ok.get("Message") == "NOTIFY sent"  # a ringing-free phone ignores it; the prefix is stripped


@pytest.mark.parametrize("announce", [True, False])
async def test_the_recording_announcement_plays_before_the_agent_rings(make_emulator, ami_probe, announce: bool) -> None:
    emulator: Emulator = await make_emulator(agi_port=1, clock_scale=10.0)
    probe: AmiProbe = await ami_probe(emulator)
    emulator.set_endpoint("1003", answer_after_s=0.2, talk_s=None)
    call = emulator.place_call({"ani": "13800138000", "dnis": "10086", "talk_s": 2.0})
    await probe.wait_event("MusicOnHoldStart", Channel=call.channel)
    if announce:  # what the recorder sets when the caller must be told
        await probe.action("Setvar", Channel=call.channel, Variable="RECORDING_ANNOUNCE", Value="1")
    await probe.action("Setvar", Channel=call.channel, Variable="ACD_AGENT_INTERFACE", Value="PJSIP/1003")
    mark = len(probe.messages)
    await probe.action("Redirect", Channel=call.channel, Context="acd-connect", Exten="s", Priority="1")
    dial = await probe.wait_event("DialBegin", Channel=call.channel)
    after = probe.messages[mark:]
    plays = [m for m in after if m.name == "Newexten" and m.get("Channel") == call.channel
             and m.get("Application") == "Playback"]
    if announce:
        assert [m.get("AppData") for m in plays] == ["conf-now-recording"]  # the [globals] placeholder
        assert after.index(plays[0]) < after.index(dial)
        status = [m for m in after if m.name == "VarSet" and m.get("Variable") == "PLAYBACKSTATUS"]
        assert [m.get("Value") for m in status] == ["SUCCESS"] and after.index(status[0]) < after.index(dial)
    else:
        assert plays == []
    await probe.wait_event("Hangup", Channel=call.channel)


async def test_an_attended_transfer_to_an_agent_rings_their_phone(make_emulator, ami_probe) -> None:
    # [cc-agent]: Atxfer to <extension>@cc-agent dials PJSIP/<extension>; when the first agent
    # hangs up, the caller is with the second.
    emulator: Emulator = await make_emulator(agi_port=1, clock_scale=10.0)
    probe: AmiProbe = await ami_probe(emulator)
    emulator.set_endpoint("1001", answer_after_s=0.2, talk_s=None)
    emulator.set_endpoint("1042", answer_after_s=0.5, talk_s=None)
    call = emulator.place_call({"ani": "13800138000", "dnis": "10086", "talk_s": 30.0})
    await probe.wait_event("MusicOnHoldStart", Channel=call.channel)
    await probe.action("Setvar", Channel=call.channel, Variable="ACD_AGENT_INTERFACE", Value="PJSIP/1001")
    await probe.action("Redirect", Channel=call.channel, Context="acd-connect", Exten="s", Priority="1")
    first = (await probe.wait_event("DialBegin", Channel=call.channel)).get("DestChannel") or ""
    await probe.wait_event("BridgeEnter", Channel=call.channel)
    reply = await probe.action("Atxfer", Channel=first, Exten="1042", Context="cc-agent")
    assert reply.get("Message") == "Atxfer successfully queued"
    second = (await probe.wait_event("DialBegin", DestChannel="PJSIP/1042-.*")).get("DestChannel") or ""
    await probe.wait_event("DialEnd", DestChannel=second, DialStatus="ANSWER")
    await emulator.far_end_hangup(first)
    transfer = await probe.wait_event("AttendedTransfer")
    assert transfer.get("TransfereeChannel") == call.channel and transfer.get("TransferTargetChannel") == second
    await emulator.far_end_hangup(call.channel)
    await probe.wait_event("Hangup", Channel=second)
