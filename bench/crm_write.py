"""Benchmark: call records written through the outbox, and ANI look-ups, with a million customers.

For each backend (SQLite in a temporary directory; PostgreSQL in a database created for the run
and dropped after, when the server is reachable) it:
1. migrates an empty database and bulk-loads `--customers` subscribers (COPY on PostgreSQL);
2. runs `--lookups` ANI look-ups (`crm.repositories.lookup_by_ani`, a reader session per
   look-up, as routing does; numbers in mixed spellings, one in ten unknown) and reports their latency;
3. publishes the domain events of `--records` calls (5 each) on the bus as fast as the call
   logger takes them; the logger builds the records and journals them in the outbox while the
   writer drains it into the database; reports records per second from the first event to the
   last database commit (and to the last journal write).

Prints one JSON object per backend, one per line:
{"backend": ..., "records_per_s": ..., "ani_lookup_p99_ms": ..., ...}
Targets: 2,000 records/s and an ANI look-up p99 under 2 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import socket
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from callcenter import events as ev
from callcenter.bus import EventBus
from crm import models as m
from crm.calllog import CallLogger
from crm.db import make_engine, make_reader_sessionmaker, upgrade
from crm.outbox import Outbox, OutboxWriter
from crm.repositories import lookup_by_ani
from crm.seed import generate_customers, insert_customers

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
CHUNK = 100_000


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def call_events(n: int) -> list[Any]:
    """The domain events of finished call n: arrived, queued, answered, ended, wrapped up."""
    t = NOW.timestamp() + n
    call_id, agent = ev.CallId(f"bench-{n}"), ev.AgentId(f"{1001 + n % 50}")
    return [
        ev.CallArrived(
            call_id=call_id,
            channel_id=ev.ChannelId(call_id),
            channel="PJSIP/trunk-1",
            ani=f"138{n:08d}",
            dnis="10086",
            at=t,
        ),
        ev.CallQueued(call_id=call_id, request=ev.RoutingRequest(queue=ev.QueueName("general")), at=t + 20),
        ev.CallAnswered(call_id=call_id, agent_id=agent, at=t + 35),
        ev.CallEnded(call_id=call_id, hangup_side=ev.HangupSide.CALLER, at=t + 200),
        ev.WrapUpEnded(agent_id=agent, call_id=call_id, disposition="resolved", at=t + 210),
    ]


async def load_customers(engine: Any, count: int, rng: random.Random) -> tuple[float, list[str]]:
    """Bulk-load `count` customers; returns (seconds, a sample of their numbers)."""
    sample: list[str] = []
    started = time.perf_counter()
    for first in range(1, count + 1, CHUNK):
        seeded = generate_customers(rng, min(CHUNK, count - first + 1), first_id=first, now=NOW, number_offset=12345)
        async with engine.begin() as conn:
            await insert_customers(conn, seeded)
        sample.extend(p[1] for p in rng.sample(seeded.phones, min(2000, len(seeded.phones))))
    if engine.dialect.name == "postgresql":
        async with engine.connect() as conn:
            await conn.exec_driver_sql("ANALYZE customers")
            await conn.exec_driver_sql("ANALYZE customer_phones")
    return time.perf_counter() - started, sample


async def measure_lookups(engine: Any, numbers: list[str], count: int, rng: random.Random) -> dict[str, float]:
    sessions = make_reader_sessionmaker(engine)
    latencies: list[float] = []
    found = 0
    started = time.perf_counter()
    for i in range(count):
        if i % 10 == 9:
            ani = f"1990000{i:04d}"  # nobody's number
        else:
            n = rng.choice(numbers)
            ani = rng.choice((n, f"+86{n}", f"+86 {n[:3]} {n[3:7]} {n[7:]}"))
        t0 = time.perf_counter()
        async with sessions() as s:
            card = await lookup_by_ani(s, ani)
        latencies.append(time.perf_counter() - t0)
        found += card is not None
    elapsed = time.perf_counter() - started
    return {
        "ani_lookups": count,
        "ani_found": found,
        "ani_lookups_per_s": round(count / elapsed, 1),
        "ani_lookup_p50_ms": round(statistics.median(latencies) * 1000, 3),
        "ani_lookup_p99_ms": round(percentile(latencies, 0.99) * 1000, 3),
    }


async def measure_records(engine: Any, work_dir: Path, count: int) -> dict[str, float]:
    """Publish the events of `count` calls on the bus as fast as the call logger takes them, and
    time them to the journal (call logger) and to the database (outbox writer)."""
    calls = [call_events(n) for n in range(count)]
    bus = EventBus()
    outbox = Outbox(work_dir / f"outbox-{uuid.uuid4().hex[:6]}.sqlite3")
    call_logger = CallLogger(bus, outbox)
    writer = OutboxWriter(outbox, engine, batch_size=500)
    stop = asyncio.Event()
    started = time.perf_counter()
    tasks = [asyncio.create_task(call_logger.run()), asyncio.create_task(writer.run(stop))]
    for events in calls:
        for e in events:
            await bus.publish(e)
    for _ in range(600_000):  # at most 10 minutes
        if not (call_logger.backlog or call_logger.builder.in_progress):
            break
        await asyncio.sleep(0.001)
    await call_logger.drain()
    journaled = time.perf_counter() - started
    stop.set()
    await tasks[1]
    elapsed = time.perf_counter() - started
    tasks[0].cancel()
    await asyncio.gather(tasks[0], return_exceptions=True)
    outbox.close()
    async with engine.connect() as conn:
        written = (await conn.execute(select(func.count()).select_from(m.CallRecord))).scalar_one()
        events = (await conn.execute(select(func.count()).select_from(m.CallEvent))).scalar_one()
    if (written, events) != (count, count * 5):
        raise SystemExit(f"outbox wrote {written} records and {events} events; expected {count} and {count * 5}")
    return {
        "records": count,
        "records_per_s": round(count / elapsed, 1),
        "journaled_records_per_s": round(count / journaled, 1),
        "writer_failures": writer.failures,
    }


async def run_backend(backend: str, url: str, args: argparse.Namespace, work_dir: Path) -> dict[str, Any]:
    rng = random.Random(args.seed)
    engine = make_engine(url)
    try:
        await upgrade(engine)
        seed_s, numbers = await load_customers(engine, args.customers, rng)
        result: dict[str, Any] = {"backend": backend, "customers": args.customers, "seed_s": round(seed_s, 1)}
        result.update(await measure_lookups(engine, numbers, args.lookups, rng))
        result.update(await measure_records(engine, work_dir, args.records))
        result["target_records_per_s"] = 2000
        result["target_ani_lookup_p99_ms"] = 2.0
        result["meets_targets"] = result["records_per_s"] >= 2000 and result["ani_lookup_p99_ms"] < 2.0
        return result
    finally:
        await engine.dispose()


def postgres_reachable(url: str) -> bool:
    u = make_url(url)
    try:
        with socket.create_connection((u.host or "127.0.0.1", u.port or 5432), timeout=0.5):
            return True
    except OSError:
        return False


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--lookups", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("CALLCENTER_TEST_POSTGRES", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"),
    )
    args = parser.parse_args()
    import asyncpg

    with tempfile.TemporaryDirectory(prefix="crm-bench-") as tmp:
        work_dir = Path(tmp)
        for backend in args.backends.split(","):
            if backend == "sqlite":
                print(
                    json.dumps(
                        await run_backend("sqlite", f"sqlite+aiosqlite:///{work_dir / 'crm.sqlite3'}", args, work_dir)
                    ),
                    flush=True,
                )
                continue
            if not postgres_reachable(args.postgres_url):
                print(
                    json.dumps(
                        {
                            "backend": "postgresql",
                            "skipped": f"not reachable at {make_url(args.postgres_url).render_as_string()}",
                        }
                    ),
                    flush=True,
                )
                continue
            admin_url = make_url(args.postgres_url)
            name = f"cc_bench_{uuid.uuid4().hex[:10]}"
            admin = await asyncpg.connect(
                host=admin_url.host,
                port=admin_url.port,
                user=admin_url.username,
                password=admin_url.password,
                database=admin_url.database,
            )
            try:
                await admin.execute(f'CREATE DATABASE "{name}"')
                try:
                    url = admin_url.set(database=name).render_as_string(hide_password=False)
                    print(json.dumps(await run_backend("postgresql", url, args, work_dir)), flush=True)
                finally:
                    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await admin.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
