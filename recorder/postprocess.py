"""Post-processing: two legs in, one stereo, compressed, checksummed recording out.

Theory of operation
-------------------
``process_recording(job, recordings_dir=..., fmt=...)`` turns a ``ProcessRecording`` command into
a stored file and returns its metadata (``RecordingProcessed``, the CRM's row):

1. Read each leg (any format libsndfile reads; Asterisk writes WAV). A leg that is not audio raises
   ``CorruptLegError``, whose text names the recording, the speaker, the file and libsndfile's reason.
   A missing leg raises ``FileNotFoundError``, which the job queue retries (Asterisk may still be
   closing it).
2. Mix (``mix_legs``, pure numpy): each leg goes on its own channel, customer left, agent right,
   shifted by its start offset; the paused spans are zeroed in both channels, whatever the legs hold
   (MixMonitorMute already writes silence; this makes the guarantee ours); each channel is
   peak-normalised to -1 dBFS with at most +20 dB of gain, so a quiet PSTN leg becomes audible but
   line noise on a silent leg is not blown up.
3. Encode with libsndfile through soundfile (no ffmpeg; see docs/decisions/0004-audio-libraries.md)
   to ``<recordings_dir>/YYYY/MM/DD/<recording_id>.<ext>`` (the UTC date the recording started),
   by way of a ``.part`` file that is read back and checked before it is renamed into place.
4. SHA-256 of the stored bytes; then the metadata sidecar ``<recording_id>.json`` (the same
   directory), also written to a ``.part`` and renamed: a recording whose sidecar exists is complete.

Rule 1: nothing here deletes or rewrites a leg. Removing legs after success is the pipeline's
        decision (recorder/jobs.py), taken only once the stored file is verified.
Rule 2: re-running a job overwrites its own outputs with identical content, so retries are safe.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import soundfile as sf

from callcenter.errors import CallCtlError
from callcenter.events import PausedSpan, ProcessRecording, RecordingProcessed, from_json, to_json

logger = logging.getLogger(__name__)

Samples = npt.NDArray[np.float32]

CHANNELS = ("customer", "agent")  # left, right
TARGET_PEAK = 10 ** (-1 / 20)  # -1 dBFS
MAX_GAIN_DB = 20.0


class RecorderError(CallCtlError):
    """A recording could not be processed."""


class CorruptLegError(RecorderError):
    """A leg is not readable audio. Permanent: retrying cannot help; the leg is kept."""


@dataclass(frozen=True, slots=True)
class Codec:
    """How one `recording.format` is written. Measurements: docs/decisions/0004-audio-libraries.md."""

    ext: str
    format: str
    subtype: str
    rates: tuple[int, ...] = ()  # sample rates the encoder accepts; empty: any
    compression_level: float | None = None
    bitrate_mode: str | None = None


CODECS: dict[str, Codec] = {
    # Opus in Ogg. libsndfile maps compression_level linearly onto the bitrate: 0.95 gives about
    # 36 kbit/s for the stereo pair. At 0.97 (25 kbit/s) the encoder couples the channels and the
    # customer leaks into the agent's channel at -32 dB, which puts words on the wrong speaker.
    "ogg": Codec("ogg", "OGG", "OPUS", (8000, 12000, 16000, 24000, 48000), compression_level=0.95),
    "mp3": Codec(
        "mp3", "MP3", "MPEG_LAYER_III", (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000),
        compression_level=0.8, bitrate_mode="VARIABLE",
    ),
    "flac": Codec("flac", "FLAC", "PCM_16"),
    "wav": Codec("wav", "WAV", "PCM_16"),
}


@dataclass(frozen=True, slots=True)
class LegAudio:
    speaker: str  # one of CHANNELS
    samples: Samples  # mono
    sample_rate: int
    start_offset_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Mixed:
    stereo: Samples  # shape (frames, 2): customer, agent
    sample_rate: int
    gain_db: dict[str, float]


def mix_legs(legs: Sequence[LegAudio], spans: Sequence[PausedSpan], *, allowed_rates: tuple[int, ...] = ()) -> Mixed:
    """Place each leg on its channel at its offset, silence the paused spans, normalise each channel."""
    rate = max(leg.sample_rate for leg in legs)
    if allowed_rates:
        rate = min((r for r in allowed_rates if r >= rate), default=max(allowed_rates))
    origin = min(leg.start_offset_s for leg in legs)
    placed = []
    for leg in legs:
        samples = _resample(leg.samples, leg.sample_rate, rate)
        placed.append((CHANNELS.index(leg.speaker), round((leg.start_offset_s - origin) * rate), samples))
    frames = max(offset + len(samples) for _, offset, samples in placed)
    stereo = np.zeros((frames, 2), dtype=np.float32)
    for channel, offset, samples in placed:
        stereo[offset : offset + len(samples), channel] += samples
    for span in spans:
        # Spans are measured from the recording's start, which is the earliest leg's start.
        start = max(0, round((span.start_s - origin) * rate))
        stereo[start : max(start, round((span.end_s - origin) * rate)), :] = 0.0
    gain_db = {}
    for channel, speaker in enumerate(CHANNELS):
        peak = float(np.max(np.abs(stereo[:, channel]))) if frames else 0.0
        gain = min(TARGET_PEAK / peak, 10 ** (MAX_GAIN_DB / 20)) if peak > 0 else 1.0
        stereo[:, channel] *= gain
        gain_db[speaker] = round(20 * float(np.log10(gain)), 2)
    return Mixed(stereo, rate, gain_db)


def _resample(samples: Samples, rate: int, target: int) -> Samples:
    if rate == target:
        return samples
    # NOTE(recorder): linear interpolation. Legs of one call share a rate in practice; this only
    # lifts a narrowband leg to the other's or the codec's rate, where it adds no aliasing.
    n = round(len(samples) * target / rate)
    resampled: Samples = np.interp(np.arange(n) * (rate / target), np.arange(len(samples)), samples).astype(np.float32)
    return resampled


def read_leg(recording_id: str, speaker: str, path: Path, start_offset_s: float) -> LegAudio:
    if not path.exists():
        raise FileNotFoundError(f"recording {recording_id}: {speaker} leg {path} does not exist")
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except sf.LibsndfileError as exc:
        raise CorruptLegError(
            f"recording {recording_id}: {speaker} leg {path} is not readable audio ({exc.error_string}); "
            "the file is kept"
        ) from exc
    if len(data) == 0:
        raise CorruptLegError(f"recording {recording_id}: {speaker} leg {path} holds no audio; the file is kept")
    return LegAudio(speaker, data.mean(axis=1, dtype=np.float32), rate, start_offset_s)


def stored_path(recording_id: str, started_at: float, ext: str) -> Path:
    """``YYYY/MM/DD/<recording_id>.<ext>``, the UTC date of the start, relative to recordings_dir."""
    if not recording_id or "/" in recording_id or "\\" in recording_id or recording_id.startswith("."):
        raise RecorderError(f"recording id {recording_id!r} cannot be a file name")
    t = time.gmtime(started_at)
    return Path(f"{t.tm_year:04d}", f"{t.tm_mon:02d}", f"{t.tm_mday:02d}", f"{recording_id}.{ext}")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def metadata_path(audio: Path) -> Path:
    return audio.with_suffix(".json")


def process_recording(job: ProcessRecording, *, recordings_dir: Path, fmt: str, now: float) -> RecordingProcessed:
    """Merge, encode, verify, checksum and store one recording; return its metadata."""
    codec = CODECS.get(fmt)
    if codec is None:
        raise RecorderError(f"recording format {fmt!r} is not supported; expected one of {', '.join(CODECS)}")
    speakers = sorted(leg.speaker for leg in job.legs)
    if speakers != sorted(CHANNELS):
        raise RecorderError(f"recording {job.recording_id}: legs are {speakers}; expected one customer and one agent")
    legs = [read_leg(job.recording_id, leg.speaker, Path(leg.file), leg.start_offset_s) for leg in job.legs]
    mixed = mix_legs(legs, job.paused_spans, allowed_rates=codec.rates)
    relative = stored_path(job.recording_id, job.started_at, codec.ext)
    final = recordings_dir / relative
    final.parent.mkdir(parents=True, exist_ok=True)
    part = final.with_name(final.name + ".part")
    sf.write(
        str(part), mixed.stereo, mixed.sample_rate, format=codec.format, subtype=codec.subtype,
        compression_level=codec.compression_level, bitrate_mode=codec.bitrate_mode,
    )
    info = sf.info(str(part))
    if info.frames != len(mixed.stereo) or info.channels != 2:
        raise RecorderError(
            f"recording {job.recording_id}: {part} reads back as {info.frames} frames x {info.channels} channels; "
            f"expected {len(mixed.stereo)} x 2"
        )
    digest = sha256_of(part)
    os.replace(part, final)
    result = RecordingProcessed(
        call_id=job.call_id,
        recording_id=job.recording_id,
        path=relative.as_posix(),
        format=fmt,
        sha256=digest,
        size_bytes=final.stat().st_size,
        duration_s=len(mixed.stereo) / mixed.sample_rate,
        started_at=job.started_at,
        paused_spans=job.paused_spans,
        at=now,
    )
    sidecar: dict[str, Any] = {
        "recording": to_json(result),
        "job": to_json(job),
        "sample_rate": mixed.sample_rate,
        "channels": list(CHANNELS),
        "gain_db": mixed.gain_db,
        "legs": [
            {"speaker": leg.speaker, "sample_rate": leg.sample_rate, "duration_s": len(leg.samples) / leg.sample_rate}
            for leg in legs
        ],
    }
    write_json_atomically(metadata_path(final), sidecar)
    logger.info(
        "recording %s: stored %s (%d bytes, %.1f s, sha256 %s)",
        job.recording_id, relative, result.size_bytes, result.duration_s, digest[:12],
    )
    return result


def write_json_atomically(path: Path, data: dict[str, Any]) -> None:
    part = path.with_name(path.name + ".part")
    part.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(part, path)


def read_metadata(path: Path) -> tuple[RecordingProcessed, ProcessRecording]:
    """The sidecar of a stored recording: its metadata row and the job that made it."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return from_json(data["recording"]), from_json(data["job"])
