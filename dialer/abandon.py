"""The abandon-rate ledger: live answers and abandons of one campaign, counted in every window.

Theory of operation
-------------------
* An abandon is a live (human) answer that no agent took within the 2-second rule; it hears the
  identification message. The abandon rate of a window is abandons / live answers in it.
* A campaign is measured in several windows at once (`AbandonWindow`): by default the rolling 30
  days (the FTC TSR's measure), the calendar day in the campaign's zone (Ofcom's 24 hours) and a
  short rolling "live" window that acts as a brake. The limit (default 3%) holds in each of them.
* Rule 1 (the budget): the pacer may risk an abandon only while every window could absorb one
  more: `abandons + 1 <= limit * answers`. `budget()` is the smallest `limit * answers -
  abandons` over the windows; `can_risk_abandon()` is `budget() >= 1`. Dials backed by a reserved
  agent cannot abandon and are always allowed.
* The ledger is mutable state but pure: no clock (every call passes `now`), no I/O. Rolling windows
  keep their own deque of answers and drop what has slid out; the calendar-day window resets when
  the local date changes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal
from zoneinfo import ZoneInfoNotFoundError

from callcenter.errors import ConfigError
from dialer.windows import zone

DAY_S = 86_400.0


@dataclass(frozen=True, slots=True)
class AbandonWindow:
    name: str
    kind: Literal["rolling", "calendar-day"]
    span_s: float = 0.0  # rolling windows only
    time_zone: str = "UTC"  # calendar-day windows only


DEFAULT_WINDOWS = (
    AbandonWindow("rolling-30d", "rolling", span_s=30 * DAY_S),
    AbandonWindow("calendar-day", "calendar-day"),
    AbandonWindow("live-1h", "rolling", span_s=3600.0),
)


@dataclass(frozen=True, slots=True)
class WindowRate:
    name: str
    answers: int
    abandons: int

    @property
    def rate(self) -> float:
        return self.abandons / self.answers if self.answers else 0.0


class _Counter:
    def __init__(self, window: AbandonWindow) -> None:
        self.window = window
        self.answers = 0
        self.abandons = 0
        self.events: deque[tuple[float, bool]] = deque()
        self.day: date | None = None

    def add(self, at: float, abandoned: bool) -> None:
        if self.window.kind == "calendar-day":
            day = datetime.fromtimestamp(at, zone(self.window.time_zone)).date()
            if day != self.day:
                self.day, self.answers, self.abandons = day, 0, 0
        else:
            self.events.append((at, abandoned))
        self.answers += 1
        self.abandons += abandoned

    def rate(self, now: float) -> WindowRate:
        w = self.window
        if w.kind == "calendar-day":
            if self.day != datetime.fromtimestamp(now, zone(w.time_zone)).date():
                return WindowRate(w.name, 0, 0)
        else:
            while self.events and self.events[0][0] <= now - w.span_s:
                _, abandoned = self.events.popleft()
                self.answers -= 1
                self.abandons -= abandoned
        return WindowRate(w.name, self.answers, self.abandons)


class AbandonLedger:
    """Live answers and abandons of one campaign in each configured window."""

    def __init__(self, windows: Sequence[AbandonWindow] = DEFAULT_WINDOWS, *, limit: float = 0.03) -> None:
        if not 0.0 <= limit < 1.0:
            raise ConfigError(f"abandon limit {limit!r} must be a fraction between 0 and 1")
        if not windows:
            raise ConfigError("at least one abandon window is required")
        self.limit = limit
        self._counters = [_Counter(w) for w in windows]

    @property
    def windows(self) -> tuple[AbandonWindow, ...]:
        return tuple(c.window for c in self._counters)

    def record(self, at: float, *, abandoned: bool) -> None:
        """One live answer at `at`; `abandoned` if no agent took it within the 2-second rule."""
        for c in self._counters:
            c.add(at, abandoned)

    def rates(self, now: float) -> tuple[WindowRate, ...]:
        return tuple(c.rate(now) for c in self._counters)

    def budget(self, now: float) -> float:
        """How many more abandons the tightest window can absorb right now (may be negative)."""
        return min(self.limit * r.answers - r.abandons for r in self.rates(now))

    def can_risk_abandon(self, now: float) -> bool:
        return can_risk_abandon(self.rates(now), self.limit)


def can_risk_abandon(rates: Iterable[WindowRate], limit: float) -> bool:
    """Rule 1: every window can absorb one more abandon within `limit` (no windows: no risk)."""
    listed = list(rates)
    return bool(listed) and all(r.abandons + 1 <= limit * r.answers for r in listed)


def parse_windows(spec: Sequence[Mapping[str, object]], where: str) -> tuple[AbandonWindow, ...]:
    """Windows from config: `[{name: live, kind: rolling, span_s: 900}, {name: day, kind: calendar-day}]`."""
    out: list[AbandonWindow] = []
    for i, item in enumerate(spec):
        at = f"{where}[{i}]"
        if not isinstance(item, Mapping):
            raise ConfigError(f"{at}: expected a mapping with name and kind")
        kind = item.get("kind")
        name = str(item.get("name", ""))
        if not name:
            raise ConfigError(f"{at}.name: missing")
        if kind == "rolling":
            span = item.get("span_s")
            if not isinstance(span, int | float) or isinstance(span, bool) or span <= 0:
                raise ConfigError(f"{at}.span_s: {span!r} is not a positive number of seconds")
            out.append(AbandonWindow(name, "rolling", span_s=float(span)))
        elif kind == "calendar-day":
            tz = str(item.get("time_zone", "UTC"))
            try:
                zone(tz)
            except (ZoneInfoNotFoundError, ValueError):
                raise ConfigError(f"{at}.time_zone: {tz!r} is not a known time zone") from None
            out.append(AbandonWindow(name, "calendar-day", time_zone=tz))
        else:
            raise ConfigError(f"{at}.kind: {kind!r}; expected rolling or calendar-day")
    return tuple(out)
