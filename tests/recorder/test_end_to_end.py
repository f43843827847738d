"""A recorded call through the whole stack over real sockets: the emulator (Asterisk 20 stand-in)
-> AMI client -> call tracker -> bus -> recorder controller -> PBX command port -> MixMonitor with
separate legs -> PCI pause (MixMonitorMute) -> MixMonitorStop -> post-processing job -> stored
stereo Opus file whose channels carry the two legs, with the paused span silent and marked."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from callcenter.bus import EventBus
from callcenter.events import (
    AgentId,
    CallAnswered,
    CallId,
    CallQueued,
    ChannelId,
    MuteRecording,
    QueueName,
    RecordingPauseRequested,
    RecordingProcessed,
    RecordingResumeRequested,
    RoutingRequest,
    SetVariable,
    StartRecording,
    StopRecording,
)
from emulator.app import Emulator
from pbx.ami_client import AmiClient
from pbx.calls import CallTracker
from pbx.commands import PbxCommandPort
from pbx.fastagi import AgiSession, FastAgiServer
from recorder.adapter import RecorderService
from recorder.config import RecorderConfig
from recorder.control import RecordingController
from recorder.index import RecordingIndex
from recorder.pipeline import RecordingPipeline, Spool
from recorder.postprocess import read_metadata
from tests.integration.conftest import ami_probe, ami_user, make_emulator  # noqa: F401  (fixtures)

SCALE = 5.0  # emulator seconds per real second
TALK_S = 20.0
TONES_HZ = (300.0, 360.0, 420.0, 480.0, 540.0)  # the emulator's agent "voice" is one of these


async def route_to_agent(session: AgiSession) -> None:
    await session.send("ANSWER")
    await session.send("SET VARIABLE", "CC_IVR_RESULT", "route")


@pytest.fixture
async def fastagi() -> AsyncIterator[FastAgiServer]:
    server = FastAgiServer({"ivr": route_to_agent}, port=0)
    await server.start()
    yield server
    await server.stop()


def tonality(x: np.ndarray, rate: int) -> tuple[float, float]:
    """The strongest frequency and the share of energy within 15 Hz of it."""
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    peak = float(freqs[int(np.argmax(spectrum))])
    return peak, float(spectrum[np.abs(freqs - peak) <= 15].sum() / spectrum.sum())


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x**2)))


async def test_a_recorded_call_is_stored_in_stereo_with_the_pause_silent(
    make_emulator: Any, ami_probe: Any, ami_user: tuple[str, str], fastagi: FastAgiServer,  # noqa: F811
    korean: Path, tmp_path: Path,
) -> None:
    emulator: Emulator = await make_emulator(agi_port=fastagi.port, clock_scale=SCALE)
    probe = await ami_probe(emulator)
    client = AmiClient("127.0.0.1", emulator.ami_port, *ami_user, auth="md5", ping_interval_s=60)
    await client.connect()
    bus = EventBus()
    seen = bus.subscribe("test")
    tracker = CallTracker()
    port = PbxCommandPort(client, tracker)
    recordings = tmp_path / "recordings"
    service = RecorderService(
        bus,
        RecordingController(RecorderConfig().policy, legs_dir=str(tmp_path / "monitor")),
        RecordingPipeline(recordings_dir=recordings, index=RecordingIndex(tmp_path / "index.sqlite3"),
                          config=RecorderConfig(), fmt="ogg"),
        Spool(recordings / "spool"),
        clock=emulator.clock.now, backoff_s=0.2,
    )
    executed: list[object] = []

    async def pump_ami() -> None:  # pbx/: AMI events -> domain facts on the bus, on the emulator's clock
        async for msg in client.subscribe():
            for fact in tracker.handle(msg, now=emulator.clock.now()):
                await bus.publish(fact)

    async def run_commands() -> None:  # the PBX command port's runner
        sub = bus.subscribe("pbx", accepts=lambda m: isinstance(m, SetVariable | StartRecording | MuteRecording
                                                                  | StopRecording))
        async for command in sub:
            executed.append(command)
            await port.execute(command)

    tasks = [asyncio.create_task(pump_ami()), asyncio.create_task(run_commands())]
    await service.start()
    try:
        emulator.set_endpoint("1001", answer_after_s=1.0, talk_s=None)
        call = emulator.place_call({"ani": "13800138000", "dnis": "10086", "talk_s": TALK_S,
                                    "utterances": [str(korean / "leopard_test_ko.wav")]})
        call_id, channel_id = CallId(call.linkedid), ChannelId(call.uniqueid)
        await probe.wait_event("UserEvent", UserEvent="AcdWaiting", Uniqueid=call.uniqueid)
        # What the ACD would say and do: the call is queued, then offered to agent 1001.
        await bus.publish(CallQueued(call_id=call_id, channel_id=channel_id,
                                     request=RoutingRequest(queue=QueueName("billing")), at=emulator.clock.now()))
        for name, value in {"ACD_AGENT_ID": "1001", "ACD_AGENT_INTERFACE": "PJSIP/1001",
                            "ACD_RING_TIMEOUT": "15"}.items():
            await client.send_action("Setvar", Channel=call.channel, Variable=name, Value=value)
        await client.send_action("Redirect", Channel=call.channel, Context="acd-connect", Exten="s", Priority="1")
        await probe.wait_event("BridgeEnter", Channel=call.channel)
        await bus.publish(CallAnswered(call_id=call_id, agent_id=AgentId("1001"), at=emulator.clock.now()))
        await probe.wait_event("MixMonitorStart", Channel=call.channel)
        await asyncio.sleep(5.0 / SCALE)
        await bus.publish(RecordingPauseRequested(call_id=call_id, by="1001", at=emulator.clock.now()))
        await probe.wait_event("MixMonitorMute", Channel=call.channel, State="1")
        await asyncio.sleep(5.0 / SCALE)
        await bus.publish(RecordingResumeRequested(call_id=call_id, by="1001", at=emulator.clock.now()))
        await probe.wait_event("MixMonitorMute", Channel=call.channel, State="0")
        await probe.wait_event("MixMonitorStop", Channel=call.channel, within_s=TALK_S / SCALE + 10)
        async with asyncio.timeout(30):
            processed = None
            while processed is None:
                msg = await seen.get()
                processed = msg if isinstance(msg, RecordingProcessed) else None
    finally:
        await service.stop()
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await client.close()

    assert [type(c).__name__ for c in executed] == [
        "SetVariable", "StartRecording", "MuteRecording", "MuteRecording",
    ]
    assert executed[0] == SetVariable(channel_id=channel_id, name="RECORDING_ANNOUNCE", value="1")
    assert processed.call_id == call_id and processed.recording_id == call_id
    stored = recordings / processed.path
    assert processed.path.endswith(f"/{call_id}.ogg")
    data, rate = sf.read(str(stored), dtype="float32", always_2d=True)
    assert data.shape[1] == 2 and rate == 8000
    assert abs(processed.duration_s - TALK_S) < 2.0
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == processed.sha256
    assert read_metadata(stored.with_suffix(".json"))[0] == processed

    # The paused span is marked (about 5 s, starting about 5 s in) and silent on both channels.
    (span,) = processed.paused_spans
    assert 4.0 < span.start_s < 7.0 and 4.0 < span.end_s - span.start_s < 7.0
    inside = data[int((span.start_s + 0.3) * rate) : int((span.end_s - 0.3) * rate)]
    assert rms(inside[:, 0]) < 1e-3 and rms(inside[:, 1]) < 1e-3
    before = data[int(0.5 * rate) : int((span.start_s - 0.3) * rate)]
    after = data[int((span.end_s + 0.3) * rate) : int((processed.duration_s - 0.5) * rate)]
    # Left is the customer (real speech), right the agent (the emulator's phone tone).
    for talk in (before, after):
        assert rms(talk[:, 0]) > 0.01 and rms(talk[:, 1]) > 0.01
        peak, share = tonality(talk[:, 1], rate)
        assert min(abs(peak - f) for f in TONES_HZ) < 3 and share > 0.8
        assert tonality(talk[:, 0], rate)[1] < 0.3
