"""CRM fixtures: a migrated database on SQLite (always) and on PostgreSQL (when reachable).

Every PostgreSQL test gets its own freshly created database, dropped afterwards, so tests never
see each other's rows or anybody else's data in the shared server.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from crm.db import make_engine, make_sessionmaker, upgrade


async def _admin(url: str) -> asyncpg.Connection:
    u = make_url(url)
    return await asyncpg.connect(host=u.host, port=u.port, user=u.username, password=u.password, database=u.database)


async def create_pg_database(postgres_url: str) -> str:
    name = f"cc_crm_test_{uuid.uuid4().hex[:12]}"
    conn = await _admin(postgres_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
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


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    """A migrated database on each backend."""
    eng = make_engine(db_url)
    await upgrade(eng)
    try:
        yield eng
    finally:
        await eng.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return make_sessionmaker(engine)
