"""Calling windows: when a callee may be called, in the callee's own local time.

Theory of operation
-------------------
* A `CallingWindow` is a rule set for one country: the weekdays calls are allowed, the local hours
  (`start` inclusive, `end` exclusive) and the holidays (no calls all day). Holidays are written
  as `YYYY-MM-DD` (one day), `MM-DD` (every year) or `4th thu of nov` / `last mon of may`
  (floating, every year).
* Everything is evaluated in the callee's zone with `zoneinfo`: a UTC instant is turned into the
  local wall clock, so a DST change moves the UTC hours of the window and never the local ones.
  Local start times are turned back into instants with `datetime.timestamp()`, which applies the
  zone's offset for that date (a start inside a spring-forward gap is read with the offset in
  force before the change, so 02:30 on that night opens at 03:30).
* A contact whose zone is uncertain (a US number with an unknown area code) carries every zone it
  could be in; it may be called only when the window is open in all of them.
* Pure: no clock, no I/O; times are seconds since the epoch passed in by the caller.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from callcenter.errors import ConfigError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_MONTHS = tuple(m.lower() for m in calendar.month_abbr[1:])
_ORDINALS = {"1st": 1, "2nd": 2, "3rd": 3, "4th": 4, "5th": 5, "last": -1}
_FLOATING = re.compile(r"^(1st|2nd|3rd|4th|5th|last) (mon|tue|wed|thu|fri|sat|sun) of ([a-z]{3})$")
# How far ahead `next_open` looks before it calls a window permanently closed.
_SEARCH_DAYS = 400


@dataclass(frozen=True, slots=True)
class Holiday:
    """One holiday rule: a fixed date, an annual date, or the nth (or last) weekday of a month."""

    month: int
    day: int = 0  # day of month for fixed and annual rules
    year: int = 0  # 0: every year
    weekday: int = -1  # 0=Monday for floating rules
    nth: int = 0  # 1..5 or -1 (last) for floating rules

    @classmethod
    def parse(cls, text: str) -> Holiday:
        spec = text.strip().lower()
        if m := _FLOATING.match(spec):
            if m.group(3) not in _MONTHS:
                raise ConfigError(f"holiday {text!r}: unknown month {m.group(3)!r}")
            return cls(month=_MONTHS.index(m.group(3)) + 1, weekday=WEEKDAYS.index(m.group(2)), nth=_ORDINALS[m.group(1)])
        try:
            if len(spec) == 10:
                d = date.fromisoformat(spec)
                return cls(month=d.month, day=d.day, year=d.year)
            if len(spec) == 5 and spec[2] == "-":
                month, day = int(spec[:2]), int(spec[3:])
                date(2000, month, day)  # 2000 is a leap year, so 02-29 is accepted
                return cls(month=month, day=day)
        except ValueError:
            pass
        raise ConfigError(f"holiday {text!r}: expected YYYY-MM-DD, MM-DD or e.g. '4th thu of nov'")

    def falls_on(self, d: date) -> bool:
        if d.month != self.month or (self.year and d.year != self.year):
            return False
        if self.nth == 0:
            return d.day == self.day
        if d.weekday() != self.weekday:
            return False
        if self.nth > 0:
            return (d.day - 1) // 7 + 1 == self.nth
        return d.day + 7 > calendar.monthrange(d.year, d.month)[1]


@dataclass(frozen=True, slots=True)
class CallingWindow:
    """Local weekdays and hours when calls are allowed, and the days they are not."""

    weekdays: frozenset[int]
    start: time
    end: time
    holidays: tuple[Holiday, ...] = ()

    def is_holiday(self, d: date) -> bool:
        return any(h.falls_on(d) for h in self.holidays)

    def is_open(self, zone: ZoneInfo, at: float) -> bool:
        local = datetime.fromtimestamp(at, zone)
        return self._is_open_local(local)

    def _is_open_local(self, local: datetime) -> bool:
        return (
            local.weekday() in self.weekdays
            and self.start <= local.time().replace(tzinfo=None) < self.end
            and not self.is_holiday(local.date())
        )

    def next_open(self, zone: ZoneInfo, at: float) -> float | None:
        """The first instant >= `at` when the window is open in `zone`; None if never (in a year)."""
        local = datetime.fromtimestamp(at, zone)
        if self._is_open_local(local):
            return at
        day = local.date()
        for _ in range(_SEARCH_DAYS):
            if day.weekday() in self.weekdays and not self.is_holiday(day):
                opens = datetime.combine(day, self.start, tzinfo=zone).timestamp()
                closes = datetime.combine(day, self.end, tzinfo=zone).timestamp()
                candidate = max(opens, at)
                if candidate < closes:
                    return candidate
            day += timedelta(days=1)
        return None


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def next_open_everywhere(window: CallingWindow, zones: Sequence[str], at: float) -> float | None:
    """The first instant >= `at` when the window is open in every one of `zones`.

    Each round moves to the latest of the zones' next openings; it stops when they agree. Zones
    whose windows never overlap (Honolulu and New York with short hours) give None.
    """
    t = at
    for _ in range(64):
        opens: list[float] = []
        for name in zones:
            nxt = window.next_open(zone(name), t)
            if nxt is None:
                return None
            opens.append(nxt)
        latest = max(opens)
        if latest == t:
            return t
        t = latest
    return None


def parse_window(spec: Mapping[str, object], where: str) -> CallingWindow:
    """A window from config: `{weekdays: mon-fri, hours: "09:00-20:00", holidays: [...]}`."""
    known = {"weekdays", "hours", "holidays"}
    for key in spec:
        if key not in known:
            raise ConfigError(f"{where}: unknown key {key!r}; expected one of {', '.join(sorted(known))}")
    weekdays = _parse_weekdays(str(spec.get("weekdays", "mon-sun")), f"{where}.weekdays")
    start, end = _parse_hours(str(spec.get("hours", "00:00-24:00")), f"{where}.hours")
    raw_holidays = spec.get("holidays", ())
    if not isinstance(raw_holidays, list | tuple):
        raise ConfigError(f"{where}.holidays: expected a list")
    holidays = []
    for i, item in enumerate(raw_holidays):
        try:
            holidays.append(Holiday.parse(str(item)))
        except ConfigError as exc:
            raise ConfigError(f"{where}.holidays[{i}]: {exc}") from None
    return CallingWindow(weekdays=weekdays, start=start, end=end, holidays=tuple(holidays))


def _parse_weekdays(text: str, where: str) -> frozenset[int]:
    days: set[int] = set()
    for part in text.lower().replace(" ", "").split(","):
        first, _, last = part.partition("-")
        if first not in WEEKDAYS or (last and last not in WEEKDAYS):
            raise ConfigError(f"{where}: {text!r} is not a list of days like 'mon-fri,sun'")
        a, b = WEEKDAYS.index(first), WEEKDAYS.index(last or first)
        days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(b + 1)])
    return frozenset(days)


def _parse_hours(text: str, where: str) -> tuple[time, time]:
    m = re.fullmatch(r"(\d\d):(\d\d)-(\d\d):(\d\d)", text.strip())
    if not m:
        raise ConfigError(f"{where}: {text!r} is not like '09:00-20:00'")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2):
        raise ConfigError(f"{where}: {text!r} is not a valid time range")
    end = time.max if h2 == 24 else time(h2, m2)
    start = time(h1, m1)
    if start >= end:
        raise ConfigError(f"{where}: {text!r} ends before it starts")
    return start, end


# Conservative operating defaults per country (not legal advice; campaigns override them).
# US: TCPA allows 08:00-21:00 local; Sundays and federal holidays are avoided by practice.
_US_HOLIDAYS = ("01-01", "last mon of may", "07-04", "1st mon of sep", "4th thu of nov", "12-25")
DEFAULT_WINDOWS: dict[str, CallingWindow] = {
    "US": parse_window({"weekdays": "mon-sat", "hours": "08:00-21:00", "holidays": list(_US_HOLIDAYS)}, "US"),
    "CA": parse_window({"weekdays": "mon-sat", "hours": "09:00-21:30", "holidays": ["01-01", "07-01", "12-25"]}, "CA"),
    "DE": parse_window(
        {"weekdays": "mon-fri", "hours": "09:00-20:00", "holidays": ["01-01", "05-01", "10-03", "12-25", "12-26"]}, "DE"
    ),
    "GB": parse_window({"weekdays": "mon-sat", "hours": "08:00-21:00", "holidays": ["01-01", "12-25", "12-26"]}, "GB"),
    "CN": parse_window({"weekdays": "mon-sun", "hours": "09:00-20:00", "holidays": ["01-01", "10-01"]}, "CN"),
    "*": parse_window({"weekdays": "mon-fri", "hours": "09:00-20:00"}, "*"),
}
