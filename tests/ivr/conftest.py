"""Helpers for the IVR tests: flows built from inline YAML, and a scripted caller for the pure core."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from ivr.flow import Flow
from ivr.validate import load_flows

FlowFactory = Callable[..., Flow]


@pytest.fixture
def make_flow(tmp_path: Path) -> FlowFactory:
    """`make_flow(yaml_text, subflow_text, ...)` -> the built Flow (fails the test on any error)."""

    def make(text: str, *subflows: str) -> Flow:
        for i, sub in enumerate(subflows):
            (tmp_path / f"sub{i}.yaml").write_text(textwrap.dedent(sub), encoding="utf-8")
        (tmp_path / "flow.yaml").write_text(textwrap.dedent(text), encoding="utf-8")
        result = load_flows([tmp_path])
        assert [str(e) for e in result.errors] == []
        (flow,) = result.flows.values()
        return flow

    return make


@pytest.fixture(scope="session")
def hotline(repo_dir: Path) -> Flow:
    result = load_flows([repo_dir / "flows"])
    assert [str(e) for e in result.errors] == []
    return result.flows["hotline"]
