"""The tracking runner: AMI events from the client into the call tracker, facts onto the bus.

Theory of operation
-------------------
One task reads one `AmiClient` subscription and, for each event in wire order, asks the pure
`CallTracker` what it means and publishes those facts, in order, before it reads the next event.
So every consumer of the bus sees the facts of one call in the order Asterisk reported them.

Rules
  1. `Reconnected` (the client's local event after a new login) means events were missed: take
     `tracker.resync_mark()`, list the channels with `CoreShowChannels`, and publish what
     `tracker.resync(items, ...)` reports (channels that vanished during the outage, new ones).
     Events that arrive while the list is being fetched wait in the subscription and are handled
     after it, which the mark makes safe.
  2. An event the tracker rejects (`RemoteProtocolError`) is logged and skipped: the tracker copes
     with a lost event, and one bad message must not stop call tracking.
  3. If the subscription overflows (this runner fell behind by the client's whole queue), events
     were lost: subscribe again and resync, as after a reconnect.
  4. A failed resync (the link dropped again) is logged; the next `Reconnected` retries it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from callcenter.errors import RemoteProtocolError
from pbx.ami import AmiMessage
from pbx.ami_client import RECONNECTED, AmiError, AmiSubscriberOverflow, AmiSubscription
from pbx.calls import CallTracker

logger = logging.getLogger(__name__)

Publish = Callable[[object], Awaitable[None]]


class EventSource(Protocol):
    """What the runner needs of `pbx.ami_client.AmiClient`."""

    def subscribe(self, maxsize: int = ...) -> AmiSubscription: ...

    async def send_list_action(self, name: str, **headers: Any) -> list[AmiMessage]: ...

    @property
    def is_connected(self) -> bool: ...


@dataclass(slots=True)
class TrackingStats:
    events: int = 0
    facts: int = 0
    rejected: int = 0
    resyncs: int = 0
    overflows: int = 0
    last_error: str = ""


class TrackingRunner:
    """Runs until cancelled: `task = asyncio.create_task(runner.run())`."""

    def __init__(
        self,
        client: EventSource,
        tracker: CallTracker,
        publish: Publish,
        *,
        clock: Callable[[], float] = time.time,
        queue_size: int = 10_000,
    ) -> None:
        self._client = client
        self._tracker = tracker
        self._publish = publish
        self._clock = clock
        self._queue_size = queue_size
        self.stats = TrackingStats()
        self.running = False

    async def run(self) -> None:
        self.running = True
        try:
            resync_first = False
            while True:
                subscription = self._client.subscribe(self._queue_size)
                try:
                    if resync_first:
                        await self.resync()
                    await self._consume(subscription)
                    return  # the client was closed
                except AmiSubscriberOverflow as exc:
                    self.stats.overflows += 1
                    self.stats.last_error = str(exc)
                    logger.error("tracking fell behind the AMI stream (%s); resubscribing and resyncing", exc)
                    resync_first = True
                finally:
                    subscription.close()
        finally:
            self.running = False

    async def _consume(self, subscription: AmiSubscription) -> None:
        async for message in subscription:
            self.stats.events += 1
            if message.name == RECONNECTED:
                await self.resync()
                continue
            try:
                facts = self._tracker.handle(message, now=self._clock())
            except RemoteProtocolError as exc:
                self.stats.rejected += 1
                self.stats.last_error = str(exc)
                logger.warning("AMI event skipped: %s", exc)
                continue
            for fact in facts:
                self.stats.facts += 1
                await self._publish(fact)

    async def resync(self) -> None:
        """Reconcile the tracker with Asterisk's channel list (rule 1)."""
        mark = self._tracker.resync_mark()
        try:
            items = await self._client.send_list_action("CoreShowChannels")
        except AmiError as exc:
            self.stats.last_error = str(exc)
            logger.warning("resync after reconnect failed (%s); waiting for the next reconnect", exc)
            return
        facts = self._tracker.resync(items, now=self._clock(), mark=mark)
        self.stats.resyncs += 1
        logger.info("resynced with %d live channels: %d facts", len(items), len(facts))
        for fact in facts:
            self.stats.facts += 1
            await self._publish(fact)

    def status(self) -> dict[str, Any]:
        s = self.stats
        return {
            "ok": self.running and self._client.is_connected,
            "connected": self._client.is_connected,
            "calls": len(self._tracker.calls),
            "events": s.events,
            "facts": s.facts,
            "rejected": s.rejected,
            "resyncs": s.resyncs,
            "overflows": s.overflows,
            "last_error": s.last_error,
        }

