"""The recording policy: precedence, the announcement flag, and config errors."""

from __future__ import annotations

import pytest

from callcenter.errors import ConfigError
from callcenter.events import CampaignId, Direction, QueueName
from recorder.policy import Mode, RecordingDecision, RecordingPolicy, decide

POLICY = RecordingPolicy.from_mapping(
    {
        "default": "always",
        "outbound": "on-demand",
        "queues": {"hr": "never", "sales": "always"},
        "campaigns": {"winback": "always", "survey": "never"},
    },
    where="recording.yaml: record",
)


@pytest.mark.parametrize(
    ("direction", "queue", "campaign", "expected"),
    [
        (Direction.INBOUND, None, None, RecordingDecision(mode=Mode.ALWAYS, announce=True, rule="default")),
        (Direction.INBOUND, "billing", None, RecordingDecision(mode=Mode.ALWAYS, announce=True, rule="default")),
        (Direction.INBOUND, "hr", None, RecordingDecision(mode=Mode.NEVER, announce=False, rule="queue hr")),
        (Direction.OUTBOUND, None, None,
         RecordingDecision(mode=Mode.ON_DEMAND, announce=True, rule="direction outbound")),
        (Direction.OUTBOUND, "sales", None, RecordingDecision(mode=Mode.ALWAYS, announce=True, rule="queue sales")),
        (Direction.OUTBOUND, "sales", "survey",
         RecordingDecision(mode=Mode.NEVER, announce=False, rule="campaign survey")),
        (Direction.OUTBOUND, "hr", "winback",
         RecordingDecision(mode=Mode.ALWAYS, announce=True, rule="campaign winback")),
    ],
)
def test_the_most_specific_setting_wins(
    direction: Direction, queue: str | None, campaign: str | None, expected: RecordingDecision
) -> None:
    got = decide(
        POLICY,
        direction=direction,
        queue=QueueName(queue) if queue else None,
        campaign_id=CampaignId(campaign) if campaign else None,
    )
    assert got == expected


def test_announcement_can_be_turned_off() -> None:
    policy = RecordingPolicy.from_mapping({"announce": False}, where="x")
    assert decide(policy, direction=Direction.INBOUND) == RecordingDecision(
        mode=Mode.ALWAYS, announce=False, rule="default"
    )


def test_the_settings_word_is_the_default_mode() -> None:
    policy = RecordingPolicy.from_mapping({"queues": {"vip": "always"}}, where="x", default=Mode.NEVER)
    assert decide(policy, direction=Direction.INBOUND).mode is Mode.NEVER
    assert decide(policy, direction=Direction.INBOUND, queue=QueueName("vip")).mode is Mode.ALWAYS


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"default": "sometimes"},
         "recording.yaml: record.default has value 'sometimes'; expected one of always, on-demand, never"),
        ({"queues": {"sales": "yes"}},
         "recording.yaml: record.queues.sales has value 'yes'; expected one of always, on-demand, never"),
        ({"queues": ["sales"]}, "recording.yaml: record.queues must be a mapping of name to value, not list"),
        ({"announce": "yes"}, "recording.yaml: record.announce has value 'yes'; expected true or false"),
        ({"inbond": "never"},
         "recording.yaml: record: unknown key 'inbond'; expected one of announce, campaigns, default, inbound, "
         "internal, outbound, queues"),
    ],
)
def test_bad_policy_names_the_key_and_value(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as excinfo:
        RecordingPolicy.from_mapping(data, where="recording.yaml: record")
    assert str(excinfo.value) == message
