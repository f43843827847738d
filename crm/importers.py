"""CSV imports: customers, and billing/transaction history (the input of RFM).

A file is checked completely before anything is written, and every problem is reported with its
row, column and reason: ``row 4, column phones: '12-34' is not a phone number``. Rows are counted
as a spreadsheet shows them: the header is row 1, the first customer row 2. By default a file
with any rejected row changes nothing; `skip_bad=True` imports the good rows and reports the rest.
Either way the import is one transaction: it never leaves half a file behind.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.csvreport import RowProblem
from callcenter.errors import CallCtlError
from crm import models as m
from crm.phones import InvalidNumber, normalise_number
from crm.rfm import DEFAULT_TIER_CONFIG, TierConfig

logger = logging.getLogger(__name__)

LANGUAGES = ("zh", "en")
TRANSACTION_KINDS = ("bill", "recharge", "purchase")
_TRUE = ("1", "true", "yes", "y")
_FALSE = ("0", "false", "no", "n", "")
_IN_CHUNK = 500  # rows per IN (...) probe of existing keys


class ImportFileError(CallCtlError):
    """The file as a whole cannot be imported (unreadable, not UTF-8, bad header)."""


Problem = RowProblem  # the dialer's contact import reports its rows the same way


@dataclass(slots=True)
class ImportReport:
    imported: int = 0
    problems: list[Problem] = field(default_factory=list)
    committed: bool = False

    @property
    def rejected_rows(self) -> int:
        return len({p.row for p in self.problems})


class _RowError(Exception):
    def __init__(self, column: str, reason: str) -> None:
        super().__init__(reason)
        self.column, self.reason = column, reason


def read_csv(path: Path, *, required: Sequence[str], optional: Sequence[str]) -> list[tuple[int, dict[str, str]]]:
    """(row number, {column: stripped text}) for every data row; the header is checked here."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ImportFileError(f"{path}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFileError(f"{path}: not UTF-8 text (byte {exc.start} is {raw[exc.start]:#04x})") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [h.strip() for h in next(reader, [])]
    if not header:
        raise ImportFileError(f"{path}: the file is empty; expected a header row")
    known = (*required, *optional)
    for name in header:
        if name not in known:
            raise ImportFileError(f"{path}: header has unknown column {name!r}; expected some of {', '.join(known)}")
    for name in required:
        if name not in header:
            raise ImportFileError(f"{path}: header lacks the required column {name!r}")
    if len(set(header)) != len(header):
        raise ImportFileError(f"{path}: header names a column twice")
    rows: list[tuple[int, dict[str, str]]] = []
    for row_no, values in enumerate(reader, start=2):
        if not any(v.strip() for v in values):
            continue  # blank line
        if len(values) != len(header):
            rows.append((row_no, {"": f"has {len(values)} fields; the header has {len(header)}"}))
            continue
        rows.append((row_no, {h: v.strip() for h, v in zip(header, values, strict=True)}))
    return rows


# -- field parsers: each returns the value or raises _RowError(column, reason) ------------------


def _required(row: dict[str, str], column: str, max_len: int) -> str:
    value = row.get(column, "")
    if not value:
        raise _RowError(column, "is empty; a value is required")
    if len(value) > max_len:
        raise _RowError(column, f"is {len(value)} characters long; at most {max_len} allowed")
    return value


def _choice(row: dict[str, str], column: str, choices: Sequence[str], default: str) -> str:
    value = row.get(column, "") or default
    if value not in choices:
        raise _RowError(column, f"{value!r} is not one of {', '.join(choices)}")
    return value


def _money(row: dict[str, str], column: str, default: Decimal | None) -> Decimal | None:
    value = row.get(column, "")
    if not value:
        return default
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise _RowError(column, f"{value!r} is not an amount (e.g. 12.50)") from None
    if not amount.is_finite() or amount != amount.quantize(Decimal("0.01")) or abs(amount) >= 10**10:
        raise _RowError(column, f"{value!r} is not an amount with at most 2 decimals")
    return amount


def _count(row: dict[str, str], column: str) -> int:
    value = row.get(column, "") or "0"
    if not value.isdigit():
        raise _RowError(column, f"{value!r} is not a whole number >= 0")
    return int(value)


def _flag(row: dict[str, str], column: str) -> bool:
    value = row.get(column, "").lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise _RowError(column, f"{row[column]!r} is not a yes/no value (true, false, yes, no, 1, 0)")


def _date(row: dict[str, str], column: str) -> dt.date | None:
    value = row.get(column, "")
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise _RowError(column, f"{value!r} is not a date (YYYY-MM-DD)") from None


def _timestamp(row: dict[str, str], column: str) -> dt.datetime:
    value = _required(row, column, 40)
    try:
        at = dt.datetime.fromisoformat(value)
    except ValueError:
        raise _RowError(column, f"{value!r} is not a date or time (ISO 8601, e.g. 2026-05-01T10:00:00+08:00)") from None
    return at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at.astimezone(dt.UTC)


def _check_rows(
    rows: Iterable[tuple[int, dict[str, str]]],
    parse: Callable[[int, dict[str, str]], Any],
    report: ImportReport,
) -> list[tuple[int, Any]]:
    good: list[tuple[int, Any]] = []
    for row_no, row in rows:
        if "" in row:
            report.problems.append(Problem(row_no, "*", row[""]))
            continue
        try:
            good.append((row_no, parse(row_no, row)))
        except _RowError as exc:
            report.problems.append(Problem(row_no, exc.column, exc.reason))
    return good


async def _existing(session: AsyncSession, column: Any, values: Sequence[str], *extra: Any) -> dict[Any, Any]:
    found: dict[Any, Any] = {}
    for i in range(0, len(values), _IN_CHUNK):
        chunk = values[i : i + _IN_CHUNK]
        for key, *rest in await session.execute(select(column, *extra).where(column.in_(chunk))):
            found[key] = rest[0] if rest else key
    return found


# ------------------------------------------------------------------------------------------------
# Customers
# ------------------------------------------------------------------------------------------------

CUSTOMER_REQUIRED = ("account_number", "name", "phones")
CUSTOMER_OPTIONAL = (
    "language",
    "segment",
    "tier",
    "balance",
    "plan",
    "last_bill_amount",
    "last_bill_date",
    "data_used_mb",
    "data_quota_mb",
    "marketing_consent",
    "do_not_call",
)


async def import_customers(
    session: AsyncSession,
    path: Path,
    *,
    skip_bad: bool = False,
    tiers: TierConfig = DEFAULT_TIER_CONFIG,
    now: dt.datetime,
) -> ImportReport:
    """Import the customers in `path` (columns: CUSTOMER_REQUIRED + CUSTOMER_OPTIONAL; `phones`
    holds one or more numbers separated by ';', the first is the primary). Commits on success."""
    rows = read_csv(path, required=CUSTOMER_REQUIRED, optional=CUSTOMER_OPTIONAL)
    tier_names = [t.name for t in tiers.tiers]
    report = ImportReport()
    seen_accounts: dict[str, int] = {}
    seen_numbers: dict[str, int] = {}

    def parse(row_no: int, row: dict[str, str]) -> m.Customer:
        account = _required(row, "account_number", 32)
        if account in seen_accounts:
            raise _RowError("account_number", f"{account!r} is already on row {seen_accounts[account]}")
        numbers: list[str] = []
        for raw in _required(row, "phones", 200).split(";"):
            if not raw.strip():
                continue
            try:
                number = normalise_number(raw)
            except InvalidNumber as exc:
                raise _RowError("phones", str(exc)) from None
            if number in seen_numbers or number in numbers:
                raise _RowError("phones", f"number {number} is already on row {seen_numbers.get(number, row_no)}")
            numbers.append(number)
        customer = m.Customer(
            account_number=account,
            name=_required(row, "name", 200),
            language=_choice(row, "language", LANGUAGES, "zh"),
            segment=row.get("segment", "") or "consumer",
            tier=_choice(row, "tier", tier_names, tier_names[-1]),
            balance=_money(row, "balance", Decimal("0.00")),
            plan=row.get("plan", ""),
            last_bill_amount=_money(row, "last_bill_amount", None),
            last_bill_date=_date(row, "last_bill_date"),
            data_used_mb=_count(row, "data_used_mb"),
            data_quota_mb=_count(row, "data_quota_mb"),
            marketing_consent=_flag(row, "marketing_consent"),
            do_not_call=_flag(row, "do_not_call"),
            created_at=now,
            phones=[m.CustomerPhone(number=n, is_primary=i == 0) for i, n in enumerate(numbers)],
        )
        seen_accounts[account] = row_no
        seen_numbers.update((n, row_no) for n in numbers)
        return customer

    good = _check_rows(rows, parse, report)
    taken_accounts = await _existing(session, m.Customer.account_number, [c.account_number for _, c in good])
    all_numbers = [p.number for _, c in good for p in c.phones]
    taken_numbers = await _existing(
        session,
        m.CustomerPhone.number,
        all_numbers,
        select(m.Customer.account_number).where(m.Customer.id == m.CustomerPhone.customer_id).scalar_subquery(),
    )
    accepted: list[m.Customer] = []
    for row_no, customer in good:
        if customer.account_number in taken_accounts:
            report.problems.append(
                Problem(row_no, "account_number", f"{customer.account_number!r} already exists in the CRM")
            )
            continue
        clash = next((p.number for p in customer.phones if p.number in taken_numbers), None)
        if clash is not None:
            report.problems.append(
                Problem(row_no, "phones", f"number {clash} already belongs to customer {taken_numbers[clash]!r}")
            )
            continue
        accepted.append(customer)
    report.problems.sort(key=lambda p: p.row)
    return await _finish(session, report, accepted, skip_bad, path)


async def _finish(
    session: AsyncSession, report: ImportReport, accepted: list[Any], skip_bad: bool, path: Path
) -> ImportReport:
    if report.problems and not skip_bad:
        await session.rollback()
        logger.info("import %s: %d rows rejected; nothing imported", path, report.rejected_rows)
        return report
    session.add_all(accepted)
    await session.commit()
    report.imported, report.committed = len(accepted), True
    logger.info("import %s: %d imported, %d rows rejected", path, len(accepted), report.rejected_rows)
    return report


# ------------------------------------------------------------------------------------------------
# Transactions (billing history)
# ------------------------------------------------------------------------------------------------

TRANSACTION_REQUIRED = ("account_number", "at", "amount")
TRANSACTION_OPTIONAL = ("kind", "reference")


async def import_transactions(session: AsyncSession, path: Path, *, skip_bad: bool = False) -> ImportReport:
    """Import billing history (columns: account_number, at, amount, kind, reference). A time
    without an offset is UTC. Commits on success."""
    rows = read_csv(path, required=TRANSACTION_REQUIRED, optional=TRANSACTION_OPTIONAL)
    report = ImportReport()

    def parse(_row_no: int, row: dict[str, str]) -> tuple[str, dict[str, Any]]:
        account = _required(row, "account_number", 32)
        fields = {
            "at": _timestamp(row, "at"),
            "amount": _money(row, "amount", None),
            "kind": _choice(row, "kind", TRANSACTION_KINDS, "bill"),
            "reference": row.get("reference", "")[:64],
        }
        if fields["amount"] is None:
            raise _RowError("amount", "is empty; a value is required")
        return account, fields

    good = _check_rows(rows, parse, report)
    ids = await _existing(session, m.Customer.account_number, sorted({a for _, (a, _f) in good}), m.Customer.id)
    accepted: list[m.Transaction] = []
    for row_no, (account, fields) in good:
        if account not in ids:
            report.problems.append(Problem(row_no, "account_number", f"{account!r} is not a customer in the CRM"))
            continue
        accepted.append(m.Transaction(customer_id=ids[account], **fields))
    report.problems.sort(key=lambda p: p.row)
    return await _finish(session, report, accepted, skip_bad, path)
