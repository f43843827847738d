"""The outbox: call records survive a database outage and a restart, and land exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from callcenter import events as ev
from callcenter.bus import EventBus
from callcenter.events import AgentId, CallId, ChannelId, QueueName
from callcenter.settings import Settings
from crm import models as m
from crm.calllog import CallLogger, CallRecordBuilder, CallRecordData
from crm.db import make_engine, upgrade
from crm.outbox import Outbox, OutboxWriter, write_entries
from crm.repositories import write_call_records
from crm.service import Crm
from tests.polling import until

from .conftest import create_pg_database, drop_pg_database


def call_events(n: int, t: float = 1_700_000_000.0) -> list[Any]:
    """The domain events of call n: queued, answered by agent 10nn, ended, wrapped up."""
    call_id, agent = CallId(f"call-{n}"), AgentId(f"10{n % 100:02d}")
    return [
        ev.CallArrived(
            call_id=call_id,
            channel_id=ChannelId(call_id),
            channel="PJSIP/trunk-1",
            ani=f"138{n:08d}",
            dnis="10086",
            at=t,
        ),
        ev.CallQueued(call_id=call_id, request=ev.RoutingRequest(queue=QueueName("general")), at=t + 10),
        ev.CallAnswered(call_id=call_id, agent_id=agent, at=t + 15),
        ev.CallEnded(call_id=call_id, hangup_side=ev.HangupSide.AGENT, at=t + 75),
        ev.WrapUpEnded(agent_id=agent, call_id=call_id, disposition="resolved", at=t + 80),
    ]


def record(n: int) -> CallRecordData:
    builder = CallRecordBuilder()
    return next(r for e in call_events(n) for r in builder.feed(e))


async def db_counts(engine: AsyncEngine) -> tuple[int, int, int]:
    async with engine.connect() as conn:
        records = (await conn.execute(select(func.count()).select_from(m.CallRecord))).scalar_one()
        distinct = (await conn.execute(select(func.count(func.distinct(m.CallRecord.call_id))))).scalar_one()
        events = (await conn.execute(select(func.count()).select_from(m.CallEvent))).scalar_one()
    return records, distinct, events


async def test_journal_keeps_entries_across_a_restart_in_order(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    await asyncio.gather(*(outbox.put_call(record(n)) for n in range(5)))
    outbox.close()
    reopened = Outbox(tmp_path / "outbox.sqlite3")
    try:
        entries = reopened.take(10)
        assert [e.key for e in entries] == [f"call-{n}" for n in range(5)]
        assert CallRecordData.from_json(entries[3].payload) == record(3)
        assert reopened.counts() == (5, 0)
    finally:
        reopened.close()


async def test_unknown_entry_kind_is_refused(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    try:
        with pytest.raises(ValueError) as exc:
            await outbox.put("invoice", "k", {})
        assert str(exc.value) == (
            "outbox entry kind 'invoice' has no writer; expected one of call, agent-state, recording, campaign-attempt, dial-decision"
        )
    finally:
        outbox.close()


async def test_sqlite_outage_while_calls_end_then_back_writes_every_record_once(tmp_path: Path) -> None:
    db_dir = tmp_path / "volume"
    engine = make_engine(f"sqlite+aiosqlite:///{db_dir / 'crm.sqlite3'}")
    db_dir.rmdir()  # the database's volume is gone: every connection attempt fails
    bus = EventBus()
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    logger = CallLogger(bus, outbox)
    writer = OutboxWriter(outbox, engine, batch_size=7, backoff_min_s=0.01, backoff_max_s=0.05)
    tasks = [asyncio.create_task(logger.run()), asyncio.create_task(writer.run())]
    try:
        for n in range(40):
            for e in call_events(n):
                await bus.publish(e)
        # Every call was logged to the journal while every database write failed: callers and
        # the call logger never wait for the database.
        await until(lambda: outbox.counts() == (40, 0) and writer.failures >= 3)
        assert writer.written == 0

        db_dir.mkdir()
        await upgrade(engine)  # the database is back
        await until(lambda: outbox.counts() == (0, 0))
        assert await db_counts(engine) == (40, 40, 40 * 5)

        # The same records delivered again (a crash after the commit, before the journal
        # forgot them) change nothing.
        await asyncio.gather(*(outbox.put_call(record(n)) for n in range(0, 40, 3)))
        await until(lambda: outbox.counts() == (0, 0))
        assert await db_counts(engine) == (40, 40, 40 * 5)
        async with engine.connect() as conn:
            row = (await conn.execute(select(m.CallRecord).where(m.CallRecord.call_id == "call-7"))).one()
        assert (row.ani, row.agent_id, row.wait_s, row.talk_s, row.wrap_up_s, row.outcome, row.disposition) == (
            "13800000007",
            "1007",
            5.0,
            60.0,
            5.0,
            "answered",
            "resolved",
        )
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        outbox.close()
        await engine.dispose()


async def test_entries_left_by_a_dead_process_are_written_after_restart_once(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'crm.sqlite3'}"
    engine = make_engine(url)
    await upgrade(engine)
    first = Outbox(tmp_path / "outbox.sqlite3")
    for n in range(10):
        await first.put_call(record(n))
    # The old process wrote the first 4 and died before removing them from the journal.
    await write_entries(engine, first.take(4))
    first.close()

    restarted = Outbox(tmp_path / "outbox.sqlite3")
    writer = OutboxWriter(restarted, engine, batch_size=3)
    try:
        while await writer.drain_once():
            pass
        assert restarted.counts() == (0, 0)
        assert await db_counts(engine) == (10, 10, 50)
    finally:
        restarted.close()
        await engine.dispose()


async def test_a_record_the_database_refuses_is_kept_dead_and_does_not_block_the_rest(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'crm.sqlite3'}")
    await upgrade(engine)
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    bad = record(2).to_json()
    bad["direction"] = None  # NOT NULL: no retry can ever write this
    try:
        await outbox.put_call(record(1))
        await outbox.put("call", "call-2", bad)
        await outbox.put_call(record(3))
        await outbox.put("call", "call-4", {**record(4).to_json(), "colour": "red"})  # a newer writer's field
        writer = OutboxWriter(outbox, engine)
        assert await writer.drain_once() == 4
        assert outbox.counts() == (0, 2)
        [(entry2, error2), (entry4, error4)] = outbox.dead_entries()
        assert entry2.key == "call-2" and "NOT NULL" in error2
        assert (entry4.key, error4) == ("call-4", "call record 'call-4': missing [], unknown ['colour']")
        assert await db_counts(engine) == (2, 2, 10)
        assert "refused by the database, kept as dead" in caplog.text
        assert outbox.revive() == 2 and outbox.counts() == (2, 0)
    finally:
        outbox.close()
        await engine.dispose()


class TcpProxy:
    """A TCP relay to PostgreSQL that can be stopped (the database is unreachable) and restarted."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for w in list(self._writers):
            w.close()
        await self._server.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}


async def test_postgresql_unreachable_while_calls_end_then_back_writes_every_record_once(
    postgres_url: str, tmp_path: Path
) -> None:
    url = await create_pg_database(postgres_url)
    proxy = TcpProxy(make_url(url).port or 5432)
    await proxy.start()
    engine = make_engine(make_url(url).set(port=proxy.port).render_as_string(hide_password=False))
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    writer = OutboxWriter(outbox, engine, batch_size=10, backoff_min_s=0.01, backoff_max_s=0.05)
    task = asyncio.create_task(writer.run())
    try:
        await upgrade(engine)
        await outbox.put_call(record(0))
        await until(lambda: writer.written == 1)

        await proxy.stop()  # the database becomes unreachable, pooled connections die
        for n in range(1, 31):
            await outbox.put_call(record(n))
        await until(lambda: writer.failures >= 3)
        assert outbox.counts() == (30, 0)

        await proxy.start()  # back, on the same address
        await until(lambda: outbox.counts() == (0, 0))
        assert await db_counts(engine) == (31, 31, 31 * 5)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        outbox.close()
        await engine.dispose()
        with contextlib.suppress(AssertionError):
            await proxy.stop()
        await drop_pg_database(postgres_url, url)


async def test_crm_service_logs_calls_and_agent_states_from_the_bus(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    bus = EventBus()
    crm = await Crm.start(settings, bus)
    try:
        for n in range(3):
            for e in call_events(n):
                await bus.publish(e)
        await bus.publish(
            ev.AgentStateChanged(
                agent_id=AgentId("1001"),
                old=ev.AgentState.READY,
                new=ev.AgentState.ON_CALL,
                call_id=CallId("call-1"),
                at=1_700_000_015.0,
            )
        )
        await until(lambda: crm.writer.written == 4)
    finally:
        await crm.stop()
    assert (tmp_path / "data" / "crm.sqlite3").is_file()  # created and migrated on first start
    engine = make_engine(settings.database_url)
    try:
        assert await db_counts(engine) == (3, 3, 15)
        async with engine.connect() as conn:
            states = (await conn.execute(select(m.AgentStateHistory.agent_id, m.AgentStateHistory.new_state))).all()
        assert [tuple(s) for s in states] == [("1001", "on-call")]
    finally:
        await engine.dispose()


async def test_record_writer_is_idempotent_and_stores_events_exactly(engine: AsyncEngine) -> None:
    records = [record(n).to_json() for n in range(3)]
    for _ in range(2):  # the second delivery changes nothing
        async with engine.begin() as conn:
            await write_call_records(conn, [*records, records[1]])  # a batch may repeat a key
    async with engine.connect() as conn:
        rows = (await conn.execute(select(m.CallEvent).order_by(m.CallEvent.call_id, m.CallEvent.seq))).all()
    assert [(r.call_id, r.seq, r.type, r.at, r.payload) for r in rows] == [
        (p["call_id"], i, e["type"], dt.datetime.fromtimestamp(e["at"], dt.UTC), e)
        for p in records
        for i, e in enumerate(p["events"])
    ]
    assert await db_counts(engine) == (3, 3, 15)
    # Events take the driver's bulk path: stored exactly as SQLAlchemy stores times elsewhere.
    async with engine.connect() as conn:
        event_at = (
            await conn.exec_driver_sql("SELECT at FROM call_events WHERE seq = 0 AND call_id = 'call-0'")
        ).scalar()
        record_at = (
            await conn.exec_driver_sql("SELECT arrived_at FROM call_records WHERE call_id = 'call-0'")
        ).scalar()
    assert event_at == record_at


async def test_a_failing_journal_is_logged_and_call_logging_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bus = EventBus()
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    logger = CallLogger(bus, outbox)
    outbox.close()  # the journal's disk is gone
    for e in call_events(1):
        await logger.handle(e)
    await logger.drain()
    assert "call-1: outbox journal write failed; this CallRecordData is lost" in caplog.text
    for e in call_events(2)[:2]:
        await logger.handle(e)  # the next call is still followed
    assert logger.builder.in_progress == 1


async def test_the_logger_journals_a_call_whose_wrap_up_never_comes(tmp_path: Path) -> None:
    bus = EventBus()
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    builder = CallRecordBuilder(wrap_up_timeout_s=60.0)
    logger = CallLogger(bus, outbox, builder=builder, expire_every_s=0.02)
    task = asyncio.create_task(logger.run())
    try:
        for e in call_events(5)[:-1]:  # answered and ended; the agent never files the wrap-up
            await bus.publish(e)
        await until(lambda: outbox.counts() == (1, 0))  # call_events' times are long past
        [entry] = outbox.take(1)
        assert (entry.key, entry.payload["outcome"], entry.payload["wrap_up_ended_at"]) == ("call-5", "answered", None)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        outbox.close()


async def test_recordings_and_campaign_attempts_go_through_the_outbox_and_update_in_place(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    t0 = 1_700_000_000.0
    async with engine.begin() as conn:
        await conn.execute(
            m.table_of(m.Campaign).insert(),
            {"id": "camp1", "name": "Renewals", "settings": {}, "created_at": dt.datetime.now(dt.UTC)},
        )
        await conn.execute(
            m.table_of(m.CampaignContact).insert(),
            {"id": "k1", "campaign_id": "camp1", "number": "13800138000", "data": {}},
        )
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    try:
        await outbox.put(
            "recording", "rec-1", {"id": "rec-1", "call_id": "c1", "path": "recordings/c1.wav", "started_at": t0}
        )
        await outbox.put(
            "campaign-attempt",
            "k1@start",
            {"campaign_id": "camp1", "contact_id": "k1", "number": "13800138000", "started_at": t0},
        )
        # Later facts about the same recording and attempt update their rows.
        await outbox.put(
            "recording",
            "rec-1",
            {
                "id": "rec-1",
                "call_id": "c1",
                "path": "recordings/c1.ogg",
                "format": "ogg",
                "started_at": t0,
                "ended_at": t0 + 61.5,
                "duration_s": 61.5,
                "size_bytes": 123_456,
            },
        )
        await outbox.put(
            "campaign-attempt",
            "k1@end",
            {
                "campaign_id": "camp1",
                "contact_id": "k1",
                "number": "13800138000",
                "started_at": t0,
                "ended_at": t0 + 30,
                "outcome": "human",
                "call_id": "c9",
            },
        )
        writer = OutboxWriter(outbox, engine)
        while await writer.drain_once():
            pass
        assert outbox.counts() == (0, 0)
    finally:
        outbox.close()
    async with engine.connect() as conn:
        rec = (await conn.execute(select(m.Recording))).one()
        attempt = (await conn.execute(select(m.CampaignAttempt))).one()
    assert (rec.path, rec.format, rec.duration_s, rec.size_bytes) == ("recordings/c1.ogg", "ogg", 61.5, 123_456)
    assert rec.ended_at == dt.datetime.fromtimestamp(t0 + 61.5, dt.UTC)
    assert (attempt.outcome, attempt.call_id, attempt.ended_at) == (
        "human",
        "c9",
        dt.datetime.fromtimestamp(t0 + 30, dt.UTC),
    )
