"""`callcenter campaign create / import / start / pause / resume / stop / status / list` through
the real argument parser, against the SQLite CRM database of the settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from callcenter.cli import main


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CALLCENTER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("CALLCENTER_CONFIG", raising=False)
    monkeypatch.delenv("CALLCENTER_DATABASE__URL", raising=False)
    monkeypatch.setenv("CALLCENTER_LOG_LEVEL", "WARNING")
    return tmp_path / "data"


def test_a_campaign_from_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = tmp_path / "spring.yaml"
    settings.write_text("agents: ['1001', '1002']\ncountry: US\ncompliance:\n  max_attempts: 4\n", encoding="utf-8")
    contacts = tmp_path / "list.csv"
    contacts.write_text("id,phone,name\na,(212) 555-0100,Ann\nb,555,Bob\n", encoding="utf-8")
    assert main(["campaign", "create", "spring", "--name", "Spring", "--queue", "retention", "--settings", str(settings)]) == 0
    assert main(["campaign", "import", "spring", str(contacts)]) == 1  # a row was rejected
    assert main(["campaign", "start", "spring"]) == 0
    assert main(["campaign", "pause", "spring"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "campaign spring created (draft)",
        f"{contacts}: row 3, column phone: '555' has 3 national digits; a US number has 10",
        f"{contacts}: 1 contacts added, 1 rows rejected",
        "campaign spring: running",
        "campaign spring: paused",
    ]
    assert main(["campaign", "status", "spring", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert (status["status"], status["contacts"]["pending"], status["dials"]) == ("paused", 1, 0)
    assert main(["campaign", "status", "spring"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "campaign spring (Spring): paused, progressive, queue retention"
    assert out[-1] == "abandons live-1h: 0/0 (0.0%; limit 3%)"
    assert main(["campaign", "list"]) == 0
    assert capsys.readouterr().out == "spring\tpaused\tprogressive\tretention\tSpring\n"


def test_errors_are_one_line_on_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["campaign", "resume", "ghost"]) == 1
    assert capsys.readouterr().err == "callcenter campaign resume: campaign 'ghost' does not exist\n"
    bad = tmp_path / "bad.yaml"
    bad.write_text("machine: sing\n", encoding="utf-8")
    assert main(["campaign", "create", "x", "--name", "X", "--queue", "q", "--settings", str(bad)]) == 1
    assert capsys.readouterr().err == (
        "callcenter campaign create: campaign x: settings.machine: 'sing'; expected one of message, hangup\n"
    )
