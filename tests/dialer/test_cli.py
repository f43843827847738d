"""`callcenter campaign ...` end to end through the real argument parser."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from callcenter.cli import main


def test_check_list_prints_rejections_and_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "list.csv"
    f.write_text("id,phone\nc1,+1 212 555 0100\nc2,555\n", encoding="utf-8")
    assert main(["campaign", "check-list", str(f)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"{f}: row 3, column phone: '555' has 3 national digits; a US number has 10",
        f"{f}: 1 contacts accepted, 1 rows rejected",
    ]
    assert main(["campaign", "check-list", str(f), "--json"]) == 1
    assert json.loads(capsys.readouterr().out) == {
        "file": str(f),
        "accepted": 1,
        "rejected_rows": 1,
        "rejections": [{"row": 3, "column": "phone", "reason": "'555' has 3 national digits; a US number has 10"}],
    }


def test_check_list_accepts_a_clean_list_with_a_byte_order_mark(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "list.csv"
    f.write_text("\ufeffphone,name\n030 1234567,Finn\n", encoding="utf-8")
    assert main(["campaign", "check-list", str(f), "--country", "DE"]) == 0
    assert capsys.readouterr().out.strip() == f"{f}: 1 contacts accepted, 0 rows rejected"


def test_simulate_prints_one_json_object(repo_dir: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    text = (repo_dir / "examples/simulate/outbound-retention.yaml").read_text(encoding="utf-8")
    short = tmp_path / "short.yaml"
    short.write_text(text.replace("duration_s: 14400", "duration_s: 1800").replace("agents: 50", "agents: 10"), encoding="utf-8")
    assert main(["campaign", "simulate", str(short), "--json", "--seed", "3"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["scenario"] == "retention-50" and report["seed"] == 3 and report["agents"] == 10
    assert set(report["abandon_rate_by_window"]) == {"rolling-30d", "calendar-day", "live-1h"}
    for key in ("occupancy", "talk_min_per_hour", "dials_per_agent_hour", "abandon_rate_max_window", "connect_p99_s"):
        assert isinstance(report[key], float)


def test_simulate_reports_bad_scenarios(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: outbound\nagents: many\n", encoding="utf-8")
    assert main(["campaign", "simulate", str(bad)]) == 1
    assert capsys.readouterr().err.strip() == f"callcenter simulate: {bad}: scenario.agents: 'many'; expected a positive integer"


def test_check_window(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["campaign", "check-window", "+1 212 555 0100", "--at", "2026-03-08T07:30:00-04:00"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out == {
        "number": "+12125550100",
        "country": "US",
        "time_zones": ["America/New_York"],
        "allowed": False,
        "reasons": ["outside-calling-window"],
        "next_allowed_at": "2026-03-09T12:00:00+00:00",  # Sunday is closed; Monday 08:00 EDT
    }
    assert main(["campaign", "check-window", "+1 212 555 0100", "--at", "2026-03-09T08:00:00-04:00"]) == 0


def test_outbound_scenarios_are_recognised_for_callcenter_simulate(repo_dir: Path, tmp_path: Path) -> None:
    from dialer.cli import is_outbound_scenario

    assert is_outbound_scenario(str(repo_dir / "examples/simulate/outbound-blended.yaml"))
    inbound = tmp_path / "inbound.yaml"
    inbound.write_text("name: hotline\nagents: 3\n", encoding="utf-8")
    assert not is_outbound_scenario(str(inbound))
    assert not is_outbound_scenario(str(tmp_path / "missing.yaml"))
