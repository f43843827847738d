"""Live counters per queue and per priority class, kept by the engine as calls move.

Theory of operation
-------------------
Only acd/engine.py writes the counters (`answer`, `leave`, and the handled totals at wrap-up);
everything else reads them. Pure: waits and times come in as numbers, nothing here reads a clock.

Definitions (the same in the simulator's report and on the wallboard):
* offered: calls that entered the queue (overflow-in included); answered, abandoned (caller hung
  up while waiting or ringing), overflowed (left for another queue), fallback, callback.
* service level: calls answered within the queue's T seconds / calls offered that have ended in
  this queue (answered + abandoned + overflowed + fallback + callback). Abandons count against it.
* ASA: mean wait of answered calls, measured from the first entry into the ACD.
* AHT: mean talk time + wrap-up of handled calls.
* abandon rate: abandoned / ended.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Counters:
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    overflowed: int = 0
    fallback: int = 0
    callback: int = 0
    answered_within_sl: int = 0
    wait_answered_s: float = 0.0
    wait_ended_s: float = 0.0  # answered and unanswered alike
    max_wait_s: float = 0.0
    handled: int = 0
    handle_s: float = 0.0

    @property
    def ended(self) -> int:
        return self.answered + self.abandoned + self.overflowed + self.fallback + self.callback

    @property
    def service_level(self) -> float | None:
        return self.answered_within_sl / self.ended if self.ended else None

    @property
    def asa_s(self) -> float | None:
        return self.wait_answered_s / self.answered if self.answered else None

    @property
    def avg_wait_s(self) -> float | None:
        return self.wait_ended_s / self.ended if self.ended else None

    @property
    def aht_s(self) -> float | None:
        return self.handle_s / self.handled if self.handled else None

    @property
    def abandon_rate(self) -> float | None:
        return self.abandoned / self.ended if self.ended else None

    def answer(self, wait_s: float, service_level_s: float) -> None:
        self.answered += 1
        self.wait_answered_s += wait_s
        self.wait_ended_s += wait_s
        self.max_wait_s = max(self.max_wait_s, wait_s)
        if wait_s <= service_level_s:
            self.answered_within_sl += 1

    def leave(self, outcome: str, wait_s: float) -> None:
        """A call ended in this queue without an answer: abandoned, overflowed, fallback, callback."""
        setattr(self, outcome, getattr(self, outcome) + 1)
        self.wait_ended_s += wait_s
        self.max_wait_s = max(self.max_wait_s, wait_s)


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveStats:
    """A live snapshot of one queue or one priority class (wallboards, rules, announcements).
    The agent fields are None for a class: agents belong to queues."""

    name: str
    waiting: int
    longest_wait_s: float
    ready_agents: int | None
    staffed_agents: int | None
    offered: int
    answered: int
    abandoned: int
    service_level: float | None
    asa_s: float | None
    aht_s: float | None
    abandon_rate: float | None
    occupancy: float | None  # busy time / logged-in time of the queue's logged-in agents


class Metrics:
    """Counters by queue and by priority class."""

    def __init__(self) -> None:
        self.queues: dict[str, Counters] = {}
        self.classes: dict[str, Counters] = {}

    def queue(self, name: str) -> Counters:
        c = self.queues.get(name)
        if c is None:
            c = self.queues[name] = Counters()
        return c

    def klass(self, name: str) -> Counters:
        c = self.classes.get(name)
        if c is None:
            c = self.classes[name] = Counters()
        return c
