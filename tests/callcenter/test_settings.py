from __future__ import annotations

from pathlib import Path

import pytest

from callcenter.errors import ConfigError
from callcenter.settings import load_settings


def test_defaults_use_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    s = load_settings(environ={"CALLCENTER_DATA_DIR": str(tmp_path)})
    assert s.data_dir == tmp_path
    assert s.database_url == f"sqlite+aiosqlite:///{tmp_path / 'crm.sqlite3'}"
    assert s.ami.port == 5038 and s.fastagi.port == 4573 and s.http.port == 8080


def test_file_then_environment(tmp_path: Path) -> None:
    cfg = tmp_path / "cc.yaml"
    cfg.write_text("ami:\n  port: 6000\n  secret: s3cret\nhttp:\n  port: 9000\n")
    s = load_settings(cfg, environ={"CALLCENTER_AMI__PORT": "7000", "CALLCENTER_LOG_LEVEL": "DEBUG"})
    assert s.ami.port == 7000
    assert s.http.port == 9000
    assert s.log_level == "DEBUG"
    assert "s3cret" not in repr(s)
    assert s.redacted()["ami"]["secret"] == "********"


@pytest.mark.parametrize(
    ("env", "error"),
    [
        ({"CALLCENTER_AMI__PORT": "x"}, "setting ami.port has value 'x'; expected an integer"),
        ({"CALLCENTER_AMI__PORT": "70000"}, "setting ami.port has value 70000; expected a positive port number"),
        ({"CALLCENTER_AMI__NOPE": "1"}, "setting ami.nope (from environment) is not a known setting"),
        (
            {"CALLCENTER_DATABASE__ECHO": "maybe"},
            "setting database.echo has value 'maybe'; expected a boolean (true/false)",
        ),
        (
            {"CALLCENTER_SPEECH__ENGINE": "siri"},
            "setting speech.engine has value 'siri'; expected one of auto, vosk, whisper, none",
        ),
        ({"CALLCENTER_AMI__SECRET": {"a": 1}}, "setting ami.secret has value ********; expected a string"),
        (
            {"CALLCENTER_SPEECH__WHISPER_CONFIDENCE_THRESHOLD": "1.5"},
            "setting speech.whisper_confidence_threshold has value 1.5; expected 0..1",
        ),
        (
            {"CALLCENTER_SPEECH__VOSK_CONFIDENCE_THRESHOLD": "-0.1"},
            "setting speech.vosk_confidence_threshold has value -0.1; expected 0..1",
        ),
        (  # one threshold for every engine was replaced by one per engine
            {"CALLCENTER_SPEECH__CONFIDENCE_THRESHOLD": "0.4"},
            "setting speech.confidence_threshold (from environment) is not a known setting",
        ),
    ],
)
def test_errors_name_key_and_value(env: dict[str, str], error: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load_settings(environ=env)
    assert str(exc.value) == error


def test_each_speech_engine_has_its_own_confidence_threshold(tmp_path: Path) -> None:
    assert load_settings(environ={}).speech.confidence_thresholds() == {"vosk": 0.6, "whisper": 0.4}
    cfg = tmp_path / "cc.yaml"
    cfg.write_text("speech:\n  whisper_confidence_threshold: 0.35\n")
    s = load_settings(cfg, environ={"CALLCENTER_SPEECH__VOSK_CONFIDENCE_THRESHOLD": "0.7"})
    assert s.speech.confidence_thresholds() == {"vosk": 0.7, "whisper": 0.35}


def test_bad_yaml_names_line(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("ami:\n  port: [1,\n")
    with pytest.raises(ConfigError, match=r"bad.yaml:3:1: not valid YAML"):
        load_settings(cfg, environ={})


def test_database_password_is_redacted() -> None:
    s = load_settings(environ={"CALLCENTER_DATABASE__URL": "postgresql+asyncpg://cc:pw@db:5432/cc"})
    assert s.redacted()["database"]["url"] == "postgresql+asyncpg://cc:********@db:5432/cc"
