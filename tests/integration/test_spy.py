"""Supervisor listen / whisper / barge through the emulator, the way the CTI places them:
cti.supervisor.spy_command -> pbx.commands (AMI Originate of the supervisor's phone into
[cc-spy]) -> ChanSpy(${CC_SPY_CHANNEL},${CC_SPY_OPTIONS}) on the agent's channel."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import soundfile as sf

from cti.supervisor import SPY_OPTIONS, spy_command
from emulator.app import Emulator
from pbx.ami_client import AmiClient
from pbx.calls import CallTracker
from pbx.commands import PbxCommandPort
from tests.integration.conftest import AmiProbe

UTTERANCE = "audio/espeak-ng-ivr/billing__en-us.wav"


@pytest.fixture
async def command_port(ami_user: tuple[str, str]) -> AsyncIterator[list[AmiClient]]:
    clients: list[AmiClient] = []
    yield clients
    for client in clients:
        await client.close()


async def connected_call(emulator: Emulator, probe: AmiProbe, utterance: Path, talk_s: float) -> tuple[str, str]:
    """A caller talking to agent 1001: (caller channel, agent channel)."""
    emulator.set_endpoint("1001", answer_after_s=0.2, talk_s=None)
    call = emulator.place_call({"ani": "13800138000", "dnis": "10086", "utterances": [str(utterance)],
                                "talk_s": talk_s})
    await probe.wait_event("MusicOnHoldStart", Channel=call.channel)
    await probe.action("Setvar", Channel=call.channel, Variable="ACD_AGENT_INTERFACE", Value="PJSIP/1001")
    await probe.action("Redirect", Channel=call.channel, Context="acd-connect", Exten="s", Priority="1")
    agent = (await probe.wait_event("DialBegin", Channel=call.channel)).get("DestChannel") or ""
    await probe.wait_event("BridgeEnter", Channel=call.channel)
    return call.channel, agent


async def spy(emulator: Emulator, clients: list[AmiClient], ami_user: tuple[str, str], agent: str, mode: str) -> None:
    client = AmiClient("127.0.0.1", emulator.ami_port, *ami_user, ping_interval_s=60)
    await client.connect()
    clients.append(client)
    port = PbxCommandPort(client, CallTracker(variables=set()))
    await port.execute(spy_command(supervisor_interface="PJSIP/9001", target_channel=agent, mode=mode,
                                   request_id=f"spy-9001-{mode}"))


@pytest.mark.parametrize("mode", ["listen", "whisper", "barge"])
async def test_a_supervisor_spies_until_the_agents_call_ends(
    make_emulator, ami_probe, ami_user, command_port, shared_dir: Path, tmp_path: Path, mode: str
) -> None:
    emulator: Emulator = await make_emulator(agi_port=1, clock_scale=10.0)
    probe: AmiProbe = await ami_probe(emulator)
    caller, agent = await connected_call(emulator, probe, shared_dir / UTTERANCE, talk_s=30.0)
    emulator.set_endpoint("9001", answer_after_s=0.3, talk_s=None)
    await spy(emulator, command_port, ami_user, agent, mode)

    answered = await probe.wait_event("OriginateResponse", Response="Success", Uniqueid=f"spy-9001-{mode}")
    supervisor = answered.get("Channel") or ""
    assert supervisor.startswith("PJSIP/9001-")
    run = await probe.wait_event("Newexten", Channel=supervisor, Application="ChanSpy")
    assert run.get("AppData") == f"{agent},{SPY_OPTIONS[mode]}"
    start = await probe.wait_event("ChanSpyStart", SpyerChannel=supervisor)
    assert (start.get("SpyeeChannel"), start.get("SpyerContext"), start.get("SpyerChannelStateDesc")) == (
        agent, "cc-spy", "Up")
    # The supervisor's channel is a call of its own, identified by the Originate's ChannelId.
    assert start.get("SpyerUniqueid") == start.get("SpyerLinkedid") == f"spy-9001-{mode}"
    assert start.get("SpyeeLinkedid") != start.get("SpyerLinkedid")
    # What the supervisor hears: a MixMonitor of the spy channel records the spied call.
    heard = tmp_path / "heard.wav"
    started = await probe.action("MixMonitor", Channel=supervisor, File=str(tmp_path / "mix.wav"), Options=f"t({heard})")
    await asyncio.sleep(0.5)  # 5 s on the emulator's clock
    await probe.action("StopMixMonitor", Channel=supervisor, MixMonitorID=started.get("MixMonitorID"))
    await probe.wait_event("MixMonitorStop", Channel=supervisor)
    samples, rate = sf.read(heard, dtype="int16")
    assert rate == 8000 and abs(len(samples) / 8000 - 5.0) < 1.0
    assert abs(samples.astype("int32")).mean() > 100

    await emulator.far_end_hangup(caller)  # the call ends: option E ends the spy with it
    stop = await probe.wait_event("ChanSpyStop", SpyerChannel=supervisor)
    assert stop.get("SpyeeChannel") is None  # the agent's channel is gone, so is its snapshot
    await probe.wait_event("Hangup", Channel=supervisor)
    names = [m.name for m in probe.events if supervisor in (m.get("Channel"), m.get("SpyerChannel"))]
    assert names.index("ChanSpyStart") < names.index("ChanSpyStop") < names.index("Hangup")
    assert len(probe.find("ChanSpyStart")) == len(probe.find("ChanSpyStop")) == 1


async def test_the_supervisor_hanging_up_leaves_the_call_alone(
    make_emulator, ami_probe, ami_user, command_port, shared_dir: Path
) -> None:
    emulator: Emulator = await make_emulator(agi_port=1, clock_scale=10.0)
    probe: AmiProbe = await ami_probe(emulator)
    caller, agent = await connected_call(emulator, probe, shared_dir / UTTERANCE, talk_s=60.0)
    emulator.set_endpoint("9001", answer_after_s=0.3, talk_s=2.0)  # listens for 2 s, then hangs up
    await spy(emulator, command_port, ami_user, agent, "listen")
    start = await probe.wait_event("ChanSpyStart", SpyeeChannel=agent)
    supervisor = start.get("SpyerChannel") or ""
    stop = await probe.wait_event("ChanSpyStop", SpyerChannel=supervisor)
    assert stop.get("SpyeeChannel") == agent and stop.get("SpyeeChannelStateDesc") == "Up"
    await probe.wait_event("Hangup", Channel=supervisor)
    await asyncio.sleep(0.2)
    assert emulator.channel(caller) is not None and emulator.channel(agent) is not None
    assert not probe.find("Hangup", Channel=caller) and not probe.find("BridgeLeave", Channel=caller)
    await emulator.far_end_hangup(caller)
    await probe.wait_event("Hangup", Channel=agent)


async def test_a_spy_waits_for_a_channel_to_appear_and_rejects_options_it_does_not_emulate(
    make_emulator, ami_probe
) -> None:
    emulator: Emulator = await make_emulator(agi_port=1, clock_scale=10.0)
    probe: AmiProbe = await ami_probe(emulator)
    emulator.set_endpoint("9001", answer_after_s=0.1, talk_s=None)
    emulator.set_endpoint("1002", answer_after_s=0.2, talk_s=None)
    # Nobody on 1002 yet: ChanSpy scans once a second until the agent's channel exists.
    await probe.action("Originate", Channel="PJSIP/9001", Context="cc-spy", Exten="s", Priority="1", Async="true",
                       Variable="CC_SPY_CHANNEL=PJSIP/1002,CC_SPY_OPTIONS=qE")
    supervisor = (await probe.wait_event("OriginateResponse", Response="Success")).get("Channel") or ""
    await asyncio.sleep(0.3)
    assert not probe.find("ChanSpyStart")
    call = emulator.place_call({"ani": "13800138000", "dnis": "10086", "talk_s": 10.0})
    await probe.wait_event("MusicOnHoldStart", Channel=call.channel)
    await probe.action("Setvar", Channel=call.channel, Variable="ACD_AGENT_INTERFACE", Value="PJSIP/1002")
    await probe.action("Redirect", Channel=call.channel, Context="acd-connect", Exten="s", Priority="1")
    start = await probe.wait_event("ChanSpyStart", SpyerChannel=supervisor)
    assert (start.get("SpyeeChannel") or "").startswith("PJSIP/1002-")
    await emulator.far_end_hangup(supervisor)
    await probe.wait_event("ChanSpyStop", SpyerChannel=supervisor)
    # An option the emulator does not act out is an error naming it (the channel is hung up).
    await probe.action("Originate", Channel="PJSIP/9001", Context="cc-spy", Exten="s", Priority="1", Async="true",
                       Variable="CC_SPY_CHANNEL=PJSIP/1002,CC_SPY_OPTIONS=qEo")
    second = (await probe.wait_for(lambda m: m.name == "OriginateResponse" and m.get("Channel") != supervisor)).get("Channel")
    await probe.wait_event("Hangup", Channel=second or "")
    assert not probe.find("ChanSpyStart", SpyerChannel=second or "")
    assert emulator.pbx.stats.errors == 1
    await emulator.far_end_hangup(call.channel)
