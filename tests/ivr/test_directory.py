"""The IVR's customer directory answered from a real CRM database (SQLite, migrated)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from crm import models as m
from crm.db import make_sessionmaker, open_database
from ivr.directory import CrmDirectory, InMemoryDirectory


async def test_crm_directory_answers_every_query(tmp_path: Path) -> None:
    engine = await open_database(f"sqlite+aiosqlite:///{tmp_path / 'crm.sqlite3'}")
    sessions = make_sessionmaker(engine)
    now = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    try:
        async with sessions() as session:
            customer = m.Customer(
                account_number="30586001",
                name="Li Lei",
                language="en",
                tier="vip",
                balance=Decimal("58.20"),
                plan="5G-128",
                last_bill_amount=Decimal("128.00"),
                last_bill_date=dt.date(2026, 10, 31),
                created_at=now,
            )
            customer.phones.append(m.CustomerPhone(number="13800000001"))
            session.add(customer)
            await session.flush()
            session.add_all(
                [
                    m.Complaint(customer_id=customer.id, status="resolved", opened_at=now - dt.timedelta(days=30)),
                    m.Complaint(customer_id=customer.id, status="in-progress", opened_at=now),
                ]
            )
            await session.commit()
            customer_id = str(customer.id)
        directory = CrmDirectory(sessions)
        card = await directory.lookup("customer", "+86 138 0000 0001")
        assert card is not None
        assert {k: card[k] for k in ("customer_id", "tier", "priority_class", "language", "account", "balance", "open_complaints")} == {
            "customer_id": customer_id,
            "tier": "vip",
            "priority_class": "vip",
            "language": "en",
            "account": "30586001",
            "balance": "58.20",
            "open_complaints": "1",
        }
        assert await directory.lookup("customer", "13999999999") is None
        assert await directory.lookup("balance", "30586001") == {"balance": "58.20"}
        assert await directory.lookup("last_bill", "30586001") == {"bill_amount": "128.00", "bill_date": "2026-10-31"}
        assert await directory.lookup("balance", "00000000") is None
        assert await directory.lookup("complaint_status", customer_id) == {"complaint_status": "in-progress", "complaints_open": "1"}
        assert await directory.lookup("complaint_status", "") is None
    finally:
        await engine.dispose()


async def test_in_memory_directory() -> None:
    directory = InMemoryDirectory({"balance": {"1": {"balance": "3.00"}}})
    assert await directory.lookup("balance", "1") == {"balance": "3.00"}
    assert await directory.lookup("balance", "2") is None
    assert await directory.lookup("customer", "1") is None
