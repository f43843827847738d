"""The emulator's clock: wall time, or faster than wall time for demos and load tests.

Emulated time starts at the wall-clock epoch when the clock is made and advances `scale` times
faster than real time. Everything in the emulator that waits (ring delays, music on hold, talk
time, the dialplan's `${EPOCH}`) goes through one `Clock`, so at `scale=60` an hour of calls
runs in a minute and the dialplan's fallback timer stays consistent with the callers' patience.
"""

from __future__ import annotations

import asyncio
import time


class Clock:
    def __init__(self, scale: float = 1.0, *, start: float | None = None) -> None:
        if scale <= 0:
            raise ValueError(f"clock scale has value {scale!r}; expected a number > 0")
        self.scale = scale
        self._epoch0 = time.time() if start is None else start
        self._mono0 = time.monotonic()

    def now(self) -> float:
        """Emulated seconds since the Unix epoch."""
        return self._epoch0 + (time.monotonic() - self._mono0) * self.scale

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.scale)

    def real(self, seconds: float) -> float:
        """Real seconds that `seconds` of emulated time take (for timeouts in asyncio.wait_for)."""
        return max(0.0, seconds) / self.scale
