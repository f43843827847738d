"""The ACD runner: the only asynchronous part of the ACD.

Theory of operation
-------------------
One `asyncio.Queue` and one consumer task, so the core sees events in arrival order. Producers
(the call tracker's facts from the bus, the IVR's `CallQueued`, the agent desktop's
`AgentReady`...) call `submit`. For each event the runner

1. translates what the PBX said into what the ACD understands: a `DialEnded` for a call the ACD
   is offering becomes `CallAnswered` (status ANSWER) or `OfferNotAnswered` (NOANSWER, BUSY,
   CHANUNAVAIL, CONGESTION); other dials (the fallback's, a transfer's) are not the ACD's business;
2. calls `engine.handle(event, now=clock())`;
3. carries out what comes back, in order: `StartTimer`/`CancelTimer` become `loop.call_later`
   handles whose expiry is submitted as `TimerExpired`; `OfferCall` and `SendToFallback` go to the
   PBX command port (Setvar + Redirect to `[acd-connect]` / `[acd-fallback]`); everything else
   (facts, `Announce`, `OfferCallback`) is published for the other rooms. `CallQueued` and
   `RoutingDecided` are appended to the decision log.

Rule 1: the runner decides nothing; a command that fails is logged and the core's own guards (the
offer timer, the dialplan's wait timeout) keep every caller moving.
Rule 2: an event the core refuses (`CallCtlError`, e.g. an illegal agent transition from a stale
desktop click) is logged and dropped; it changed nothing (the core checks before it changes).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from acd.decision import DecisionLog
from acd.engine import RINGING, AcdEngine
from callcenter.errors import CallCtlError
from callcenter.events import (
    AgentLoggedIn,
    AgentLoggedOut,
    AgentNotReady,
    AgentOutboundStarted,
    AgentProfileUpdated,
    AgentReady,
    AgentStateChanged,
    CallAbandoned,
    CallAnswered,
    CallEnded,
    CallPriorityChanged,
    CallQueued,
    CancelTimer,
    DialEnded,
    DialStatus,
    OfferCall,
    OfferNotAnswered,
    RoutingDecided,
    SendToFallback,
    StartTimer,
    TimerExpired,
    TimerId,
    WrapUpEnded,
)

logger = logging.getLogger(__name__)

Publish = Callable[[object], Awaitable[None]]

# What the runner wants from the bus (`EventBus.subscribe(..., accepts=is_acd_input)`).
ACD_INPUTS: tuple[type[Any], ...] = (
    CallQueued,
    CallPriorityChanged,
    CallAbandoned,
    CallEnded,
    DialEnded,
    AgentLoggedIn,
    AgentLoggedOut,
    AgentReady,
    AgentNotReady,
    WrapUpEnded,
    AgentProfileUpdated,
    AgentOutboundStarted,
)
_NOT_ANSWERED = {DialStatus.NOANSWER, DialStatus.BUSY, DialStatus.CHANUNAVAIL, DialStatus.CONGESTION}


def is_acd_input(msg: object) -> bool:
    return isinstance(msg, ACD_INPUTS)


class CommandExecutor(Protocol):
    """What the runner needs of `pbx.commands.PbxCommandPort`."""

    async def execute(self, command: Any) -> Any: ...


class AcdRunner:
    """Runs until cancelled: `task = asyncio.create_task(runner.run())`."""

    def __init__(
        self,
        engine: AcdEngine,
        port: CommandExecutor,
        *,
        publish: Publish | None = None,
        decisions: DecisionLog | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self._port = port
        self._publish = publish
        self._decisions = decisions
        self._clock = clock
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self._timers: dict[TimerId, asyncio.TimerHandle] = {}
        self.handled = 0
        self.refused = 0
        self.failed_commands = 0

    def submit(self, event: object) -> None:
        """Queue an event for the core (any thread-free producer, in the loop's thread)."""
        self._queue.put_nowait(event)

    async def publish_sink(self, msg: object) -> None:
        """A `publish` callable for producers that want to hand the runner their facts."""
        if is_acd_input(msg):
            self.submit(msg)

    async def run(self) -> None:
        try:
            while True:
                event = await self._queue.get()
                for translated in self._translate(event):
                    await self._handle(translated)
        finally:
            for handle in self._timers.values():
                handle.cancel()
            self._timers.clear()

    def _translate(self, event: object) -> list[object]:
        if isinstance(event, DialEnded):
            call = self.engine.calls.get(event.call_id)
            if call is None or call.state != RINGING or call.agent_id is None:
                return []
            if event.status is DialStatus.ANSWER:
                return [CallAnswered(call_id=call.id, agent_id=call.agent_id, at=event.at)]
            if event.status in _NOT_ANSWERED:
                return [OfferNotAnswered(call_id=call.id, agent_id=call.agent_id, reason=event.status.value.lower(), at=event.at)]
            return []  # CANCEL: the caller hung up; CallEnded follows
        return [event]

    async def _handle(self, event: object) -> None:
        now = self._clock()
        try:
            out = self.engine.handle(event, now=now)
        except CallCtlError as exc:
            self.refused += 1
            logger.warning("ACD refused %s: %s", type(event).__name__, exc)
            return
        self.handled += 1
        if isinstance(event, CallQueued) and self._decisions is not None:
            self._decisions.append(event)
        for msg in out:
            await self._carry_out(msg)

    async def _carry_out(self, msg: object) -> None:
        if isinstance(msg, StartTimer):
            old = self._timers.pop(msg.timer_id, None)
            if old is not None:
                old.cancel()
            loop = asyncio.get_running_loop()
            self._timers[msg.timer_id] = loop.call_later(msg.delay_s, self._expire, msg.timer_id)
            return
        if isinstance(msg, CancelTimer):
            handle = self._timers.pop(msg.timer_id, None)
            if handle is not None:
                handle.cancel()
            return
        if isinstance(msg, OfferCall | SendToFallback):
            try:
                await self._port.execute(msg)
                logger.info("call %s: %s executed", msg.call_id, type(msg).__name__)
            except Exception:  # the port's errors are many (unknown channel, AMI down); none may stop us
                self.failed_commands += 1
                logger.exception("call %s: %s failed", msg.call_id, type(msg).__name__)
            return
        if isinstance(msg, AgentStateChanged):
            logger.info("agent %s: %s -> %s %s", msg.agent_id, msg.old.name, msg.new.name, msg.reason)
        elif isinstance(msg, RoutingDecided):
            logger.info("call %s: offered to %s (%s, %s)", msg.call_id, msg.agent_id, msg.decision_id, msg.trigger)
            if self._decisions is not None:
                self._decisions.append(msg)
        if self._publish is not None:
            await self._publish(msg)

    def _expire(self, timer_id: TimerId) -> None:
        if self._timers.pop(timer_id, None) is not None:
            self.submit(TimerExpired(timer_id=timer_id, at=self._clock()))
