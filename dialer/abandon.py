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
* Rule 3 (headroom): a rolling window's rate can climb with no new abandon, when answers leave
  it faster than they come (after a busy hour, or while the pacer has fallen back to slower
  reserved dialing). The pacer's budget therefore also requires each rolling window to hold the
  limit once the oldest `headroom` share of its span has slid out with no new answer.
* The ledger is mutable state but pure: no clock (every call passes `now`), no I/O. Rolling windows
  keep their answers' times (bisected, trimmed as they slide out); the calendar-day window resets
  when the local date changes.
"""

from __future__ import annotations

import bisect
import math
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
    """One window's counts. Rolling windows keep every answer's time and a running count of
    abandons, so the counts inside any later cut-off are two bisections away."""

    def __init__(self, window: AbandonWindow) -> None:
        self.window = window
        self.answers = 0  # calendar-day windows
        self.abandons = 0
        self.day: date | None = None
        self.times: list[float] = []  # rolling windows: answer times, oldest first
        self.abandoned_upto: list[int] = [0]  # abandons among times[:i]
        self.head = 0  # times[:head] have slid out

    def add(self, at: float, abandoned: bool) -> None:
        if self.window.kind == "calendar-day":
            day = datetime.fromtimestamp(at, zone(self.window.time_zone)).date()
            if day != self.day:
                self.day, self.answers, self.abandons = day, 0, 0
            self.answers += 1
            self.abandons += abandoned
            return
        self.times.append(at)
        self.abandoned_upto.append(self.abandoned_upto[-1] + abandoned)

    def rate(self, now: float, *, ahead_s: float = 0.0) -> WindowRate:
        """The window's counts at `now`, or, with `ahead_s`, what will be left of them by
        `now + ahead_s` if no answer comes meanwhile."""
        w = self.window
        if w.kind == "calendar-day":
            if self.day != datetime.fromtimestamp(now, zone(w.time_zone)).date():
                return WindowRate(w.name, 0, 0)
            return WindowRate(w.name, self.answers, self.abandons)
        self.head = bisect.bisect_right(self.times, now - w.span_s, lo=self.head)
        if self.head > 4096 and self.head * 2 > len(self.times):
            del self.times[: self.head]
            del self.abandoned_upto[: self.head]
            self.head = 0
        first = bisect.bisect_right(self.times, now + ahead_s - w.span_s, lo=self.head) if ahead_s else self.head
        return WindowRate(w.name, len(self.times) - first, self.abandoned_upto[-1] - self.abandoned_upto[first])


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

    def budget(self, now: float, *, headroom: float = 0.0) -> float:
        """How many more abandons the tightest window can absorb (may be negative).

        With `headroom`, a rolling window must also absorb them once the oldest `headroom`
        share of its span has slid out with no new answer: its rate can climb without a new
        abandon when answers come slower than they leave (Rule 3).
        """
        worst = math.inf
        for c in self._counters:
            r = c.rate(now)
            worst = min(worst, self.limit * r.answers - r.abandons)
            if headroom and c.window.kind == "rolling":
                r = c.rate(now, ahead_s=headroom * c.window.span_s)
                worst = min(worst, self.limit * r.answers - r.abandons)
        return worst

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
