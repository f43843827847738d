"""The CRM as the running control plane uses it: one object to start and stop.

`Crm.start(settings, bus)` opens (and on first start creates and migrates) the database, opens
the outbox journal in the data directory, and starts two tasks: the call logger (bus -> outbox)
and the outbox writer (outbox -> database). Other rooms read through `crm.readers`
(read-only look-ups on a call's path) and `crm.sessions` (everything else):

    async with crm.readers() as session:
        card = await lookup_by_ani(session, ani, tiers=crm.tiers)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from callcenter.bus import EventBus
from callcenter.settings import Settings
from crm.calllog import CallLogger
from crm.db import make_reader_sessionmaker, make_sessionmaker, open_database
from crm.outbox import Outbox, OutboxWriter
from crm.rfm import TierConfig, load_tier_config, tiers_file_in

logger = logging.getLogger(__name__)

OUTBOX_FILE = "outbox.sqlite3"


@dataclass
class Crm:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    readers: async_sessionmaker[AsyncSession]  # read-only look-ups on a call's path
    outbox: Outbox
    writer: OutboxWriter
    tiers: TierConfig
    _tasks: list[asyncio.Task[None]]
    _stop: asyncio.Event

    @classmethod
    async def start(cls, settings: Settings, bus: EventBus | None = None) -> Crm:
        settings.ensure_dirs()
        engine = await open_database(settings.database_url, echo=settings.database.echo)
        outbox = Outbox(settings.data_dir / OUTBOX_FILE)
        writer = OutboxWriter(outbox, engine)
        stop = asyncio.Event()
        tasks = [asyncio.create_task(writer.run(stop), name="crm.outbox-writer")]
        if bus is not None:
            tasks.append(asyncio.create_task(CallLogger(bus, outbox).run(), name="crm.calllog"))
        live, dead = outbox.counts()
        logger.info("crm: database ready; outbox has %d entries waiting, %d dead", live, dead)
        tiers = load_tier_config(tiers_file_in(settings.data_dir))
        return cls(
            engine, make_sessionmaker(engine), make_reader_sessionmaker(engine), outbox, writer, tiers, tasks, stop
        )

    async def stop(self, drain_timeout_s: float = 5.0) -> None:
        """Stop logging (journaling calls still in progress), drain what the database accepts
        within `drain_timeout_s`, and close; anything left waits in the journal for next start."""
        writer_task, *others = self._tasks
        for task in others:
            task.cancel()
        for task in others:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._stop.set()
        try:
            await asyncio.wait_for(writer_task, drain_timeout_s)
        except TimeoutError:
            logger.warning("crm: database did not accept the outbox within %.1f s; entries kept", drain_timeout_s)
        self.outbox.close()
        await self.engine.dispose()
