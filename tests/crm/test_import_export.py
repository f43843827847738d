"""CSV imports report every bad row exactly and never half-import; call records export to CSV."""

from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from crm import models as m
from crm.exports import CALL_COLUMNS, export_calls
from crm.importers import ImportFileError, import_customers, import_transactions
from crm.repositories import write_call_records

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
HEADER = "account_number,name,phones,language,tier,balance,last_bill_date,do_not_call\n"
GOOD = (
    "A1,张伟,+86 138 0013 8000;010-6655-1234,zh,vip,88.50,2026-05-01,no\n"
    "A2,Emily Wong,13700137000,en,,-12.30,,yes\n"
    "A3,李娜,8615000150000,,star2,,,\n"
)
BAD_ROWS = (
    "B3,王芳,12-AB,zh,,,,\n"
    "B4,Jean Dupont,13600136000,fr,,,,\n"
    "B5,刘洋,13500135000,zh,,12.345,,\n"
    "A1,张伟,13400134000,zh,,,,\n"
    "B7,陈静,+8613800138000,zh,,,,\n"
    "B8,,13300133000,zh,,,,\n"
    "B9,too,few\n"
    "B10,赵磊,13900139000,zh,,,,\n"
    "X1,周杰,13200132000,zh,,,,\n"
    "B12,吴敏,13100131000,zh,,,,maybe\n"
    "B13,徐丽,13000130000,zh,,,2026-13-01,\n"
    "B14,孙强,13000130001,zh,platinum,,,\n"
)
EXPECTED_PROBLEMS = [
    "row 5, column phones: '12-AB' is not a phone number",
    "row 6, column language: 'fr' is not one of zh, en",
    "row 7, column balance: '12.345' is not an amount with at most 2 decimals",
    "row 8, column account_number: 'A1' is already on row 2",
    "row 9, column phones: number 13800138000 is already on row 2",
    "row 10, column name: is empty; a value is required",
    "row 11, column *: has 3 fields; the header has 8",
    "row 12, column phones: number 13900139000 already belongs to customer 'X1'",
    "row 13, column account_number: 'X1' already exists in the CRM",
    "row 14, column do_not_call: 'maybe' is not a yes/no value (true, false, yes, no, 1, 0)",
    "row 15, column last_bill_date: '2026-13-01' is not a date (YYYY-MM-DD)",
    "row 16, column tier: 'platinum' is not one of vip, star5, star4, star3, star2, star1",
]


async def _existing_customer(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as s:
        s.add(
            m.Customer(
                account_number="X1",
                name="已有",
                created_at=NOW,
                phones=[m.CustomerPhone(number="13900139000", is_primary=True)],
            )
        )
        await s.commit()


async def _snapshot(sessions: async_sessionmaker[AsyncSession]) -> list[tuple[str, str, tuple[str, ...]]]:
    async with sessions() as s:
        rows = await s.execute(select(m.Customer).options(selectinload(m.Customer.phones)).order_by(m.Customer.id))
        return [(c.account_number, c.name, tuple(p.number for p in c.phones)) for c in rows.scalars()]


async def test_good_file_imports_every_customer_with_normalised_numbers(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    path = tmp_path / "customers.csv"
    path.write_text(HEADER + GOOD, encoding="utf-8-sig")  # Excel writes a BOM
    async with sessions() as s:
        report = await import_customers(s, path, now=NOW)
    assert (report.imported, report.problems, report.committed) == (3, [], True)
    assert await _snapshot(sessions) == [
        ("A1", "张伟", ("13800138000", "01066551234")),
        ("A2", "Emily Wong", ("13700137000",)),
        ("A3", "李娜", ("15000150000",)),
    ]
    async with sessions() as s:
        a2 = (await s.execute(select(m.Customer).where(m.Customer.account_number == "A2"))).scalar_one()
        assert (a2.language, a2.tier, a2.balance, a2.do_not_call, a2.last_bill_date) == (
            "en",
            "star1",
            Decimal("-12.30"),
            True,
            None,
        )


async def test_a_file_with_bad_rows_reports_each_exactly_and_changes_nothing(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    await _existing_customer(sessions)
    before = await _snapshot(sessions)
    path = tmp_path / "customers.csv"
    path.write_text(HEADER + GOOD + BAD_ROWS, encoding="utf-8")
    async with sessions() as s:
        report = await import_customers(s, path, now=NOW)
    assert [str(p) for p in report.problems] == EXPECTED_PROBLEMS
    assert (report.imported, report.committed, report.rejected_rows) == (0, False, 12)
    assert await _snapshot(sessions) == before

    async with sessions() as s:
        report = await import_customers(s, path, now=NOW, skip_bad=True)
    assert [str(p) for p in report.problems] == EXPECTED_PROBLEMS
    assert (report.imported, report.committed) == (3, True)
    assert [c[0] for c in await _snapshot(sessions)] == ["X1", "A1", "A2", "A3"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "{path}: the file is empty; expected a header row"),
        (b"account_number,name\nA1,x\n", "{path}: header lacks the required column 'phones'"),
        (
            b"account_number,name,phones,email\n",
            "{path}: header has unknown column 'email'; expected some of "
            "account_number, name, phones, language, segment, tier, balance, plan, last_bill_amount, last_bill_date, "
            "data_used_mb, data_quota_mb, marketing_consent, do_not_call",
        ),
        ("account_number,name,phones\nA1,张伟,138\n".encode("gbk"), "{path}: not UTF-8 text (byte 30 is 0xd5)"),
    ],
)
async def test_a_file_that_cannot_be_read_is_refused_as_a_whole(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "customers.csv"
    path.write_bytes(content)
    async with sessions() as s:
        with pytest.raises(ImportFileError) as exc:
            await import_customers(s, path, now=NOW)
    assert str(exc.value) == message.format(path=path)


async def test_transactions_import_rejects_unknown_accounts_and_bad_values(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    await _existing_customer(sessions)
    path = tmp_path / "billing.csv"
    path.write_text(
        "account_number,at,amount,kind\n"
        "X1,2026-05-01T10:00:00+08:00,128.00,bill\n"
        "X1,2026-05-02,50,recharge\n"
        "NOPE,2026-05-01,1.00,bill\n"
        "X1,yesterday,1.00,bill\n"
        "X1,2026-05-01,,bill\n"
        "X1,2026-05-01,5,refund\n",
        encoding="utf-8",
    )
    async with sessions() as s:
        report = await import_transactions(s, path)
    assert [str(p) for p in report.problems] == [
        "row 4, column account_number: 'NOPE' is not a customer in the CRM",
        "row 5, column at: 'yesterday' is not a date or time (ISO 8601, e.g. 2026-05-01T10:00:00+08:00)",
        "row 6, column amount: is empty; a value is required",
        "row 7, column kind: 'refund' is not one of bill, recharge, purchase",
    ]
    async with sessions() as s:
        assert (await s.execute(select(func.count()).select_from(m.Transaction))).scalar_one() == 0
        report = await import_transactions(s, path, skip_bad=True)
    assert report.imported == 2
    async with sessions() as s:
        got = (await s.execute(select(m.Transaction.at, m.Transaction.amount).order_by(m.Transaction.at))).all()
    assert [tuple(r) for r in got] == [
        (dt.datetime(2026, 5, 1, 2, 0, tzinfo=dt.UTC), Decimal("128.00")),  # +08:00 stored as UTC
        (dt.datetime(2026, 5, 2, tzinfo=dt.UTC), Decimal("50.00")),  # no offset: UTC
    ]


async def test_call_records_export_to_csv_in_arrival_order(engine: AsyncEngine, tmp_path: Path) -> None:
    t0 = dt.datetime(2026, 5, 1, 8, 0, tzinfo=dt.UTC).timestamp()
    async with engine.begin() as conn:
        await write_call_records(
            conn,
            [
                {
                    "call_id": "c2",
                    "direction": "inbound",
                    "ani": "13800138000",
                    "dnis": "10086",
                    "arrived_at": t0 + 60,
                    "answered_at": t0 + 75.5,
                    "wait_s": 15.5,
                    "queue": "billing",
                    "agent_id": "1001",
                    "outcome": "answered",
                    "ivr_path": ["welcome", "billing"],
                    "transfers": [{"kind": "blind", "target": "2001"}],
                    "notes": '退款, "urgent"',
                },
                {"call_id": "c1", "direction": "inbound", "arrived_at": t0, "outcome": "abandoned", "wait_s": 33.0},
                {"call_id": "c3", "direction": "outbound", "arrived_at": t0 + 86400, "outcome": "failed"},
            ],
        )
    path = tmp_path / "calls.csv"
    async with AsyncSession(engine) as s:
        count = await export_calls(s, path, until=dt.datetime(2026, 5, 2, tzinfo=dt.UTC))
    assert count == 2
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == list(CALL_COLUMNS)
    assert [r["call_id"] for r in rows] == ["c1", "c2"]
    c2 = rows[1]
    assert (c2["arrived_at"], c2["answered_at"], c2["ended_at"]) == (
        "2026-05-01T08:01:00+00:00",
        "2026-05-01T08:01:15.500000+00:00",
        "",
    )
    assert (c2["ivr_path"], c2["transfers"], c2["notes"], c2["wait_s"]) == (
        "welcome > billing",
        '[{"kind":"blind","target":"2001"}]',
        '退款, "urgent"',
        "15.5",
    )
    assert not path.with_name("calls.csv.part").exists()
