"""What the IVR's `lookup` nodes ask: the customer directory, as a small port.

The interpreter emits `Lookup(query, key)`; the adapter asks a `CustomerDirectory` and feeds the
answer back as flow variables (plain strings). `CrmDirectory` answers from the CRM database
(crm.repositories); `InMemoryDirectory` from a dict, for tests and demos.

Queries and the variables they set:

| query | key | variables |
|---|---|---|
| customer | the ANI | customer_id, name, language, tier, priority_class, priority, account, plan, balance, open_complaints |
| balance | an account number | balance |
| last_bill | an account number | bill_amount, bill_date |
| complaint_status | a customer id | complaint_status (open, in-progress, resolved, closed), complaints_open |
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

logger = logging.getLogger(__name__)

QUERIES = ("customer", "balance", "last_bill", "complaint_status")


class CustomerDirectory(Protocol):
    async def lookup(self, query: str, key: str) -> Mapping[str, str] | None:
        """The variables for `query` on `key`; None when there is nothing (unknown caller, account)."""
        ...


class InMemoryDirectory:
    """Answers from a table `{query: {key: variables}}`."""

    def __init__(self, table: Mapping[str, Mapping[str, Mapping[str, str]]]) -> None:
        self._table = table

    async def lookup(self, query: str, key: str) -> Mapping[str, str] | None:
        return self._table.get(query, {}).get(key)


class CrmDirectory:
    """Answers from the CRM database."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def lookup(self, query: str, key: str) -> Mapping[str, str] | None:
        from crm import models as m
        from crm.repositories import OPEN_COMPLAINT_STATES, lookup_by_ani

        async with self._sessions() as session:
            if query == "customer":
                card = await lookup_by_ani(session, key)
                if card is None:
                    return None
                return {
                    "customer_id": str(card.id),
                    "name": card.name,
                    "language": card.language,
                    "tier": card.tier,
                    "priority_class": card.priority_class,
                    "priority": str(card.priority),
                    "account": card.account_number,
                    "plan": card.plan,
                    "balance": f"{card.balance:.2f}",
                    "open_complaints": str(card.open_complaints),
                }
            if query in ("balance", "last_bill"):
                row = (
                    await session.execute(
                        select(m.Customer.balance, m.Customer.last_bill_amount, m.Customer.last_bill_date).where(
                            m.Customer.account_number == key
                        )
                    )
                ).first()
                if row is None:
                    return None
                if query == "balance":
                    return {"balance": f"{row.balance:.2f}"}
                if row.last_bill_amount is None:
                    return None
                return {"bill_amount": f"{row.last_bill_amount:.2f}", "bill_date": str(row.last_bill_date or "")}
            if query == "complaint_status":
                if not key.isdigit():
                    return None
                rows = (
                    await session.execute(
                        select(m.Complaint.status)
                        .where(m.Complaint.customer_id == int(key))
                        .order_by(m.Complaint.opened_at.desc())
                    )
                ).all()
                if not rows:
                    return None
                open_count = sum(1 for r in rows if r.status in OPEN_COMPLAINT_STATES)
                return {"complaint_status": rows[0].status, "complaints_open": str(open_count)}
        raise ValueError(f"unknown directory query {query!r}; expected one of {', '.join(QUERIES)}")
