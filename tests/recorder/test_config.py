"""The recorder's config file: sections, scopes, defaults from the settings, exact errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from callcenter.errors import ConfigError
from callcenter.events import Direction, QueueName
from callcenter.settings import Settings
from recorder.config import RecorderConfig, load_recorder_config
from recorder.policy import Mode, decide


def test_a_full_file_is_read(tmp_path: Path) -> None:
    file = tmp_path / "recording.yaml"
    file.write_text(
        "record:\n  default: on-demand\n  queues: {billing: always}\n"
        "retention:\n  default_days: 30\n  queues: {complaints: 730}\n  campaigns: {winback: 7}\n"
        "keywords:\n  default: [lawyer]\n  queues: {complaints: [refund, cancel my contract]}\n"
    )
    config = load_recorder_config(Settings(data_dir=tmp_path), file)
    assert decide(config.policy, direction=Direction.INBOUND).mode is Mode.ON_DEMAND
    assert decide(config.policy, direction=Direction.INBOUND, queue=QueueName("billing")).mode is Mode.ALWAYS
    assert config.retention_days.lookup(queue="complaints", campaign_id="winback") == (7, "campaign winback")
    assert config.retention_days.lookup(queue="complaints", campaign_id=None) == (730, "queue complaints")
    assert config.retention_days.lookup(queue="sales", campaign_id=None) == (30, "default")
    assert config.keywords.lookup(queue="complaints", campaign_id=None) == (
        ("refund", "cancel my contract"), "queue complaints"
    )


def test_without_a_file_the_settings_decide(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    settings.recording.policy = "never"
    settings.recording.retention_days = 14
    config = load_recorder_config(settings)
    assert decide(config.policy, direction=Direction.INBOUND).mode is Mode.NEVER
    assert config.retention_days.lookup(queue=None, campaign_id=None) == (14, "default")
    (tmp_path / "recording.yaml").write_text("record: {default: always}\n")
    assert decide(load_recorder_config(settings).policy, direction=Direction.INBOUND).mode is Mode.ALWAYS


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("retention: {default_days: 0}\n", "F: retention.default_days has value 0; expected a whole number of days, "
                                           "at least 1"),
        ("retention: {queues: {vip: forever}}\n", "F: retention.queues.vip has value 'forever'; expected a whole "
                                                  "number of days, at least 1"),
        ("keywords: {default: refund}\n", "F: keywords.default has value 'refund'; expected a list of words or "
                                          "phrases"),
        ("keyword: {}\n", "F: unknown section 'keyword'; expected record, retention or keywords"),
        ("retention: {days: 3}\n", "F: retention: unknown key 'days'; expected default_days, queues or campaigns"),
        ("- a\n", "F must be a mapping, not list"),
    ],
)
def test_errors_name_the_file_key_and_value(tmp_path: Path, text: str, message: str) -> None:
    file = tmp_path / "r.yaml"
    file.write_text(text)
    with pytest.raises(ConfigError) as excinfo:
        load_recorder_config(Settings(data_dir=tmp_path), file)
    assert str(excinfo.value) == message.replace("F", str(file), 1)


def test_a_missing_named_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as excinfo:
        load_recorder_config(Settings(data_dir=tmp_path), tmp_path / "nope.yaml")
    assert str(excinfo.value) == f"recorder config {tmp_path / 'nope.yaml'}: No such file or directory"


def test_the_default_config_records_everything_for_90_days() -> None:
    config = RecorderConfig()
    assert decide(config.policy, direction=Direction.OUTBOUND).mode is Mode.ALWAYS
    assert config.retention_days.lookup(queue=None, campaign_id=None) == (90, "default")
