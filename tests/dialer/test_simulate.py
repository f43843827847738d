"""The outbound simulation: the real pacer, compliance and contact queue on simulated time."""

from __future__ import annotations

from typing import Any

import pytest

from callcenter.errors import ConfigError
from dialer.simulate import parse_scenario, run


def scenario(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"kind": "outbound", "agents": 20, "duration_s": 3600, "lines": {"live_rate": 0.2}}
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return base


def test_predictive_holds_the_abandon_limit_in_every_window_over_many_seeds() -> None:
    abandons = 0
    for seed in range(6):
        # 90 minutes, so the one-hour live window is judged at every answer of the last half hour.
        result = run(scenario(duration_s=5400, lines={"live_rate": (0.2, 0.35)[seed % 2]}), seed=seed)
        windows = result["abandon_rate_by_window"]
        assert set(windows) == {"rolling-30d", "calendar-day", "live-1h"}
        for name, window in windows.items():
            assert window["rate"] <= 0.03, (seed, name, window)
        assert result["abandon_rate_max_window"] == max(w["rate"] for w in windows.values())
        abandons += result["abandons"]
    assert abandons > 0  # the limit was used, not avoided by never taking a risk


def test_predictive_beats_progressive_on_occupancy() -> None:
    for seed in (1, 2):
        ours = run(scenario(pacing={"mode": "predictive"}), seed=seed)
        progressive = run(scenario(pacing={"mode": "progressive"}), seed=seed)
        assert ours["occupancy"] > progressive["occupancy"] + 0.05
        assert ours["talk_min_per_hour"] > progressive["talk_min_per_hour"]
        assert progressive["abandons"] == 0


def test_preview_waits_for_the_agent_and_cannot_abandon() -> None:
    preview = run(scenario(pacing={"mode": "preview"}, preview_s={"dist": "fixed", "mean": 30}), seed=3)
    progressive = run(scenario(pacing={"mode": "progressive"}), seed=3)
    assert preview["abandons"] == 0
    assert preview["connect_max_s"] == pytest.approx(0.3)  # the reserved agent is on the line
    # Thirty seconds of reading before each dial: fewer dials per agent hour than progressive.
    assert preview["dials_per_agent_hour"] < progressive["dials_per_agent_hour"] * 0.8


def test_the_two_second_rule() -> None:
    result = run(scenario(), seed=4)
    assert result["connect_p99_s"] <= 2.0 and result["connect_max_s"] <= 2.0
    assert result["outcomes"]["abandoned"] == result["abandons"]


def test_same_seed_same_result_and_a_different_seed_differs() -> None:
    assert run(scenario(duration_s=1800), seed=7) == run(scenario(duration_s=1800), seed=7)
    assert run(scenario(duration_s=1800), seed=7) != run(scenario(duration_s=1800), seed=8)


def test_blended_agents_take_inbound_first() -> None:
    result = run(scenario(inbound={"calls_per_hour": 120}), seed=5)
    assert result["inbound_calls"] >= 90
    assert result["inbound_wait_mean_s"] < 10.0
    assert result["dials"] > 0 and result["abandon_rate_max_window"] <= 0.03


def test_nothing_is_dialed_before_the_calling_window_opens() -> None:
    early = {"start": "2026-03-02T07:50:00-05:00", "agents": 5, "pacing": {"mode": "progressive"}}
    before = run(scenario(duration_s=590, **early), seed=1)
    assert before["dials"] == 0 and before["no_dial_reasons"]["outside-calling-window"] > 0
    after = run(scenario(duration_s=1200, **early), seed=1)
    assert after["dials"] > 0


def test_the_window_is_the_callees_not_the_call_centres() -> None:
    # 09:00 in New York is 23:00 in Tokyo: a list of Tokyo numbers waits for their morning.
    tokyo = run(scenario(duration_s=1800, agents=5, time_zone="Asia/Tokyo", pacing={"mode": "progressive"}), seed=1)
    assert tokyo["dials"] == 0 and tokyo["no_dial_reasons"]["outside-calling-window"] > 0


def test_retries_follow_the_campaign_rules() -> None:
    # A list of 30 contacts for 20 agents over an hour: busy numbers come back after 10 minutes.
    result = run(scenario(list_size=30, pacing={"mode": "progressive"}, lines={"busy_rate": 0.5}), seed=2)
    assert result["dials"] > 30
    assert result["no_dial_reasons"].get("retry-delay", 0) == 0  # queued for their time, not re-asked early


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"kind": "inbound"}, "scenario.kind: 'inbound'; expected 'outbound'"),
        ({"kind": "outbound", "agents": 0}, "scenario.agents: 0; expected a positive integer"),
        ({"kind": "outbound", "agent": 3}, "scenario: unknown key 'agent'; expected one of abandon_windows, agents, compliance, connect_s, duration_s, inbound, kind, lines, list_size, name, pacing, preview_s, seed, start, talk_s, tick_s, time_zone, wrap_s"),
        ({"kind": "outbound", "pacing": {"mode": "turbo"}}, "scenario.pacing.mode: 'turbo'; expected one of preview, progressive, ratio, predictive"),
        ({"kind": "outbound", "lines": {"live_rate": 1.5}}, "scenario.lines.live_rate: 1.5; expected a number from 0 to 1"),
        ({"kind": "outbound", "lines": {"live_rate": 0.6, "machine_rate": 0.5}}, "scenario.lines: live, machine, busy and failed rates add up to 1.230; at most 1"),
        ({"kind": "outbound", "talk_s": {"dist": "weibull", "mean": 3}}, "scenario.talk_s.dist: 'weibull'; expected one of lognormal, gamma, exponential, uniform, fixed"),
        ({"kind": "outbound", "start": "2026-03-02T09:00:00"}, "scenario.start: '2026-03-02T09:00:00' needs a UTC offset"),
        ({"kind": "outbound", "time_zone": "Mars/Base"}, "scenario.time_zone: 'Mars/Base' is not a known time zone"),
    ],
)
def test_scenario_errors_name_the_key(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as excinfo:
        parse_scenario(data)
    assert str(excinfo.value) == message
