"""Migrations build the schema the models describe, from empty, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select, text
from sqlalchemy.engine import Connection

from callcenter.cli import main
from crm.db import make_engine, upgrade
from crm.models import Base, Recording


def _diff(conn: Connection) -> list[object]:
    ctx = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(ctx, Base.metadata))


def _tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names())


async def test_upgrade_from_empty_builds_exactly_the_models(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) == set()
        await upgrade(engine)
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) == {*Base.metadata.tables, "alembic_version"}
            assert (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar_one() == "0003"
            assert await conn.run_sync(_diff) == []
        await upgrade(engine)  # a second upgrade is a no-op, not an error
        await upgrade(engine, "base", down=True)
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) == {"alembic_version"}
        await upgrade(engine)
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
    finally:
        await engine.dispose()


def _recording_columns(conn: Connection) -> list[str]:
    return [c["name"] for c in inspect(conn).get_columns("recordings")]


async def test_0002_adds_the_recording_checksum_and_pauses_and_keeps_existing_rows(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        await upgrade(engine, "0001")
        async with engine.begin() as conn:
            await conn.execute(text(
                "INSERT INTO recordings (id, call_id, path, format, started_at) "
                "VALUES ('r1', 'c1', '2026/11/22/r1.ogg', 'ogg', '2026-11-22 10:00:00+00:00')"
            ))
            assert "sha256" not in await conn.run_sync(_recording_columns)
        await upgrade(engine)
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
            row = (await conn.execute(select(Recording))).one()
        assert (row.id, row.sha256, row.paused_spans) == ("r1", None, [])
        await upgrade(engine, "0001", down=True)
        async with engine.connect() as conn:
            columns = await conn.run_sync(_recording_columns)
            assert (await conn.execute(text("SELECT id FROM recordings"))).scalars().all() == ["r1"]
        assert ("sha256" in columns, "paused_spans" in columns, "size_bytes" in columns) == (False, False, True)
    finally:
        await engine.dispose()


def test_cli_db_upgrade_works_from_any_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "data"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("CALLCENTER_DATA_DIR", str(data_dir))
    monkeypatch.delenv("CALLCENTER_CONFIG", raising=False)
    monkeypatch.delenv("CALLCENTER_DATABASE__URL", raising=False)
    assert main(["db", "upgrade"]) == 0
    assert capsys.readouterr().out == "database migrated to head\n"
    assert (data_dir / "crm.sqlite3").is_file()
    assert os.listdir(elsewhere) == []
