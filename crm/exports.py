"""CSV exports: call records, for reporting tools and spreadsheets.

One row per call, in arrival order, with the columns of `CALL_COLUMNS`. Times are ISO 8601 UTC,
the IVR path is its node ids joined by ' > ', the transfer chain is JSON. The file is written to a
temporary name and renamed at the end, so a reader never sees half an export.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm import models as m

CALL_COLUMNS = tuple(c.name for c in m.table_of(m.CallRecord).columns)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return " > ".join(value)
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


async def export_calls(
    session: AsyncSession,
    path: Path,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> int:
    """Write the calls that arrived in [since, until) to `path`; returns how many."""
    stmt = select(*(getattr(m.CallRecord, c) for c in CALL_COLUMNS)).order_by(
        m.CallRecord.arrived_at, m.CallRecord.call_id
    )
    if since is not None:
        stmt = stmt.where(m.CallRecord.arrived_at >= since)
    if until is not None:
        stmt = stmt.where(m.CallRecord.arrived_at < until)
    tmp = path.with_name(path.name + ".part")
    count = 0
    with tmp.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(CALL_COLUMNS)
        result = await session.stream(stmt.execution_options(yield_per=1000))
        async for row in result:
            writer.writerow([_cell(v) for v in row])
            count += 1
    os.replace(tmp, path)
    return count
