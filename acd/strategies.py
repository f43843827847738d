"""Agent selection strategies: each turns a ready, eligible agent into a sort key; smallest wins.

Theory of operation
-------------------
A strategy only ever ranks agents that can already take the call (right queue, skills, levels,
READY). Ties on the key are broken by agent id, so a decision never depends on set order.
Pure: the time (`now`), the round-robin distance and the random draw come in as arguments; the
engine computes them (the draw from its injected `random.Random`), so a key is a plain function.
"""

from __future__ import annotations

from collections.abc import Callable

from acd.config import Strategy
from acd.state import AgentRecord
from callcenter.events import SkillRequirement

# (agent, requirements, now, round-robin distance, random draw) -> key
KeyFn = Callable[[AgentRecord, tuple[SkillRequirement, ...], float, int, float], tuple[float, ...]]


def _longest_idle(a: AgentRecord, reqs: tuple[SkillRequirement, ...], now: float, rr: int, draw: float) -> tuple[float, ...]:
    return (a.idle_since,)


def _most_skilled(a: AgentRecord, reqs: tuple[SkillRequirement, ...], now: float, rr: int, draw: float) -> tuple[float, ...]:
    # With no requirements "most skilled" means the broadest agent.
    total = sum(a.skills.get(r.skill, 0) for r in reqs) if reqs else sum(a.skills.values())
    return (-float(total), a.idle_since)


def _least_occupied(a: AgentRecord, reqs: tuple[SkillRequirement, ...], now: float, rr: int, draw: float) -> tuple[float, ...]:
    return (round(a.occupancy(now), 6), a.idle_since)


def _fewest_calls(a: AgentRecord, reqs: tuple[SkillRequirement, ...], now: float, rr: int, draw: float) -> tuple[float, ...]:
    return (float(a.calls_handled), a.idle_since)


def _round_robin(a: AgentRecord, reqs: tuple[SkillRequirement, ...], now: float, rr: int, draw: float) -> tuple[float, ...]:
    return (float(rr),)


def _random(a: AgentRecord, reqs: tuple[SkillRequirement, ...], now: float, rr: int, draw: float) -> tuple[float, ...]:
    return (draw,)


STRATEGY_KEYS: dict[Strategy, KeyFn] = {
    Strategy.LONGEST_IDLE: _longest_idle,
    Strategy.MOST_SKILLED: _most_skilled,
    Strategy.LEAST_OCCUPIED: _least_occupied,
    Strategy.FEWEST_CALLS: _fewest_calls,
    Strategy.ROUND_ROBIN: _round_robin,
    Strategy.RANDOM: _random,
}
