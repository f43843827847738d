"""The in-process event bus: one publisher side, many ordered subscribers.

Each subscriber has its own bounded `asyncio.Queue` and reads in publication order. When a
subscriber falls behind, its policy decides: `"block"` makes `publish` wait (back-pressure, for
consumers that must see everything, such as the CRM outbox) and `"drop-oldest"` discards the oldest
queued message and counts it (for consumers where the newest state matters, such as a wallboard).
A slow subscriber with `"drop-oldest"` never slows the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

logger = logging.getLogger(__name__)

Policy = Literal["block", "drop-oldest"]


@dataclass(eq=False)
class Subscription:
    name: str
    queue: asyncio.Queue[Any]
    policy: Policy
    accepts: Callable[[Any], bool]
    dropped: int = 0
    closed: bool = field(default=False)

    async def get(self) -> Any:
        return await self.queue.get()

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._iter()

    async def _iter(self) -> AsyncIterator[Any]:
        while not self.closed:
            item = await self.queue.get()
            if item is _CLOSE:
                return
            yield item


_CLOSE = object()


class EventBus:
    def __init__(self) -> None:
        self._subs: list[Subscription] = []
        self.published = 0

    def subscribe(
        self,
        name: str,
        *,
        maxsize: int = 10_000,
        policy: Policy = "block",
        accepts: Callable[[Any], bool] = lambda _msg: True,
    ) -> Subscription:
        sub = Subscription(name, asyncio.Queue(maxsize=maxsize), policy, accepts)
        self._subs.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)
        sub.closed = True
        with contextlib.suppress(asyncio.QueueFull):
            sub.queue.put_nowait(_CLOSE)

    async def publish(self, msg: Any) -> None:
        self.published += 1
        for sub in list(self._subs):
            if not sub.accepts(msg):
                continue
            if sub.policy == "block":
                await sub.queue.put(msg)
                continue
            while True:
                try:
                    sub.queue.put_nowait(msg)
                    break
                except asyncio.QueueFull:
                    sub.queue.get_nowait()
                    sub.dropped += 1
                    if sub.dropped in (1, 100, 10_000) or sub.dropped % 100_000 == 0:
                        logger.warning("bus subscriber %s is slow: %d messages dropped", sub.name, sub.dropped)
