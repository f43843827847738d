"""`callcenter simulate` runs outbound scenarios (`kind: outbound`) through the dialer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from callcenter.cli import main


def test_simulate_dispatches_an_outbound_scenario(
    repo_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = yaml.safe_load((repo_dir / "examples/simulate/outbound-retention.yaml").read_text())
    spec.update(agents=20, duration_s=1800, list_size=5000)
    scenario = tmp_path / "short.yaml"
    scenario.write_text(yaml.safe_dump(spec))
    assert main(["simulate", str(scenario), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["kind"] == "outbound" and out["agents"] == 20
    assert out["dials"] > 0 and 0.0 < out["occupancy"] <= 1.0
    assert out["abandon_rate_max_window"] <= 0.03


def test_simulate_still_runs_inbound_scenarios(repo_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", str(repo_dir / "examples/simulate/mmc.yaml"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["lost_calls"] == 0 and out["queues"]
