"""Which calls are recorded: the recording policy, as data and one pure decision.

Theory of operation
-------------------
A policy answers, for one call, one of three modes:

* ``ALWAYS``    - record from the moment the agent answers until the call ends;
* ``ON_DEMAND`` - record only after someone asks (the agent's CTI button), until the call ends
                  or they ask to stop;
* ``NEVER``     - never record, and refuse requests (a regulated line, an internal help desk).

Rule 1: the most specific setting wins: campaign, then queue, then direction, then the default.
        A call in the "vip" queue of an outbound campaign takes the campaign's mode if the campaign
        has one, else the queue's, and so on. The decision says which rule chose, for the audit.
Rule 2: whether the caller hears "this call may be recorded" is the policy's ``announce`` flag, and
        it is only ever played when the call can be recorded (ALWAYS or ON_DEMAND). The dialplan
        plays it; the control plane only sets the channel variable (recorder/control.py).
Rule 3: recordings always keep the two legs apart (customer and agent in separate files), so that
        post-processing can put them on separate channels and transcripts know who spoke.

No I/O, no clock: ``RecordingPolicy.from_mapping`` validates plain data (a YAML section, parsed by
the caller), and ``decide`` is a function of the policy and the call's facts.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from callcenter.errors import ConfigError
from callcenter.events import CampaignId, Direction, QueueName


class Mode(enum.StrEnum):
    ALWAYS = "always"
    ON_DEMAND = "on-demand"
    NEVER = "never"


# The single word of `settings.recording.policy`, as a starting point for the policy file.
SETTINGS_DEFAULT_MODE: dict[str, Mode] = {
    "all": Mode.ALWAYS,
    "never": Mode.NEVER,
    "on-demand": Mode.ON_DEMAND,
    "by-queue": Mode.NEVER,  # only the queues the policy file lists are recorded
}


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingPolicy:
    default: Mode = Mode.ALWAYS
    directions: Mapping[Direction, Mode] = field(default_factory=dict)
    queues: Mapping[QueueName, Mode] = field(default_factory=dict)
    campaigns: Mapping[CampaignId, Mode] = field(default_factory=dict)
    announce: bool = True

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, where: str, default: Mode = Mode.ALWAYS) -> RecordingPolicy:
        """Build from the ``record:`` section of the recorder's config file.

        ``where`` names the source in errors, e.g. ``recording.yaml: record``.
        """
        known = {"default", "inbound", "outbound", "internal", "queues", "campaigns", "announce"}
        for key in data:
            if key not in known:
                raise ConfigError(f"{where}: unknown key {key!r}; expected one of {', '.join(sorted(known))}")
        directions = {
            d: _mode(data[d.value], f"{where}.{d.value}") for d in Direction if d.value in data
        }
        announce = data.get("announce", True)
        if not isinstance(announce, bool):
            raise ConfigError(f"{where}.announce has value {announce!r}; expected true or false")
        return cls(
            default=_mode(data["default"], f"{where}.default") if "default" in data else default,
            directions=directions,
            queues={QueueName(k): _mode(v, f"{where}.queues.{k}") for k, v in _section(data, "queues", where).items()},
            campaigns={
                CampaignId(k): _mode(v, f"{where}.campaigns.{k}") for k, v in _section(data, "campaigns", where).items()
            },
            announce=announce,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingDecision:
    mode: Mode
    announce: bool
    rule: str  # which setting chose the mode, e.g. "queue billing" or "default"


def decide(
    policy: RecordingPolicy,
    *,
    direction: Direction,
    queue: QueueName | None = None,
    campaign_id: CampaignId | None = None,
) -> RecordingDecision:
    """The mode for a call with these facts (Rule 1) and whether to announce it (Rule 2)."""
    if campaign_id is not None and campaign_id in policy.campaigns:
        mode, rule = policy.campaigns[campaign_id], f"campaign {campaign_id}"
    elif queue is not None and queue in policy.queues:
        mode, rule = policy.queues[queue], f"queue {queue}"
    elif direction in policy.directions:
        mode, rule = policy.directions[direction], f"direction {direction.value}"
    else:
        mode, rule = policy.default, "default"
    return RecordingDecision(mode=mode, announce=policy.announce and mode is not Mode.NEVER, rule=rule)


def _mode(value: Any, where: str) -> Mode:
    try:
        return Mode(value)
    except ValueError:
        choices = ", ".join(m.value for m in Mode)
        raise ConfigError(f"{where} has value {value!r}; expected one of {choices}") from None


def _section(data: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}.{key} must be a mapping of name to value, not {type(value).__name__}")
    return value
