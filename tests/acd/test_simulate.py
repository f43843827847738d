from __future__ import annotations

import dataclasses
import json
import statistics
from pathlib import Path

import pytest

from acd.erlang import erlang_a, erlang_c
from acd.simulate import ScenarioError, load_scenario, simulate
from callcenter.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "simulate"


def _runs(name: str, seeds: range, **changes: float) -> list[dict]:
    scenario = dataclasses.replace(load_scenario(EXAMPLES / name), **changes)
    return [simulate(dataclasses.replace(scenario, seed=s))["queues"]["support"] for s in seeds]


def _agrees(values: list[float], theory: float, floor: float) -> None:
    """Mean over seeds within 3 standard errors of the theory (plus a small floor)."""
    mean = statistics.mean(values)
    se = statistics.stdev(values) / len(values) ** 0.5
    assert abs(mean - theory) <= 3 * se + floor, (mean, theory, se)


def test_single_skill_queue_without_abandonment_agrees_with_erlang_c() -> None:
    runs = _runs("mmc.yaml", range(1, 7), duration_s=14400.0)
    theory = erlang_c(arrival_rate=504 / 3600, service_time_s=60, agents=10, sl_t_s=20)
    assert theory is not None
    assert all(r["abandoned"] == 0 and r["offered"] == r["answered"] for r in runs)
    _agrees([r["service_level"] for r in runs], theory.service_level, 0.01)
    _agrees([r["asa_s"] for r in runs], theory.asa_s, 1.0)


def test_single_skill_queue_with_exponential_patience_agrees_with_erlang_a() -> None:
    runs = _runs("mmc_patience.yaml", range(1, 7), duration_s=14400.0)
    theory = erlang_a(arrival_rate=660 / 3600, service_time_s=60, agents=10, patience_s=90, sl_t_s=20)
    assert theory is not None
    _agrees([r["service_level"] for r in runs], theory.service_level, 0.01)
    _agrees([r["asa_s"] for r in runs], theory.asa_s, 1.0)
    _agrees([r["abandon_rate"] for r in runs], theory.abandon_rate, 0.01)
    assert all(r["erlang_c"] is None for r in runs)  # 11 erlangs on 10 agents: no Erlang C answer


def test_the_hotline_loses_no_call_and_is_reproducible() -> None:
    scenario = dataclasses.replace(load_scenario(EXAMPLES / "hotline_day.yaml"), duration_s=3600.0)
    first = simulate(scenario)
    assert first["lost_calls"] == 0
    assert sum(first["outcomes"].values()) == first["calls"] > 1000
    assert set(first["classes"]) == {"standard", "gold", "vip"}
    assert first["classes"]["vip"]["asa_s"] < first["classes"]["standard"]["asa_s"]
    assert simulate(scenario) == first


def test_cli_prints_the_contract(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    assert main(["simulate", str(EXAMPLES / "mmc_patience.yaml"), "--json", "--seed", "3", "--decisions", str(log)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["lost_calls"] == 0
    q = report["queues"]["support"]
    for key in ("offered", "answered", "abandoned", "service_level", "asa_s"):
        assert isinstance(q[key], int | float)
    assert set(q["erlang_a"]) == {"service_level", "asa_s", "abandon_rate"}
    assert set(report["classes"]["standard"]) >= {"offered", "answered", "asa_s", "max_wait_s"}
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert {line["type"] for line in lines} == {"call.queued", "acd.routing-decided"}
    assert main(["routing", "explain", "c7", "--log", str(log)]) == 0
    text = capsys.readouterr().out
    assert text.startswith("call c7 queued at ")
    assert "rule 'everything' (line " in text and "decision c7/1 at " in text


def test_scenario_errors_name_file_line_and_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "kind: outbound-ish\n"
        "duration_s: 100\n"
        "rules: {version: 1, queues: {q: {}}, rules: [{name: all, queue: q}]}\n"
        "agents: [{group: a, count: 1, queues: [nope]}]\n"
        "call_types: [{name: c, rate_per_hour: 10, dnis: '1', handle_time: {dist: gamma, mean_s: 1}}]\n"
    )
    with pytest.raises(ScenarioError) as exc:
        load_scenario(bad)
    assert str(exc.value) == f"{bad}:1:7: kind 'outbound-ish' is not one of inbound"
    bad.write_text(bad.read_text().replace("outbound-ish", "inbound"))
    with pytest.raises(ScenarioError) as exc:
        load_scenario(bad)
    assert exc.value.errors == [
        f"{bad}:4:40: agent group 'a': unknown queue 'nope'; the rules declare q",
        f"{bad}:5:74: call type 'c' handle_time dist 'gamma' is not one of exponential, fixed, uniform, lognormal",
    ]


def test_cli_table_and_bad_scenario(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["simulate", str(EXAMPLES / "mmc.yaml"), "--seed", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{EXAMPLES / 'mmc.yaml'}: ") and ", 10 agents, seed 2, " in lines[0]
    assert lines[1].endswith(", lost 0")
    assert lines[3].split()[:2] == ["queue", "offered"] and lines[4].split()[0] == "support"
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: inbound\n")
    assert main(["simulate", str(bad)]) == 1
    assert capsys.readouterr().err == f"callcenter simulate: {bad}:1:1: missing 'duration_s'\n"


def test_explain_reports_a_damaged_log_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    log = tmp_path / "d.jsonl"
    log.write_text('{"type": "call.queued", "call_id": "c1"}\n{not json\n')
    assert main(["routing", "explain", "c1", "--log", str(log)]) == 1
    assert capsys.readouterr().err == (
        f"callcenter routing explain: {log}:2: not a JSON line (Expecting property name enclosed in double quotes)\n"
    )
    log.write_text("")
    assert main(["routing", "explain", "c1", "--log", str(log)]) == 1
    assert capsys.readouterr().err == f"callcenter routing explain: no records for call 'c1' in {log}\n"
