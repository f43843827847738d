"""The recorder's configuration: recording policy, retention periods and keyword lists.

One YAML file (``--policy FILE`` on ``callcenter recordings``, else ``<data_dir>/recording.yaml``
when it exists) with three optional sections; what it leaves out comes from the settings
(``recording.policy``, ``recording.retention_days``)::

    record:                       # recorder/policy.py
      default: always             # always | on-demand | never
      outbound: on-demand
      queues: {billing: always, hr-helpdesk: never}
      campaigns: {winback: always}
      announce: true
    retention:                    # days; recorder/retention.py
      default_days: 90
      queues: {complaints: 730}
      campaigns: {winback: 30}
    keywords:                     # words or phrases that flag a call for review
      default: [lawyer]
      queues: {complaints: [refund, cancel my contract]}
      campaigns: {}

Errors name the file, the key and the value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from callcenter.errors import ConfigError
from callcenter.events import CampaignId, QueueName
from callcenter.settings import Settings, read_yaml_file
from recorder.policy import SETTINGS_DEFAULT_MODE, RecordingPolicy

CONFIG_FILE_NAME = "recording.yaml"


@dataclass(frozen=True, slots=True, kw_only=True)
class ByScope:
    """A value per campaign, per queue, and a default: the campaign's wins, then the queue's."""

    default: Any
    queues: Mapping[QueueName, Any] = field(default_factory=dict)
    campaigns: Mapping[CampaignId, Any] = field(default_factory=dict)

    def lookup(self, *, queue: str | None, campaign_id: str | None) -> tuple[Any, str]:
        """The value and the rule that chose it ("campaign winback", "queue billing", "default")."""
        if campaign_id is not None and campaign_id in self.campaigns:
            return self.campaigns[CampaignId(campaign_id)], f"campaign {campaign_id}"
        if queue is not None and queue in self.queues:
            return self.queues[QueueName(queue)], f"queue {queue}"
        return self.default, "default"


@dataclass(frozen=True, slots=True, kw_only=True)
class RecorderConfig:
    policy: RecordingPolicy = field(default_factory=RecordingPolicy)
    retention_days: ByScope = field(default_factory=lambda: ByScope(default=90))
    keywords: ByScope = field(default_factory=lambda: ByScope(default=()))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, source: str, settings: Settings) -> RecorderConfig:
        for key in data:
            if key not in ("record", "retention", "keywords"):
                raise ConfigError(f"{source}: unknown section {key!r}; expected record, retention or keywords")
        record = _mapping(data.get("record", {}), f"{source}: record")
        retention = _mapping(data.get("retention", {}), f"{source}: retention")
        keywords = _mapping(data.get("keywords", {}), f"{source}: keywords")
        return cls(
            policy=RecordingPolicy.from_mapping(
                record, where=f"{source}: record", default=SETTINGS_DEFAULT_MODE[settings.recording.policy]
            ),
            retention_days=_by_scope(
                retention, f"{source}: retention", "default_days", settings.recording.retention_days, _days
            ),
            keywords=_by_scope(keywords, f"{source}: keywords", "default", (), _words),
        )


def load_recorder_config(settings: Settings, path: str | Path | None = None) -> RecorderConfig:
    """The file given, else ``<data_dir>/recording.yaml`` if present, else the settings alone."""
    file = Path(path) if path else settings.data_dir / CONFIG_FILE_NAME
    if not path and not file.exists():
        return RecorderConfig.from_mapping({}, source="settings", settings=settings)
    data = read_yaml_file(file, "recorder config") or {}
    return RecorderConfig.from_mapping(_mapping(data, str(file)), source=str(file), settings=settings)


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where} must be a mapping, not {type(value).__name__}")
    return value


def _by_scope(data: Mapping[str, Any], where: str, default_key: str, default: Any, convert: Any) -> ByScope:
    for key in data:
        if key not in (default_key, "queues", "campaigns"):
            raise ConfigError(f"{where}: unknown key {key!r}; expected {default_key}, queues or campaigns")
    queues = _mapping(data.get("queues", {}), f"{where}.queues")
    campaigns = _mapping(data.get("campaigns", {}), f"{where}.campaigns")
    return ByScope(
        default=convert(data[default_key], f"{where}.{default_key}") if default_key in data else default,
        queues={QueueName(str(k)): convert(v, f"{where}.queues.{k}") for k, v in queues.items()},
        campaigns={CampaignId(str(k)): convert(v, f"{where}.campaigns.{k}") for k, v in campaigns.items()},
    )


def _days(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{where} has value {value!r}; expected a whole number of days, at least 1")
    return value


def _words(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(f"{where} has value {value!r}; expected a list of words or phrases")
    return tuple(value)
