"""Small builders for ACD tests: a config, agents, requests, and a driver that plays timers."""

from __future__ import annotations

import random
from typing import Any

from acd.config import AcdConfig, AgentProfile, MaxWaitAction, PriorityClass, QueueConfig, Strategy
from acd.engine import AcdEngine
from callcenter import events as ev

Q = ev.QueueName


def config(
    *queues: tuple[str, Strategy] | str,
    wrap_up_s: float = 0.0,
    on_max_wait: MaxWaitAction = MaxWaitAction.FALLBACK,
    **kw: Any,
) -> AcdConfig:
    qs: dict[ev.QueueName, QueueConfig] = {}
    for q in queues or ("billing",):
        name, strategy = (q, Strategy.LONGEST_IDLE) if isinstance(q, str) else q
        qs[Q(name)] = QueueConfig(name=Q(name), strategy=strategy, wrap_up_s=wrap_up_s, on_max_wait=on_max_wait)
    classes = {
        "standard": PriorityClass(name="standard"),
        "gold": PriorityClass(name="gold", head_start_s=30),
        "vip": PriorityClass(name="vip", head_start_s=60),
    }
    return AcdConfig(queues=qs, classes=classes, **kw)


def agent(agent_id: str, skills: dict[str, int] | None = None, queues: tuple[str, ...] = ("billing",), **kw: Any) -> AgentProfile:
    skill_map = {"billing": 3} if skills is None else skills
    return AgentProfile(
        agent_id=ev.AgentId(agent_id),
        skills=tuple(ev.AgentSkill(skill=s, level=lvl) for s, lvl in skill_map.items()),
        queues=tuple(Q(q) for q in queues),
        interface=f"PJSIP/{agent_id}",
        **kw,
    )


def request(queue: str = "billing", skills: dict[str, int] | None = None, **kw: Any) -> ev.RoutingRequest:
    skill_map = {"billing": 1} if skills is None else skills
    return ev.RoutingRequest(
        queue=Q(queue),
        skills=tuple(ev.SkillRequirement(skill=s, min_level=lvl) for s, lvl in skill_map.items()),
        **kw,
    )


class Driver:
    """Feeds an engine and keeps its timers, firing them when time moves past them."""

    def __init__(self, engine: AcdEngine) -> None:
        self.engine = engine
        self.now = 0.0
        self.timers: dict[ev.TimerId, float] = {}
        self.log: list[tuple[float, object]] = []

    def _apply(self, out: list[object]) -> list[object]:
        for msg in out:
            self.log.append((self.now, msg))
            if isinstance(msg, ev.StartTimer):
                self.timers[msg.timer_id] = self.now + msg.delay_s
            elif isinstance(msg, ev.CancelTimer):
                self.timers.pop(msg.timer_id, None)
        return out

    def at(self, t: float, event: object | None = None) -> list[object]:
        """Advance to `t` (firing due timers in order), then feed `event`; return all output."""
        out: list[object] = []
        while True:
            due = sorted((when, tid) for tid, when in self.timers.items() if when <= t)
            if not due:
                break
            when, tid = due[0]
            del self.timers[tid]
            self.now = when
            out += self._apply(self.engine.handle(ev.TimerExpired(timer_id=tid, at=when), now=when))
        self.now = t
        if event is not None:
            out += self._apply(self.engine.handle(event, now=t))
        return out

    def login_ready(self, t: float, *agent_ids: str) -> None:
        for a in agent_ids:
            self.at(t, ev.AgentLoggedIn(agent_id=ev.AgentId(a), interface=f"PJSIP/{a}", at=t))
            self.at(t, ev.AgentReady(agent_id=ev.AgentId(a), at=t))

    def queue(self, t: float, call_id: str, req: ev.RoutingRequest | None = None) -> list[object]:
        return self.at(t, ev.CallQueued(call_id=ev.CallId(call_id), request=req or request(), at=t))


def offers(out: list[object]) -> list[tuple[str, str]]:
    return [(m.call_id, m.agent_id) for m in out if isinstance(m, ev.OfferCall)]


def decisions(out: list[object]) -> list[ev.RoutingDecided]:
    return [m for m in out if isinstance(m, ev.RoutingDecided)]


def engine(*profiles: AgentProfile, cfg: AcdConfig | None = None, seed: int = 0) -> AcdEngine:
    return AcdEngine(cfg or config(), agents=profiles, rng=random.Random(seed))
