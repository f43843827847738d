"""The abandon ledger: rolling and calendar-day windows, the budget, window config errors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from callcenter.errors import ConfigError
from dialer.abandon import DAY_S, AbandonLedger, AbandonWindow, WindowRate, parse_windows


def utc(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


WINDOWS = (
    AbandonWindow("rolling-30d", "rolling", span_s=30 * DAY_S),
    AbandonWindow("calendar-day", "calendar-day", time_zone="America/New_York"),
)


def test_the_calendar_day_resets_at_local_midnight_and_the_month_keeps_counting() -> None:
    ledger = AbandonLedger(WINDOWS)
    day1 = utc("2026-03-07T20:00:00")  # Saturday 15:00 EST
    for i in range(40):
        ledger.record(day1 + i, abandoned=i < 2)
    assert ledger.rates(day1 + 100) == (WindowRate("rolling-30d", 40, 2), WindowRate("calendar-day", 40, 2))
    # 04:59 UTC Sunday is still Saturday 23:59 in New York; 05:00 UTC is Sunday.
    assert ledger.rates(utc("2026-03-08T04:59:00"))[1] == WindowRate("calendar-day", 40, 2)
    assert ledger.rates(utc("2026-03-08T05:00:00"))[1] == WindowRate("calendar-day", 0, 0)
    ledger.record(utc("2026-03-08T14:00:00"), abandoned=True)
    assert ledger.rates(utc("2026-03-08T14:00:01")) == (WindowRate("rolling-30d", 41, 3), WindowRate("calendar-day", 1, 1))
    # Thirty days later the first day has slid out of the rolling window.
    assert ledger.rates(day1 + 30 * DAY_S + 50) == (WindowRate("rolling-30d", 1, 1), WindowRate("calendar-day", 0, 0))


def test_budget_is_the_tightest_window() -> None:
    ledger = AbandonLedger(WINDOWS, limit=0.03)
    now = utc("2026-03-04T17:00:00")
    assert ledger.budget(now) == 0.0 and not ledger.can_risk_abandon(now)
    for i in range(100):
        ledger.record(now + i, abandoned=i == 0)
    assert ledger.budget(now + 100) == pytest.approx(2.0)
    assert ledger.can_risk_abandon(now + 100)
    ledger.record(now + 101, abandoned=True)
    ledger.record(now + 102, abandoned=True)
    assert ledger.budget(now + 103) == pytest.approx(0.03 * 102 - 3)
    assert not ledger.can_risk_abandon(now + 103)
    assert WindowRate("x", 102, 3).rate == pytest.approx(3 / 102)


def test_window_config() -> None:
    parsed = parse_windows(
        [{"name": "live", "kind": "rolling", "span_s": 900}, {"name": "day", "kind": "calendar-day", "time_zone": "Europe/Berlin"}],
        "w",
    )
    assert parsed == (AbandonWindow("live", "rolling", span_s=900.0), AbandonWindow("day", "calendar-day", time_zone="Europe/Berlin"))
    for spec, message in (
        ([{"name": "x", "kind": "weekly"}], "w[0].kind: 'weekly'; expected rolling or calendar-day"),
        ([{"name": "x", "kind": "rolling", "span_s": -1}], "w[0].span_s: -1 is not a positive number of seconds"),
        ([{"name": "x", "kind": "calendar-day", "time_zone": "Nowhere/Town"}], "w[0].time_zone: 'Nowhere/Town' is not a known time zone"),
        ([{"kind": "rolling"}], "w[0].name: missing"),
    ):
        with pytest.raises(ConfigError) as excinfo:
            parse_windows(spec, "w")
        assert str(excinfo.value) == message
    with pytest.raises(ConfigError) as excinfo:
        AbandonLedger(WINDOWS, limit=1.5)
    assert str(excinfo.value) == "abandon limit 1.5 must be a fraction between 0 and 1"


def test_headroom_counts_what_is_left_once_the_oldest_answers_slide_out() -> None:
    ledger = AbandonLedger((AbandonWindow("live-1h", "rolling", span_s=3600.0),), limit=0.03)
    now = utc("2026-03-04T17:00:00")
    for i in range(100):  # one answer every 36 s over the last hour; the two newest abandoned
        ledger.record(now - 3600 + 36 * (i + 1) - 1, abandoned=i >= 98)
    assert ledger.rates(now) == (WindowRate("live-1h", 100, 2),)
    assert ledger.budget(now) == pytest.approx(1.0)
    # In half an hour without answers only the newest 50 remain, with both abandons: 2/50 = 4%.
    assert ledger.budget(now, headroom=0.5) == pytest.approx(0.03 * 50 - 2)
    assert ledger.rates(now + 1800) == (WindowRate("live-1h", 50, 2),)
