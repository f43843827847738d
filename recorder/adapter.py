"""The recorder's adapter: bus in, controller, commands and facts out, jobs to the worker.

It subscribes to the in-process bus (``"block"`` policy: a missed ``CallEnded`` would lose a
recording), feeds every message to the pure ``RecordingController`` with the message's own ``at``
(or the clock for messages without one), and executes what comes back:

* ``ProcessRecording`` is written to the spool first, then queued for the pipeline (recorder/jobs.py
  and recorder/pipeline.py); at start, jobs left in the spool by a previous run are queued again;
* everything else (``SetVariable``, ``StartRecording``, ``MuteRecording``, ``StopRecording`` for the
  PBX command port; ``RecordingPaused``/``RecordingResumed`` for the audit trail, with who asked;
  the tracker's ``RecordingMuteChanged`` is Asterisk's confirmation of the mute) is published;
* a finished job publishes ``RecordingProcessed`` and, when keywords matched, ``RecordingFlagged``,
  and journals the CRM's metadata row (``crm_recording_payload``) in the CRM outbox when one is
  given, so a database outage delays the row and loses nothing (crm/outbox.py, kind "recording").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from callcenter.bus import EventBus
from callcenter.errors import ConfigError
from callcenter.events import ProcessRecording, RecordingProcessed
from callcenter.settings import Settings
from ivr.speech import SpeechUnavailable
from recorder.config import load_recorder_config
from recorder.control import INPUTS, RecordingController
from recorder.index import INDEX_FILE_NAME, RecordingIndex
from recorder.jobs import JobOutcome, JobQueue
from recorder.pipeline import PipelineResult, RecordingPipeline, Spool
from recorder.postprocess import RecorderError
from recorder.retention import DAY_S
from recorder.transcribe import VoskRecognizer, WordRecognizer, load_vosk_model

logger = logging.getLogger(__name__)


class Journal(Protocol):
    """The CRM outbox's write side (crm.outbox.Outbox)."""

    async def put(self, kind: str, key: str, payload: dict[str, Any]) -> None: ...


def crm_recording_payload(processed: RecordingProcessed, *, retention_days: int, transcript: str) -> dict[str, Any]:
    """The CRM outbox's "recording" entry (crm.repositories.write_recordings).

    The CRM stores `sha256` and `paused_spans` (migration 0002); the recorder index and the
    sidecar `<id>.json` hold them too."""
    return {
        "id": processed.recording_id,
        "call_id": processed.call_id,
        "path": processed.path,
        "format": processed.format,
        "started_at": processed.started_at,
        "ended_at": processed.started_at + processed.duration_s,
        "duration_s": processed.duration_s,
        "size_bytes": processed.size_bytes,
        "transcript": transcript or None,
        "delete_after": processed.started_at + retention_days * DAY_S,
        "sha256": processed.sha256,
        "paused_spans": [[span.start_s, span.end_s] for span in processed.paused_spans],
    }


class RecorderService:
    def __init__(
        self,
        bus: EventBus,
        controller: RecordingController,
        pipeline: RecordingPipeline,
        spool: Spool,
        *,
        clock: Callable[[], float] = time.time,
        journal: Journal | None = None,
        max_attempts: int = 5,
        backoff_s: float = 2.0,
    ) -> None:
        self._bus = bus
        self._controller = controller
        self._pipeline = pipeline
        self._spool = spool
        self._clock = clock
        self._journal = journal
        self._jobs: JobQueue[ProcessRecording, PipelineResult] = JobQueue(
            self._run_job, name="recorder", max_attempts=max_attempts, backoff_s=backoff_s,
            permanent=(RecorderError,), on_done=self._settle,
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._jobs.start()
        for job in self._spool.pending():
            logger.info("recording %s: resuming the spooled job", job.recording_id)
            await self._jobs.put(job)
        sub = self._bus.subscribe("recorder", policy="block", accepts=lambda msg: isinstance(msg, INPUTS))
        self._task = asyncio.create_task(self._consume(sub), name="recorder")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._jobs.close()

    async def submit(self, job: ProcessRecording) -> None:
        """Spool the job (durable), then queue it; waits while the queue is full."""
        self._spool.put(job)
        await self._jobs.put(job)

    async def idle(self) -> None:
        """Wait until every queued job has ended (for tests and orderly shutdown)."""
        await self._jobs.join()

    async def _consume(self, sub: object) -> None:
        async for msg in sub:  # type: ignore[attr-defined]
            now = getattr(msg, "at", None)
            for out in self._controller.handle(msg, self._clock() if now is None else now):
                if isinstance(out, ProcessRecording):
                    await self.submit(out)
                else:
                    await self._bus.publish(out)

    async def _run_job(self, job: ProcessRecording) -> PipelineResult:
        result = await asyncio.to_thread(self._pipeline.run, job)
        if self._journal is not None:
            days, _rule = self._pipeline.config.retention_days.lookup(queue=job.queue, campaign_id=job.campaign_id)
            payload = crm_recording_payload(
                result.processed, retention_days=days, transcript=self._pipeline.transcript_text(result.processed)
            )
            await self._journal.put("recording", result.processed.recording_id, payload)
        await self._bus.publish(result.processed)
        if result.flagged is not None:
            await self._bus.publish(result.flagged)
        return result

    def _settle(self, outcome: JobOutcome[ProcessRecording, PipelineResult]) -> None:
        if outcome.ok:
            self._spool.done(outcome.job)
        else:
            self._spool.failed(outcome.job, outcome.error)


def recognizer_from_settings(settings: Settings) -> WordRecognizer | None:
    """The configured vosk model, or None when speech is off (or "auto" and no vosk model is set).

    Recordings are transcribed with vosk only: Whisper (the IVR's English fallback) decodes short
    answers, not hours of two-party audio with word timings.
    """
    if settings.speech.engine in ("none", "whisper"):
        return None
    if settings.speech.engine == "auto" and not settings.speech.vosk_model_path:
        logger.warning("recordings are not transcribed: no vosk model is configured "
                       "(set speech.vosk_model_path; see docs/speech.md)")
        return None
    try:
        return VoskRecognizer(load_vosk_model(settings.speech.vosk_model_path))
    except SpeechUnavailable as exc:
        if settings.speech.engine == "vosk":
            raise ConfigError(str(exc)) from None
        logger.warning("recordings are not transcribed: %s", exc)
        return None


def build_recorder_service(
    settings: Settings,
    bus: EventBus,
    *,
    journal: Journal | None = None,
    legs_dir: Path | None = None,
    policy_file: Path | None = None,
) -> RecorderService:
    """The recorder as the composition root starts it: config from ``recording.yaml`` and the
    settings, legs in ``legs_dir`` (default ``<data_dir>/recordings/legs``; Asterisk must be able
    to write there, and the path is passed to MixMonitor as is), the index in the data directory.
    """
    settings.ensure_dirs()
    config = load_recorder_config(settings, policy_file)
    legs = legs_dir or settings.recordings_dir / "legs"
    legs.mkdir(parents=True, exist_ok=True)
    pipeline = RecordingPipeline(
        recordings_dir=settings.recordings_dir,
        index=RecordingIndex(settings.data_dir / INDEX_FILE_NAME),
        config=config,
        fmt=settings.recording.format,
        recognizer=recognizer_from_settings(settings),
    )
    controller = RecordingController(config.policy, legs_dir=str(legs.resolve()))
    return RecorderService(bus, controller, pipeline, Spool(settings.recordings_dir / "spool"), journal=journal)
