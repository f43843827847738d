"""Dial decisions reach `dial_decisions` through the outbox: nothing is lost while the database is
down, and an entry written twice (a crash between commit and removal) is still one row."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from callcenter import events as ev
from crm import models as m
from crm.db import make_engine, upgrade
from crm.outbox import Outbox, OutboxWriter
from tests.polling import until

T0 = 1_700_000_000.0


def decision(n: int, *, allowed: bool) -> ev.DialDecided:
    return ev.DialDecided(
        campaign_id=ev.CampaignId("camp1"), contact_id=ev.ContactId(f"camp1:{n}"), number=f"+1212555{n:04d}",
        allowed=allowed, reasons=() if allowed else ("global-dnc", "outside-calling-window"),
        next_allowed_at=None, agent_reserved=allowed, at=T0 + n,
    )


async def journal(outbox: Outbox, decisions: list[ev.DialDecided]) -> None:
    for d in decisions:
        await outbox.put("dial-decision", f"{d.contact_id}@{d.at}", ev.to_json(d))


async def test_decisions_made_while_the_database_is_down_are_written_once_it_is_back(tmp_path: Path) -> None:
    db_dir = tmp_path / "volume"
    engine = make_engine(f"sqlite+aiosqlite:///{db_dir / 'crm.sqlite3'}")
    db_dir.rmdir()  # the database's volume is gone: every connection attempt fails
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    writer = OutboxWriter(outbox, engine, batch_size=4, backoff_min_s=0.01, backoff_max_s=0.05)
    task = asyncio.create_task(writer.run())
    try:
        await journal(outbox, [decision(n, allowed=n % 3 == 0) for n in range(10)])
        await until(lambda: writer.failures >= 2)  # no volume, no database: every write fails
        assert outbox.counts() == (10, 0)
        db_dir.mkdir()
        await upgrade(engine)
        await until(lambda: outbox.counts() == (0, 0))
        await journal(outbox, [decision(n, allowed=n % 3 == 0) for n in (2, 3)])  # delivered again
        await until(lambda: outbox.counts() == (0, 0))
        async with engine.connect() as conn:
            total = (await conn.execute(select(func.count()).select_from(m.DialDecision))).scalar_one()
            row = (await conn.execute(select(m.DialDecision).where(m.DialDecision.contact_id == "camp1:2"))).one()
        assert total == 10
        assert (row.campaign_id, row.number, row.allowed, row.reasons, row.next_allowed_at, row.agent_reserved) == (
            "camp1", "+12125550002", False, ["global-dnc", "outside-calling-window"], None, False)
        assert row.decided_at == dt.datetime.fromtimestamp(T0 + 2, dt.UTC)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        outbox.close()
        await engine.dispose()


async def test_a_decision_journaled_twice_is_one_row_on_each_backend(engine: AsyncEngine, tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    try:
        await journal(outbox, [decision(1, allowed=False), decision(1, allowed=False), decision(2, allowed=True)])
        writer = OutboxWriter(outbox, engine)
        while await writer.drain_once():
            pass
        assert outbox.counts() == (0, 0)
    finally:
        outbox.close()
    async with engine.connect() as conn:
        rows = (await conn.execute(select(m.DialDecision))).all()
    assert sorted((r.contact_id, r.allowed, r.reasons, r.agent_reserved) for r in rows) == [
        ("camp1:1", False, ["global-dnc", "outside-calling-window"], False), ("camp1:2", True, [], True)]
