"""Waiting in tests for something that has no change event: poll it, bounded."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any


async def until(predicate: Callable[[], Any], within_s: float = 10.0, every_s: float = 0.02) -> Any:
    """Poll `predicate` every `every_s` until it returns something true, and return that;
    `TimeoutError` after `within_s`."""
    async with asyncio.timeout(within_s):
        while not (value := predicate()):  # noqa: ASYNC110 (what the tests wait for has no change event)
            await asyncio.sleep(every_s)
    return value
