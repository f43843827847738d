"""The recorder service on a real bus: commands out, legs in, a stored recording and its facts out."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np

from callcenter.bus import EventBus
from callcenter.events import (
    AgentId,
    CallAnswered,
    CallArrived,
    CallEnded,
    CallId,
    CallQueued,
    ChannelId,
    MuteRecording,
    QueueName,
    RecordingPaused,
    RecordingPauseRequested,
    RecordingProcessed,
    RecordingResumed,
    RecordingResumeRequested,
    RoutingRequest,
    SetVariable,
    StartRecording,
)
from recorder.adapter import RecorderService
from recorder.config import RecorderConfig
from recorder.control import RecordingController
from recorder.index import RecordingIndex
from recorder.pipeline import RecordingPipeline, Spool
from tests.recorder.conftest import STARTED_AT, read_mono, write_leg

C = CallId("1795341600.7")


def exists(path: str) -> bool:
    return Path(path).exists()


async def test_a_call_is_recorded_paused_and_stored_through_the_bus(tmp_path: Path, korean: Path) -> None:
    bus = EventBus()
    seen = bus.subscribe("test")
    legs_dir = tmp_path / "monitor"
    legs_dir.mkdir()
    pipeline = RecordingPipeline(
        recordings_dir=tmp_path / "recordings", index=RecordingIndex(tmp_path / "index.sqlite3"),
        config=RecorderConfig(), fmt="ogg",
    )
    service = RecorderService(
        bus, RecordingController(RecorderConfig().policy, legs_dir=str(legs_dir)), pipeline,
        Spool(tmp_path / "recordings" / "spool"), backoff_s=0.01,
    )
    await service.start()
    try:
        t = STARTED_AT
        for msg in [
            CallArrived(call_id=C, channel_id=ChannelId(C), channel="PJSIP/trunk-1", ani="1", dnis="10086", at=t),
            CallQueued(call_id=C, channel_id=ChannelId(C), request=RoutingRequest(queue=QueueName("billing")), at=t),
            CallAnswered(call_id=C, agent_id=AgentId("1001"), at=t + 1),
            RecordingPauseRequested(call_id=C, by="1001", at=t + 2),
            RecordingResumeRequested(call_id=C, by="1001", at=t + 3),
        ]:
            await bus.publish(msg)
        out = [await asyncio.wait_for(seen.get(), 2) for _ in range(5 + 6)]
        inputs = CallArrived | CallQueued | CallAnswered | RecordingPauseRequested | RecordingResumeRequested
        commands = [m for m in out if not isinstance(m, inputs)]
        start = next(m for m in commands if isinstance(m, StartRecording))
        assert [type(m) for m in commands] == [
            SetVariable, StartRecording, MuteRecording, RecordingPaused, MuteRecording, RecordingResumed,
        ]

        # Asterisk writes the legs where StartRecording said, then the call ends.
        speech, rate = read_mono(korean / "porcupine_bixby_ko.wav")
        write_leg(Path(start.rx_file), np.concatenate([speech, speech]), rate)
        write_leg(Path(start.tx_file), np.concatenate([np.zeros_like(speech), speech]), rate)
        await bus.publish(CallEnded(call_id=C, at=t + 5))
        await asyncio.wait_for(service.idle(), 30)
        processed = None
        while processed is None:
            msg = await asyncio.wait_for(seen.get(), 5)
            processed = msg if isinstance(msg, RecordingProcessed) else None
    finally:
        await service.stop()

    assert processed.recording_id == C
    assert processed.path == f"2026/11/22/{C}.ogg"
    assert [(s.start_s, s.end_s) for s in processed.paused_spans] == [(1.0, 2.0)]
    assert (tmp_path / "recordings" / processed.path).is_file()
    assert not exists(start.rx_file)  # legs removed after the verified store
    assert list((tmp_path / "recordings" / "spool").glob("*.json")) == []
