"""Plain-value configuration of the ACD core: queues, priority classes, agent profiles.

The routing rules file declares queues and classes (so a rule naming an unknown queue is caught at
load); `routing_rules.loader` turns them into these values. The core never sees `Settings`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from callcenter.errors import CallCtlError
from callcenter.events import AgentId, AgentSkill, QueueName, SkillRequirement


class Strategy(enum.StrEnum):
    """How a queue picks among several ready agents that can all take a call."""

    LONGEST_IDLE = "longest-idle"
    MOST_SKILLED = "most-skilled"
    LEAST_OCCUPIED = "least-occupied"
    FEWEST_CALLS = "fewest-calls"
    ROUND_ROBIN = "round-robin"
    RANDOM = "random"


class MaxWaitAction(enum.StrEnum):
    FALLBACK = "fallback"  # the dialplan's safe fallback (voicemail, an overflow number)
    CALLBACK = "callback"  # offer the caller a callback; the call leaves the queue


class AcdError(CallCtlError):
    """The ACD was asked for something its configuration does not allow."""


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueConfig:
    name: QueueName
    strategy: Strategy = Strategy.LONGEST_IDLE
    # Requirements for calls that overflow into this queue, or whose request names no skills.
    skills: tuple[SkillRequirement, ...] = ()
    wrap_up_s: float = 10.0
    service_level_s: float = 20.0
    ring_timeout_s: float = 15.0
    on_max_wait: MaxWaitAction = MaxWaitAction.FALLBACK


@dataclass(frozen=True, slots=True, kw_only=True)
class PriorityClass:
    """A caller class. `head_start_s` is counted as extra waiting time when calls are ranked, so a
    class with a head start of 60 s over another passes over a call of that class only if it
    arrived less than 60 s after it: the aging cap."""

    name: str
    head_start_s: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentProfile:
    agent_id: AgentId
    skills: tuple[AgentSkill, ...] = ()
    queues: tuple[QueueName, ...] = ()
    max_calls: int | None = None
    interface: str = ""  # what Dial() rings; AgentLoggedIn overrides it


@dataclass(frozen=True, slots=True, kw_only=True)
class AcdConfig:
    queues: dict[QueueName, QueueConfig]
    classes: dict[str, PriorityClass] = field(
        default_factory=lambda: {"standard": PriorityClass(name="standard")}
    )
    pause_reasons: tuple[str, ...] = ()  # empty: any reason is accepted
    explain_limit: int = 5  # candidates and exclusions listed per decision record (counts cover all)
    offer_guard_s: float = 5.0  # after the ring timeout, the ACD assumes the offer was not answered
    default_aht_s: float = 180.0  # prior for wait estimates until calls have been handled

    def head_start(self, priority_class: str, priority: int) -> float:
        """The one ranking rule's per-call constant: class head start plus `priority` seconds."""
        cls = self.classes.get(priority_class)
        return (cls.head_start_s if cls else 0.0) + priority
