"""Calling windows in the callee's local time: DST transitions, holidays, several zones."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callcenter.errors import ConfigError
from dialer.windows import DEFAULT_WINDOWS, CallingWindow, Holiday, next_open_everywhere, parse_window, zone


def utc(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


EVERY_DAY = parse_window({"weekdays": "mon-sun", "hours": "08:00-21:00"}, "test")
NY = zone("America/New_York")
BERLIN = zone("Europe/Berlin")


def test_new_york_spring_forward_moves_the_utc_hours_not_the_local_ones() -> None:
    # Saturday 2026-03-07 is EST (UTC-5); Monday 2026-03-09 is EDT (UTC-4).
    assert not EVERY_DAY.is_open(NY, utc("2026-03-07T12:59:59"))
    assert EVERY_DAY.is_open(NY, utc("2026-03-07T13:00:00"))
    assert not EVERY_DAY.is_open(NY, utc("2026-03-09T11:59:59"))
    assert EVERY_DAY.is_open(NY, utc("2026-03-09T12:00:00"))
    # Closed at 21:30 EST on Saturday; across the changeover night it opens at 08:00 EDT.
    assert EVERY_DAY.next_open(NY, utc("2026-03-08T02:30:00")) == utc("2026-03-08T12:00:00")


def test_new_york_fall_back() -> None:
    # Saturday 2026-10-31 22:00 EDT; Sunday 2026-11-01 08:00 is EST.
    assert EVERY_DAY.next_open(NY, utc("2026-11-01T02:00:00")) == utc("2026-11-01T13:00:00")
    assert EVERY_DAY.is_open(NY, utc("2026-11-02T01:59:59"))  # 20:59:59 EST
    assert not EVERY_DAY.is_open(NY, utc("2026-11-02T02:00:00"))  # 21:00 EST


def test_berlin_across_both_changes() -> None:
    window = parse_window({"weekdays": "mon-fri", "hours": "09:00-20:00"}, "DE")
    assert window.next_open(BERLIN, utc("2026-03-27T05:00:00")) == utc("2026-03-27T08:00:00")  # CET
    # Friday evening -> Monday 09:00 CEST, after the 2026-03-29 change.
    assert window.next_open(BERLIN, utc("2026-03-27T19:00:00")) == utc("2026-03-30T07:00:00")
    assert window.next_open(BERLIN, utc("2026-10-23T19:00:00")) == utc("2026-10-26T08:00:00")  # back to CET


def test_a_start_inside_the_spring_forward_gap() -> None:
    night = parse_window({"weekdays": "sun", "hours": "02:30-04:00"}, "test")
    # 02:30 does not exist in Berlin on 2026-03-29; read with CET it is 01:30 UTC = 03:30 CEST.
    assert night.next_open(BERLIN, utc("2026-03-28T12:00:00")) == utc("2026-03-29T01:30:00")


def test_holidays_are_taken_in_the_callees_local_date() -> None:
    us = DEFAULT_WINDOWS["US"]
    la = zone("America/Los_Angeles")
    assert us.is_open(la, utc("2026-12-25T01:00:00"))  # still Thursday the 24th, 17:00 in LA
    assert not us.is_open(la, utc("2026-12-25T18:00:00"))  # Christmas Day, 10:00 in LA
    assert us.next_open(la, utc("2026-12-25T18:00:00")) == utc("2026-12-26T16:00:00")  # Saturday 08:00 PST
    thanksgiving = utc("2026-11-26T17:00:00")  # 4th Thursday of November, 12:00 EST
    assert not us.is_open(NY, thanksgiving)
    assert us.is_open(NY, utc("2026-11-19T17:00:00"))
    assert not us.is_open(NY, utc("2026-05-25T15:00:00"))  # Memorial Day: last Monday of May
    assert not us.is_open(NY, utc("2026-03-01T15:00:00"))  # a Sunday


@pytest.mark.parametrize(
    ("spec", "day", "falls"),
    [
        ("2026-07-03", "2026-07-03", True),
        ("2026-07-03", "2027-07-03", False),
        ("07-04", "2031-07-04", True),
        ("1st mon of sep", "2026-09-07", True),
        ("1st mon of sep", "2026-09-14", False),
        ("last mon of may", "2027-05-31", True),
        ("last mon of may", "2027-05-24", False),
        ("4th thu of nov", "2027-11-25", True),
    ],
)
def test_holiday_rules(spec: str, day: str, falls: bool) -> None:
    assert Holiday.parse(spec).falls_on(datetime.fromisoformat(day).date()) is falls


def test_a_number_that_may_be_in_any_us_zone_waits_for_all_of_them() -> None:
    us = DEFAULT_WINDOWS["US"]
    zones = ("America/New_York", "America/Los_Angeles", "Pacific/Honolulu")
    monday_8am_ny = utc("2026-03-02T13:00:00")
    # Open everywhere only when it is 08:00 in Honolulu (18:00 UTC); New York is open until 02:00 UTC.
    assert next_open_everywhere(us, zones, monday_8am_ny) == utc("2026-03-02T18:00:00")
    short = parse_window({"hours": "09:00-10:00"}, "test")
    assert next_open_everywhere(short, ("America/New_York", "Asia/Tokyo"), monday_8am_ny) is None


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"hours": "9-17"}, "w.hours: '9-17' is not like '09:00-20:00'"),
        ({"hours": "18:00-09:00"}, "w.hours: '18:00-09:00' ends before it starts"),
        ({"weekdays": "mon-fry"}, "w.weekdays: 'mon-fry' is not a list of days like 'mon-fri,sun'"),
        ({"holidays": ["12/25"]}, "w.holidays[0]: holiday '12/25': expected YYYY-MM-DD, MM-DD or e.g. '4th thu of nov'"),
        ({"days": "mon"}, "w: unknown key 'days'; expected one of holidays, hours, weekdays"),
    ],
)
def test_window_errors(spec: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as excinfo:
        parse_window(spec, "w")
    assert str(excinfo.value) == message


def test_weekday_ranges_wrap_around() -> None:
    assert parse_window({"weekdays": "fri-mon"}, "w").weekdays == frozenset({4, 5, 6, 0})


ZONE_NAMES = ["America/New_York", "Europe/Berlin", "Pacific/Honolulu", "Australia/Adelaide", "Asia/Kolkata", "America/St_Johns"]


@settings(max_examples=150, deadline=None)
@given(
    name=st.sampled_from(ZONE_NAMES),
    # Millisecond instants: datetime rounds to microseconds, so finer floats are not distinct times.
    at_ms=st.integers(min_value=int(utc("2026-01-01T00:00:00")) * 1000, max_value=int(utc("2027-12-31T00:00:00")) * 1000),
    window=st.sampled_from([DEFAULT_WINDOWS["US"], DEFAULT_WINDOWS["DE"], EVERY_DAY]),
)
def test_next_open_is_the_first_open_instant(name: str, at_ms: int, window: CallingWindow) -> None:
    z, at = zone(name), at_ms / 1000
    nxt = window.next_open(z, at)
    assert nxt is not None and nxt >= at
    assert window.is_open(z, nxt)
    assert window.is_open(z, at) is (nxt == at)
    if nxt > at:
        assert not window.is_open(z, nxt - 0.001)
        t = at
        while t < nxt:  # nothing open in between (checked every 10 minutes)
            assert not window.is_open(z, t)
            t += 600
