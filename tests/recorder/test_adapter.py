"""The recorder service on a real bus: commands out, legs in, a stored recording and its facts out."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

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
from tests.recorder.conftest import STARTED_AT, make_job, read_mono, write_leg

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


async def test_the_metadata_row_reaches_the_crm_through_its_outbox(tmp_path: Path, korean: Path) -> None:
    from sqlalchemy import select

    from callcenter.settings import Settings
    from crm.models import Recording
    from crm.service import Crm

    settings = Settings(data_dir=tmp_path / "data")
    crm = await Crm.start(settings)
    bus = EventBus()
    pipeline = RecordingPipeline(
        recordings_dir=settings.recordings_dir, index=RecordingIndex(tmp_path / "index.sqlite3"),
        config=RecorderConfig(), fmt="ogg",
    )
    service = RecorderService(
        bus, RecordingController(RecorderConfig().policy, legs_dir=str(tmp_path)), pipeline,
        Spool(settings.recordings_dir / "spool"), journal=crm.outbox,
    )
    speech, rate = read_mono(korean / "porcupine_bixby_ko.wav")
    job = make_job(tmp_path, write_leg(tmp_path / "m-customer.wav", speech, rate),
                   write_leg(tmp_path / "m-agent.wav", speech, rate), recording_id="m1")
    await service.start()
    try:
        await service.submit(job)  # what a ProcessRecording from the controller goes through
        await asyncio.wait_for(service.idle(), 30)
        async with asyncio.timeout(10):
            while crm.outbox.counts() != (0, 0):  # noqa: ASYNC110  (the outbox offers no "drained" event)
                await asyncio.sleep(0.05)
        async with crm.sessions() as session:
            rows = (await session.execute(select(Recording))).scalars().all()
    finally:
        await service.stop()
        await crm.stop()

    assert [(r.id, r.call_id, r.path, r.format) for r in rows] == [("m1", "m1", "2026/11/22/m1.ogg", "ogg")]
    row = rows[0]
    assert row.size_bytes == (settings.recordings_dir / "2026/11/22/m1.ogg").stat().st_size
    assert abs((row.delete_after - row.started_at).total_seconds() - 90 * 86400) < 1


async def test_the_composition_root_builds_the_service_from_settings_and_the_policy_file(tmp_path: Path) -> None:
    from callcenter.settings import Settings
    from recorder.adapter import build_recorder_service

    settings = Settings(data_dir=tmp_path / "data")
    settings.speech.engine = "none"
    settings.data_dir.mkdir()
    (settings.data_dir / "recording.yaml").write_text("record:\n  queues: {hr: never}\n  announce: false\n")
    bus = EventBus()
    seen = bus.subscribe("test", accepts=lambda m: isinstance(m, StartRecording | SetVariable))
    service = build_recorder_service(settings, bus)
    await service.start()
    try:
        for n, queue in enumerate(("hr", "sales")):
            call = CallId(f"c{n}")
            await bus.publish(CallArrived(call_id=call, channel_id=ChannelId(call), channel="PJSIP/t", ani="1",
                                          dnis="10086", at=0.0))
            await bus.publish(CallQueued(call_id=call, channel_id=ChannelId(call),
                                         request=RoutingRequest(queue=QueueName(queue)), at=0.0))
            await bus.publish(CallAnswered(call_id=call, agent_id=AgentId("1001"), at=1.0))
        start = await asyncio.wait_for(seen.get(), 2)
    finally:
        await service.stop()
    assert isinstance(start, StartRecording) and start.call_id == "c1"  # hr is never recorded, no announcement
    assert start.rx_file == str((settings.recordings_dir / "legs" / "c1-customer.wav").resolve())
    assert seen.queue.empty()


def test_the_crm_entry_carries_the_checksum_and_the_paused_spans() -> None:
    from callcenter.events import CallId, PausedSpan, RecordingId, RecordingProcessed
    from recorder.adapter import crm_recording_payload

    processed = RecordingProcessed(
        call_id=CallId("c1"), recording_id=RecordingId("c1"), path="2026/11/22/c1.ogg", format="ogg",
        sha256="ab" * 32, size_bytes=1234, duration_s=60.0, started_at=STARTED_AT,
        paused_spans=(PausedSpan(start_s=5.0, end_s=12.5),), at=STARTED_AT + 61,
    )
    payload = crm_recording_payload(processed, retention_days=30, transcript="")
    assert payload == {
        "id": "c1", "call_id": "c1", "path": "2026/11/22/c1.ogg", "format": "ogg", "started_at": STARTED_AT,
        "ended_at": STARTED_AT + 60.0, "duration_s": 60.0, "size_bytes": 1234, "transcript": None,
        "delete_after": STARTED_AT + 30 * 86400, "sha256": "ab" * 32, "paused_spans": [[5.0, 12.5]],
    }


def test_no_vosk_model_means_no_transcription_and_says_how_to_get_one(caplog: pytest.LogCaptureFixture) -> None:
    from callcenter.settings import Settings
    from recorder.adapter import recognizer_from_settings

    settings = Settings()
    settings.speech.engine = "auto"
    with caplog.at_level("WARNING", logger="recorder.adapter"):
        assert recognizer_from_settings(settings) is None
    assert caplog.messages == [
        "recordings are not transcribed: no vosk model is configured (set speech.vosk_model_path; see docs/speech.md)"
    ]
