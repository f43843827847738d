"""Audio where Asterisk writes it: 8 kHz mono 16-bit WAV, built from real files, tones or silence.

Asterisk records telephone audio as signed linear at 8 kHz; the emulator writes the same format so
the recorder and the speech recognizer downstream read what they would read in production.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soundfile as sf

RATE = 8000
Samples = npt.NDArray[np.int16]


@functools.lru_cache(maxsize=256)
def load_8k(path: str) -> Samples:
    """A WAV (any rate, any channels) as 8 kHz mono int16, resampled by linear interpolation."""
    data, rate = sf.read(path, dtype="float32", always_2d=True)
    mono = data.mean(axis=1)
    if rate != RATE and len(mono):
        n = max(1, round(len(mono) * RATE / rate))
        mono = np.interp(np.linspace(0, len(mono) - 1, n), np.arange(len(mono)), mono).astype(np.float32)
    samples: Samples = np.clip(mono * 32767, -32768, 32767).astype(np.int16)
    return samples


@functools.lru_cache(maxsize=1024)
def duration_s(path: str) -> float | None:
    """Length of a sound file in seconds, or None when it does not exist or is not audio."""
    try:
        info = sf.info(path)
    except (RuntimeError, OSError):
        return None
    return float(info.frames) / float(info.samplerate)


def tone(seconds: float, freq: float, amplitude: float = 0.2) -> Samples:
    n = max(0, round(seconds * RATE))
    t = np.arange(n, dtype=np.float32) / RATE
    return (np.sin(2 * np.pi * freq * t) * amplitude * 32767).astype(np.int16)


def silence(seconds: float) -> Samples:
    return np.zeros(max(0, round(seconds * RATE)), dtype=np.int16)


def fit(samples: Samples, n: int) -> Samples:
    """`samples` looped or cut to exactly `n` samples (silence if there are none)."""
    if n <= 0:
        return np.zeros(0, dtype=np.int16)
    if len(samples) == 0:
        return np.zeros(n, dtype=np.int16)
    reps = -(-n // len(samples))
    return np.tile(samples, reps)[:n]


def mix(*legs: Samples) -> Samples:
    n = max((len(leg) for leg in legs), default=0)
    total = np.zeros(n, dtype=np.int32)
    for leg in legs:
        total[: len(leg)] += leg
    return np.clip(total, -32768, 32767).astype(np.int16)


def concat(*parts: Samples) -> Samples:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)


def write_wav(path: Path, samples: Samples) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), samples, RATE, subtype="PCM_16", format="WAV")
