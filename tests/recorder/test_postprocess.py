"""Post-processing on real speech: layout, silence, normalisation, formats, checksums, corrupt input."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from callcenter.events import PausedSpan
from recorder.postprocess import (
    CorruptLegError,
    LegAudio,
    mix_legs,
    process_recording,
    read_metadata,
)
from tests.recorder.conftest import STARTED_AT, make_job, read_mono, write_leg

FRAME_S = 0.02


def envelope(x: np.ndarray, rate: int) -> np.ndarray:
    n = int(rate * FRAME_S)
    frames = len(x) // n
    return np.sqrt(np.mean(x[: frames * n].reshape(frames, n) ** 2, axis=1))


def corr(a: np.ndarray, b: np.ndarray) -> float:
    n = min(len(a), len(b))
    return float(np.corrcoef(a[:n], b[:n])[0, 1])


@pytest.fixture
def legs(tmp_path: Path, shared_dir: Path, korean: Path) -> tuple[Path, Path]:
    # Real speech, one voice per leg: a Korean sentence for the customer, an English digit
    # string for the agent (both 16 kHz mono, as Asterisk writes for a wideband call).
    customer = write_leg(tmp_path / "c-customer.wav", *read_mono(korean / "leopard_test_ko.wav"))
    agent = write_leg(tmp_path / "c-agent.wav", *read_mono(shared_dir / "audio" / "vosk-api" / "test.wav"))
    return customer, agent


@pytest.mark.parametrize("fmt", ["ogg", "mp3", "flac", "wav"])
def test_stored_recording_has_each_leg_on_its_channel(tmp_path: Path, legs: tuple[Path, Path], fmt: str) -> None:
    customer, agent = legs
    cust, rate = read_mono(customer)
    agnt, _ = read_mono(agent)
    span = PausedSpan(start_s=1.0, end_s=2.0)
    job = make_job(tmp_path, customer, agent, agent_offset_s=0.5, spans=(span,))
    out = tmp_path / "recordings"

    result = process_recording(job, recordings_dir=out, fmt=fmt, now=STARTED_AT + 60)

    stored = out / "2026" / "11" / "22" / f"1795341600.42.{fmt}"
    assert result.path == f"2026/11/22/1795341600.42.{fmt}"
    assert stored.is_file()
    data, stored_rate = sf.read(str(stored), dtype="float32", always_2d=True)
    assert stored_rate == rate == 16000
    assert data.shape == (round(0.5 * rate) + len(agnt), 2)  # the agent leg ends last
    assert result.duration_s == pytest.approx(0.5 + len(agnt) / rate)

    # Left follows the customer, right the agent (shifted by its offset); outside the pause.
    keep = np.ones(len(data), dtype=bool)
    keep[int(0.9 * rate) : int(2.1 * rate)] = False
    placed_c = np.zeros(len(data), dtype=np.float32)
    placed_c[: len(cust)] = cust
    placed_a = np.zeros(len(data), dtype=np.float32)
    placed_a[round(0.5 * rate) :] = agnt
    env = {name: envelope(np.where(keep, x, 0), rate) for name, x in
           {"left": data[:, 0], "right": data[:, 1], "customer": placed_c, "agent": placed_a}.items()}
    assert corr(env["left"], env["customer"]) > 0.95
    assert corr(env["right"], env["agent"]) > 0.95
    assert corr(env["left"], env["agent"]) < 0.5
    assert corr(env["right"], env["customer"]) < 0.5

    # The paused second is silence on both channels (lossy codecs may smear a few ms at the edges).
    inside = data[int(1.03 * rate) : int(1.97 * rate)]
    assert float(np.sqrt(np.mean(inside**2))) < 1e-3
    assert float(np.sqrt(np.mean(data[int(2.1 * rate) : int(3.5 * rate), 0] ** 2))) > 0.01

    # Normalised: each channel peaks near -1 dBFS.
    assert 0.8 < float(np.max(np.abs(data[:, 0]))) < 1.0
    assert 0.8 < float(np.max(np.abs(data[:, 1]))) < 1.0

    # Metadata: checksum and size are the stored file's, the pause is marked, the legs are kept.
    assert result.sha256 == hashlib.sha256(stored.read_bytes()).hexdigest()
    assert result.size_bytes == stored.stat().st_size
    assert result.paused_spans == (span,)
    meta, meta_job = read_metadata(stored.with_suffix(".json"))
    assert meta == result
    assert meta_job == job
    sidecar = json.loads(stored.with_suffix(".json").read_text())
    assert sidecar["channels"] == ["customer", "agent"]
    assert customer.exists() and agent.exists()
    assert not list(out.rglob("*.part"))


def test_compressed_formats_are_smaller_than_pcm(tmp_path: Path, legs: tuple[Path, Path]) -> None:
    sizes = {}
    for fmt in ("wav", "flac", "mp3", "ogg"):
        job = make_job(tmp_path, *legs, recording_id=f"size-{fmt}")
        sizes[fmt] = process_recording(job, recordings_dir=tmp_path / "r", fmt=fmt, now=STARTED_AT).size_bytes
    assert sizes["flac"] < sizes["wav"]
    assert sizes["mp3"] * 5 < sizes["wav"]
    assert sizes["ogg"] * 5 < sizes["wav"]


def test_a_corrupt_leg_is_reported_and_kept(tmp_path: Path, legs: tuple[Path, Path]) -> None:
    customer, agent = legs
    garbage = b"RIFF\x10\x00\x00\x00WAVEjunk" * 50
    customer.write_bytes(garbage)
    job = make_job(tmp_path, customer, agent)

    with pytest.raises(CorruptLegError) as excinfo:
        process_recording(job, recordings_dir=tmp_path / "r", fmt="ogg", now=STARTED_AT)

    assert str(excinfo.value) == (
        f"recording 1795341600.42: customer leg {customer} is not readable audio (Error in WAV file. No 'data' chunk marker.); "
        "the file is kept"
    )
    assert customer.read_bytes() == garbage
    assert agent.exists()
    assert not (tmp_path / "r").exists() or not list((tmp_path / "r").rglob("*.*"))


def test_an_empty_leg_is_reported(tmp_path: Path, legs: tuple[Path, Path]) -> None:
    customer, agent = legs
    write_leg(agent, np.zeros(0, dtype=np.float32), 16000)
    with pytest.raises(CorruptLegError) as excinfo:
        process_recording(make_job(tmp_path, customer, agent), recordings_dir=tmp_path / "r", fmt="ogg", now=0.0)
    assert str(excinfo.value) == f"recording 1795341600.42: agent leg {agent} holds no audio; the file is kept"


def test_mixing_places_offsets_silences_spans_and_caps_gain() -> None:
    rate = 8000
    customer = LegAudio("customer", np.full(rate, 0.5, dtype=np.float32), rate, 0.0)
    agent = LegAudio("agent", np.full(rate, 0.001, dtype=np.float32), rate, 0.25)

    mixed = mix_legs([customer, agent], [PausedSpan(start_s=0.5, end_s=0.75)])

    assert mixed.stereo.shape == (int(1.25 * rate), 2)
    left, right = mixed.stereo[:, 0], mixed.stereo[:, 1]
    assert left[: rate // 2].tolist() == pytest.approx([10 ** (-1 / 20)] * (rate // 2))
    assert np.all(left[rate:] == 0)  # the customer leg is one second long
    assert np.all(right[: rate // 4] == 0)  # the agent leg starts 0.25 s in
    assert np.all(mixed.stereo[rate // 2 : int(0.75 * rate)] == 0)
    # A very quiet leg gets at most +20 dB: 0.001 becomes 0.01, not full scale.
    assert float(right[int(0.8 * rate)]) == pytest.approx(0.01, rel=1e-4)
    assert mixed.gain_db == {"customer": pytest.approx(5.02, abs=0.01), "agent": 20.0}


def test_legs_at_different_rates_meet_at_the_higher_one() -> None:
    narrow = LegAudio("customer", np.zeros(8000, dtype=np.float32), 8000)
    wide = LegAudio("agent", np.zeros(16000, dtype=np.float32), 16000)
    mixed = mix_legs([narrow, wide], [], allowed_rates=(8000, 12000, 16000, 24000, 48000))
    assert mixed.sample_rate == 16000
    assert mixed.stereo.shape == (16000, 2)


@pytest.mark.parametrize("fmt", ["ogg", "mp3"])
def test_one_speaker_never_leaks_into_the_other_channel(tmp_path: Path, korean: Path, fmt: str) -> None:
    # The customer talks, the agent is silent: the agent's channel must stay silent after lossy
    # coding (Opus below ~30 kbit/s couples the channels; see docs/decisions/0004).
    speech, rate = read_mono(korean / "leopard_test_ko.wav")
    decimated = speech[: len(speech) // 2 * 2].reshape(-1, 2).mean(axis=1)  # 8 kHz, as on a G.711 call
    customer = write_leg(tmp_path / "l-customer.wav", decimated, rate // 2)
    agent = write_leg(tmp_path / "l-agent.wav", np.zeros_like(decimated), rate // 2)
    result = process_recording(make_job(tmp_path, customer, agent), recordings_dir=tmp_path, fmt=fmt, now=0.0)
    data, _ = sf.read(str(tmp_path / result.path), dtype="float32")
    left, right = (float(np.sqrt(np.mean(data[:, i] ** 2))) for i in (0, 1))
    assert left > 0.05
    assert 20 * np.log10(max(right, 1e-9) / left) < -60
