"""A bounded asyncio job queue whose workers retry failed jobs with exponential back-off.

* ``put`` waits while ``maxsize`` jobs are waiting: producers feel back-pressure instead of the
  process growing without bound behind a slow disk.
* A job that raises is retried after ``backoff_s * 2**(attempt-1)`` seconds (capped at
  ``backoff_max_s``) up to ``max_attempts`` attempts, unless the error is one of ``permanent``
  (a corrupt input will not get better). A retry waits in a timer, not in a worker, so one
  backing-off job never holds up the others.
* Every job ends exactly once, reported to ``on_done`` as a ``JobOutcome``: done with its result,
  or failed with the last error's text and the number of attempts.
* ``join`` waits until every job put so far has ended, retries included; ``close`` stops the
  workers and cancels pending retries (their jobs are reported as failed, "cancelled").

The handler decides what a job does; this module never looks inside a job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

logger = logging.getLogger(__name__)

J = TypeVar("J")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class JobOutcome(Generic[J, R]):
    job: J
    ok: bool
    attempts: int
    result: R | None = None
    error: str = ""


class JobQueue(Generic[J, R]):
    def __init__(
        self,
        handler: Callable[[J], Awaitable[R]],
        *,
        name: str = "jobs",
        maxsize: int = 100,
        workers: int = 1,
        max_attempts: int = 5,
        backoff_s: float = 1.0,
        backoff_max_s: float = 300.0,
        permanent: tuple[type[BaseException], ...] = (),
        on_done: Callable[[JobOutcome[J, R]], None] = lambda _outcome: None,
    ) -> None:
        self._handler = handler
        self._name = name
        self._queue: asyncio.Queue[tuple[J, int]] = asyncio.Queue(maxsize=maxsize)
        self._n_workers = workers
        self._max_attempts = max_attempts
        self._backoff_s = backoff_s
        self._backoff_max_s = backoff_max_s
        self._permanent = permanent
        self._on_done = on_done
        self._workers: list[asyncio.Task[None]] = []
        self._retries: set[asyncio.Task[None]] = set()
        self._unfinished = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def start(self) -> None:
        if not self._workers:
            self._workers = [asyncio.create_task(self._work(), name=f"{self._name}-{i}") for i in range(self._n_workers)]

    async def put(self, job: J) -> None:
        self._unfinished += 1
        self._idle.clear()
        await self._queue.put((job, 1))

    async def join(self) -> None:
        await self._idle.wait()

    async def close(self) -> None:
        for task in [*self._workers, *self._retries]:
            task.cancel()
        for task in [*self._workers, *self._retries]:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._workers = []

    async def _work(self) -> None:
        while True:
            job, attempt = await self._queue.get()
            try:
                result = await self._handler(job)
            except asyncio.CancelledError:
                self._finish(JobOutcome(job, False, attempt, error="cancelled"))
                raise
            except Exception as exc:
                self._failed(job, attempt, exc)
            else:
                self._finish(JobOutcome(job, True, attempt, result=result))
            finally:
                self._queue.task_done()

    def _failed(self, job: J, attempt: int, exc: Exception) -> None:
        error = str(exc) or type(exc).__name__
        if isinstance(exc, self._permanent) or attempt >= self._max_attempts:
            logger.error("%s: job failed after %d attempt(s): %s", self._name, attempt, error)
            self._finish(JobOutcome(job, False, attempt, error=error))
            return
        delay = min(self._backoff_max_s, self._backoff_s * 2 ** (attempt - 1))
        logger.warning("%s: attempt %d failed (%s); retrying in %.1f s", self._name, attempt, error, delay)
        task = asyncio.create_task(self._retry(job, attempt + 1, delay))
        self._retries.add(task)
        task.add_done_callback(self._retries.discard)

    async def _retry(self, job: J, attempt: int, delay: float) -> None:
        try:
            await asyncio.sleep(delay)
            await self._queue.put((job, attempt))
        except asyncio.CancelledError:
            self._finish(JobOutcome(job, False, attempt - 1, error="cancelled"))
            raise

    def _finish(self, outcome: JobOutcome[J, R]) -> None:
        self._unfinished -= 1
        if self._unfinished == 0:
            self._idle.set()
        try:
            self._on_done(outcome)
        except Exception:
            logger.exception("%s: the on_done callback failed", self._name)
