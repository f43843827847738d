"""CRM fixtures: a migrated database on SQLite (always) and on PostgreSQL (when reachable).

Every PostgreSQL test gets its own freshly created database, dropped afterwards, so tests never
see each other's rows or anybody else's data in the shared server.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from crm.db import make_engine, make_sessionmaker, upgrade


async def _admin(url: str) -> asyncpg.Connection:
    u = make_url(url)
    return await asyncpg.connect(host=u.host, port=u.port, user=u.username, password=u.password, database=u.database)


async def create_pg_database(postgres_url: str, template: str | None = None) -> str:
    name = f"cc_crm_test_{uuid.uuid4().hex[:12]}"
    conn = await _admin(postgres_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    finally:
        await conn.close()
    return make_url(postgres_url).set(database=name).render_as_string(hide_password=False)


async def drop_pg_database(postgres_url: str, url: str) -> None:
    conn = await _admin(postgres_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", "postgresql"])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty (not migrated) database URL on each backend."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'crm.sqlite3'}"
        return
    postgres_url = request.getfixturevalue("postgres_url")
    url = await create_pg_database(postgres_url)
    try:
        yield url
    finally:
        await drop_pg_database(postgres_url, url)


@pytest.fixture(scope="session")
def pg_template(postgres_url: str) -> Iterator[str]:
    """A migrated PostgreSQL database that per-test databases are copied from (much faster than
    migrating each one)."""

    async def create() -> str:
        url = await create_pg_database(postgres_url)
        eng = make_engine(url)
        try:
            await upgrade(eng)
        finally:
            await eng.dispose()
        return url

    # Requested from inside async fixtures, where this thread's loop is already running.
    with ThreadPoolExecutor(1) as pool:
        url = pool.submit(asyncio.run, create()).result()
        try:
            yield str(make_url(url).database)
        finally:
            pool.submit(asyncio.run, drop_pg_database(postgres_url, url)).result()


@pytest.fixture(params=["sqlite", "postgresql"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A migrated database on each backend."""
    if request.param == "sqlite":
        eng = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'crm.sqlite3'}")
        await upgrade(eng)
        try:
            yield eng
        finally:
            await eng.dispose()
        return
    postgres_url = request.getfixturevalue("postgres_url")
    url = await create_pg_database(postgres_url, template=request.getfixturevalue("pg_template"))
    eng = make_engine(url)
    try:
        yield eng
    finally:
        await eng.dispose()
        await drop_pg_database(postgres_url, url)


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return make_sessionmaker(engine)
