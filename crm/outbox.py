"""The outbox: writes that must not be lost reach the database exactly once, even when it is down.

Two halves:

* `Outbox` is a durable local journal: a small SQLite file (`outbox.sqlite3` in the data
  directory, WAL with `synchronous=FULL`, so a committed entry survives power loss). `put` returns
  once the entry is on disk. Concurrent puts share one commit (group commit), so journaling
  thousands of records a second costs a few fsyncs, not thousands. Only the local disk is touched:
  the CRM database being slow or down never delays a `put`.
* `OutboxWriter` drains the journal into the CRM database, oldest first, in batches, each batch in
  one transaction of idempotent upserts keyed by the entry's natural key (`call_id` for call
  records). An entry leaves the journal only after its transaction committed. If the process dies
  between the commit and the removal, the entry is written again after restart, and the upsert
  makes that a no-op: a record is written once, whatever happens.
* A transient failure (database unreachable, locked, not migrated yet) keeps the batch and retries
  with exponential backoff. A permanent one (the data itself is refused: integrity or data errors)
  is isolated to the entry that causes it, by retrying the batch one entry at a time; that entry
  is marked dead and kept in the journal for an operator (`callcenter crm outbox`), so one bad
  record never blocks the others and is never silently dropped.

Entry kinds and their writers are in `WRITERS`; other rooms journal their own kinds (campaign
attempts, recording metadata) through `put(kind, key, payload)`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import threading
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from callcenter import events as ev
from crm import repositories
from crm.calllog import CallRecordData

logger = logging.getLogger(__name__)

Writer = Callable[[AsyncConnection, Sequence[dict[str, Any]]], Awaitable[None]]

WRITERS: dict[str, Writer] = {
    "call": repositories.write_call_records,
    "agent-state": repositories.write_agent_states,
    "recording": repositories.write_recordings,
    "campaign-attempt": repositories.write_campaign_attempts,
    "dial-decision": repositories.write_dial_decisions,
}

# Failures where retrying the same data can never succeed.
PERMANENT_ERRORS: tuple[type[BaseException], ...] = (
    sa_exc.IntegrityError,
    sa_exc.DataError,
    ValueError,
    TypeError,
    KeyError,
)


@dataclass(frozen=True, slots=True)
class Entry:
    seq: int
    kind: str
    key: str
    payload: dict[str, Any]


class Outbox:
    """The durable journal (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()  # the journal connection is used from worker threads
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS outbox ("
                " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
                " kind TEXT NOT NULL, key TEXT NOT NULL, payload TEXT NOT NULL,"
                " attempts INTEGER NOT NULL DEFAULT 0,"
                " dead INTEGER NOT NULL DEFAULT 0, last_error TEXT NOT NULL DEFAULT '')"
            )
        self._pending: list[tuple[str, str, str]] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._flusher: asyncio.Task[None] | None = None
        self.wakeup = asyncio.Event()  # set whenever new entries are on disk

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- journaling ------------------------------------------------------------------------------

    async def put(self, kind: str, key: str, payload: dict[str, Any]) -> None:
        """Journal one entry; returns when it is on disk."""
        if kind not in WRITERS:
            raise ValueError(f"outbox entry kind {kind!r} has no writer; expected one of {', '.join(WRITERS)}")
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((kind, key, json.dumps(payload, ensure_ascii=False, separators=(",", ":"))))
        self._waiters.append(fut)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        await fut

    async def put_call(self, record: CallRecordData) -> None:
        await self.put("call", record.call_id, record.to_json())

    async def put_agent_state(self, event: ev.AgentStateChanged) -> None:
        await self.put("agent-state", f"{event.agent_id}@{event.at}", ev.to_json(event))

    async def _flush(self) -> None:
        while self._pending:
            batch, waiters = self._pending, self._waiters
            self._pending, self._waiters = [], []
            try:
                await asyncio.to_thread(self._append, batch)
            except Exception as exc:
                for w in waiters:
                    if not w.done():
                        w.set_exception(exc)
                continue
            for w in waiters:
                if not w.done():
                    w.set_result(None)
            self.wakeup.set()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        # The connection is in autocommit mode, so without this every statement of an
        # executemany would be its own transaction, and its own fsync.
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _append(self, batch: list[tuple[str, str, str]]) -> None:
        with self._transaction() as db:
            db.executemany("INSERT INTO outbox (kind, key, payload) VALUES (?, ?, ?)", batch)

    # -- reading, for the writer and for operators -------------------------------------------------

    def take(self, limit: int, after: int = 0) -> list[Entry]:
        """The oldest `limit` live entries after `after`, in journal order (they stay until
        `remove`)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, kind, key, payload FROM outbox WHERE dead = 0 AND seq > ? ORDER BY seq LIMIT ?",
                (after, limit),
            ).fetchall()
        return [Entry(seq, kind, key, json.loads(payload)) for seq, kind, key, payload in rows]

    def remove(self, seqs: Sequence[int]) -> None:
        with self._transaction() as db:
            db.executemany("DELETE FROM outbox WHERE seq = ?", [(s,) for s in seqs])

    def mark_dead(self, seq: int, error: str) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE outbox SET dead = 1, attempts = attempts + 1, last_error = ? WHERE seq = ?", (error, seq)
            )

    def counts(self) -> tuple[int, int]:
        """(entries waiting, dead entries)."""
        with self._lock:
            live, dead = self._db.execute(
                "SELECT COALESCE(SUM(dead = 0), 0), COALESCE(SUM(dead = 1), 0) FROM outbox"
            ).fetchone()
        return int(live), int(dead)

    def dead_entries(self) -> list[tuple[Entry, str]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, kind, key, payload, last_error FROM outbox WHERE dead = 1 ORDER BY seq"
            ).fetchall()
        return [(Entry(seq, kind, key, json.loads(payload)), err) for seq, kind, key, payload, err in rows]

    def revive(self) -> int:
        """Give dead entries another chance (after the operator fixed the cause)."""
        with self._transaction() as db:
            return db.execute("UPDATE outbox SET dead = 0 WHERE dead = 1").rowcount


async def write_entries(engine: AsyncEngine, entries: Sequence[Entry]) -> None:
    """Write `entries` in one transaction, each kind through its writer, in journal order."""
    async with engine.begin() as conn:
        by_kind: dict[str, list[dict[str, Any]]] = {}
        for entry in entries:
            by_kind.setdefault(entry.kind, []).append(entry.payload)
        for kind, payloads in by_kind.items():
            await WRITERS[kind](conn, payloads)


class OutboxWriter:
    """Drains an `Outbox` into the database (see the module docstring)."""

    def __init__(
        self,
        outbox: Outbox,
        engine: AsyncEngine,
        *,
        batch_size: int = 500,
        backoff_min_s: float = 0.5,
        backoff_max_s: float = 30.0,
    ) -> None:
        self.outbox = outbox
        self.engine = engine
        self.batch_size = batch_size
        self.backoff_min_s = backoff_min_s
        self.backoff_max_s = backoff_max_s
        self.written = 0
        self.failures = 0
        self._next: asyncio.Future[list[Entry]] | None = None

    async def drain_once(self) -> int:
        """Write one batch; returns how many entries left the journal. Raises a transient error."""
        entries = await self._next if self._next is not None else []
        self._next = None
        if not entries:  # nothing read ahead (or read before new entries came): read now
            entries = await asyncio.to_thread(self.outbox.take, self.batch_size)
        if not entries:
            return 0
        # Read (and parse) the next batch while this one is written.
        self._next = asyncio.ensure_future(asyncio.to_thread(self.outbox.take, self.batch_size, entries[-1].seq))
        try:
            await write_entries(self.engine, entries)
        except PERMANENT_ERRORS:
            return await self._isolate(entries)
        except BaseException:
            self._next.cancel()  # this batch will be read again, and what follows it
            self._next = None
            raise
        await asyncio.to_thread(self.outbox.remove, [e.seq for e in entries])
        self.written += len(entries)
        return len(entries)

    async def _isolate(self, entries: Sequence[Entry]) -> int:
        for entry in entries:
            try:
                await write_entries(self.engine, [entry])
            except PERMANENT_ERRORS as exc:
                logger.error(
                    "outbox entry %s (%s %s): refused by the database, kept as dead: %s",
                    entry.seq,
                    entry.kind,
                    entry.key,
                    exc,
                )
                await asyncio.to_thread(self.outbox.mark_dead, entry.seq, str(exc)[:500])
                continue
            await asyncio.to_thread(self.outbox.remove, [entry.seq])
            self.written += 1
        return len(entries)

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Drain forever (or until `stop` is set and the journal is empty)."""
        backoff = self.backoff_min_s
        while True:
            self.outbox.wakeup.clear()  # before reading, so an entry journaled meanwhile wakes us
            try:
                n = await self.drain_once()
            except Exception as exc:
                self.failures += 1
                logger.warning(
                    "outbox: database write failed (%s: %s); retrying in %.1f s", type(exc).__name__, exc, backoff
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.backoff_max_s)
                continue
            backoff = self.backoff_min_s
            if n:
                continue
            if stop is not None and stop.is_set():
                return
            waits = [asyncio.ensure_future(self.outbox.wakeup.wait())]
            if stop is not None:
                waits.append(asyncio.ensure_future(stop.wait()))
            try:
                await asyncio.wait(waits, timeout=5.0, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waits:
                    w.cancel()
