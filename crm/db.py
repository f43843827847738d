"""The CRM database: engine, sessions and migrations.

`settings.database_url` picks the backend: empty means the SQLite file `crm.sqlite3` in the data
directory (created and migrated on first start by `open_database`), a `postgresql+asyncpg://` URL
means PostgreSQL. Both run the same Alembic migrations (`crm/migrations`, batch mode so that
SQLite can alter tables); the Alembic configuration is built here, from the package's own files,
so `callcenter db upgrade` works from any directory.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets the ANI look-ups read while the outbox writer writes; NORMAL is durable across a
    # process crash in WAL mode (the outbox journal, not this file, guards against power loss).
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()


def make_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """An async engine for `url`; SQLite gets its pragmas and its parent directory."""
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, echo=echo)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    # NOTE(crm): no pool_pre_ping: its extra round trip per checkout doubled the ANI look-up's
    # latency. A pooled connection that died with the server fails its next statement, SQLAlchemy
    # drops it as a disconnect, and the callers cope: the outbox retries, a look-up that fails
    # routes the caller as unknown.
    return create_async_engine(url, echo=echo)


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def make_reader_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for read-only look-ups on a call's path (ANI, self-service facts). On PostgreSQL
    they run in autocommit, which saves the BEGIN and ROLLBACK round trips of each look-up; on
    SQLite that would cost more than it saves, so they are ordinary sessions."""
    if engine.dialect.name == "postgresql":
        engine = engine.execution_options(isolation_level="AUTOCOMMIT")
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolation would eat a '%' in a password.
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def _migrate_on(connection: Connection, url: str, revision: str, down: bool) -> None:
    cfg = alembic_config(url)
    cfg.attributes["connection"] = connection
    (command.downgrade if down else command.upgrade)(cfg, revision)


async def upgrade(engine: AsyncEngine, revision: str = "head", *, down: bool = False) -> None:
    """Apply migrations up (or `down`) to `revision` through `engine`; callable from a running
    event loop."""
    url = engine.url.render_as_string(hide_password=False)
    async with engine.begin() as conn:
        await conn.run_sync(_migrate_on, url, revision, down)
    logger.info("database %s: migrated to %s", engine.url.render_as_string(hide_password=True), revision)


def upgrade_url(url: str, revision: str = "head") -> None:
    """Synchronous entry for the CLI: apply migrations to the database at `url`."""

    async def run() -> None:
        engine = make_engine(url)
        try:
            await upgrade(engine, revision)
        finally:
            await engine.dispose()

    asyncio.run(run())


async def open_database(url: str, *, echo: bool = False, migrate: bool = True) -> AsyncEngine:
    """The engine the service runs on; on first start this creates and migrates the database."""
    engine = make_engine(url, echo=echo)
    if migrate:
        await upgrade(engine)
    return engine
