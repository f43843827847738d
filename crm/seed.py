"""Demo data: a believable subscriber base for the demo, the tests and the benchmark.

`seed_demo` fills an empty CRM with subscribers (Chinese and English names, mobile numbers such
as 138xxxxxxxx, plans, balances, bills, a year of billing history), the hotline's skills, queues (a
mirror of the routing rules' queues) and agents, some past calls and open complaints, then scores RFM so tiers follow the history. The same
`seed` and `now` give the same data.

`insert_customers` is the bulk path the benchmark uses for a million customers: rows are built
as tuples and written with COPY on PostgreSQL and with large executemany batches on SQLite.
Numbers are unique without remembering them: the 8 digits after the prefix are an affine
permutation of the number's index, so two indexes can never give the same digits.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Table, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from crm import models as m
from crm.calllog import CallRecordData
from crm.repositories import hash_password, insert_rows, recompute_rfm, write_call_records, write_queue_mirror
from crm.repositories import queue_mirror_rows as queue_mirror_rows  # its old home; tests import it here
from crm.rfm import DEFAULT_TIER_CONFIG, TierConfig
from routing_rules.loader import DEFAULT_RULES_FILE, load_rules

logger = logging.getLogger(__name__)

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = [
    "伟",
    "芳",
    "娜",
    "秀英",
    "敏",
    "静",
    "丽",
    "强",
    "磊",
    "军",
    "洋",
    "勇",
    "艳",
    "杰",
    "娟",
    "涛",
    "明",
    "超",
    "秀兰",
    "霞",
    "平",
    "刚",
    "桂英",
    "建华",
    "志强",
    "晓燕",
    "子涵",
    "浩然",
    "欣怡",
    "梓轩",
    "雨桐",
    "宇航",
    "思远",
    "佳琪",
    "俊杰",
    "婷婷",
    "海燕",
    "国庆",
    "红梅",
    "文博",
    "一鸣",
    "嘉怡",
    "晨曦",
]
FIRST_NAMES = [
    "James",
    "Mary",
    "John",
    "Patricia",
    "Robert",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Susan",
    "Richard",
    "Jessica",
    "Joseph",
    "Sarah",
    "Thomas",
    "Karen",
    "Daniel",
    "Emily",
    "Matthew",
    "Olivia",
    "Anthony",
    "Sophia",
    "Mark",
    "Grace",
    "Paul",
    "Chloe",
    "Kevin",
    "Lucy",
]
LAST_NAMES = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Miller",
    "Davis",
    "Wilson",
    "Anderson",
    "Taylor",
    "Thomas",
    "Moore",
    "Martin",
    "Jackson",
    "Thompson",
    "White",
    "Harris",
    "Clark",
    "Lewis",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Green",
    "Baker",
    "Adams",
    "Hill",
    "Wong",
    "Chan",
    "Lee",
]
MOBILE_PREFIXES = [
    "130",
    "131",
    "132",
    "133",
    "134",
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "152",
    "155",
    "157",
    "158",
    "159",
    "166",
    "176",
    "177",
    "178",
    "180",
    "181",
    "182",
    "183",
    "185",
    "186",
    "187",
    "188",
    "189",
    "198",
    "199",
]
# (plan, monthly fee in yuan, data quota in MB, weight)
PLANS = (
    ("畅享 38", 38, 5_120, 30),
    ("畅享 58", 58, 15_360, 25),
    ("畅享 88", 88, 30_720, 18),
    ("5G 128", 128, 61_440, 12),
    ("5G 198", 198, 102_400, 8),
    ("5G 298", 298, 153_600, 5),
    ("全球通 588", 588, 307_200, 2),
)
PLAN_FEES = {p[0]: p[1] for p in PLANS}
SEGMENTS = ("consumer", "consumer", "consumer", "prepaid", "business")
_SUFFIX_MULT = 48_271  # coprime to 10**8: x -> (a*x + b) mod 10**8 is a permutation
_CUSTOMER_COLUMNS = (
    "id",
    "account_number",
    "name",
    "language",
    "tier",
    "segment",
    "balance",
    "plan",
    "last_bill_amount",
    "last_bill_date",
    "data_used_mb",
    "data_quota_mb",
    "marketing_consent",
    "do_not_call",
    "created_at",
)
_PHONE_COLUMNS = ("customer_id", "number", "kind", "is_primary")


def mobile_number(index: int, rng: random.Random, offset: int) -> str:
    suffix = (_SUFFIX_MULT * index + offset) % 10**8
    return f"{rng.choice(MOBILE_PREFIXES)}{suffix:08d}"


def person_name(rng: random.Random) -> tuple[str, str]:
    """(name, language): four in five Chinese, the rest English-named (most of them English-speaking)."""
    if rng.random() < 0.8:
        return rng.choice(SURNAMES) + rng.choice(GIVEN), "zh"
    name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
    return name, "en" if rng.random() < 0.7 else "zh"


@dataclass(frozen=True, slots=True)
class SeededCustomers:
    customers: list[tuple[Any, ...]]  # in _CUSTOMER_COLUMNS order
    phones: list[tuple[Any, ...]]  # in _PHONE_COLUMNS order


def generate_customers(
    rng: random.Random, count: int, *, first_id: int, now: dt.datetime, number_offset: int
) -> SeededCustomers:
    """`count` customers with ids from `first_id`; one in five has a second number. Calls with
    the same `number_offset` and disjoint id ranges never share a number (so a big base can be
    generated in chunks)."""
    offset = number_offset
    bill_date = now.date().replace(day=1)
    weights = [p[3] for p in PLANS]
    customers: list[tuple[Any, ...]] = []
    phones: list[tuple[Any, ...]] = []
    phone_index = (first_id - 1) * 2  # two slots per customer id keeps indexes unique across calls
    for cid in range(first_id, first_id + count):
        name, language = person_name(rng)
        plan, fee, quota, _w = rng.choices(PLANS, weights)[0]
        segment = rng.choice(SEGMENTS)
        balance = Decimal(rng.randrange(-5_000, 30_000)) / 100
        customers.append(
            (
                cid,
                f"A{cid:09d}",
                name,
                language,
                "star1",
                segment,
                balance,
                plan,
                Decimal(fee) + Decimal(rng.randrange(0, 4_000)) / 100,
                bill_date,
                rng.randrange(0, quota),
                quota,
                rng.random() < 0.4,
                rng.random() < 0.05,
                now - dt.timedelta(days=rng.randrange(30, 3_650)),
            )
        )
        phones.append((cid, mobile_number(phone_index, rng, offset), "mobile", True))
        if rng.random() < 0.2:
            phones.append(
                (cid, mobile_number(phone_index + 1, rng, offset), rng.choice(("mobile", "home", "work")), False)
            )
        phone_index += 2
    return SeededCustomers(customers, phones)


async def _copy_or_insert(
    conn: AsyncConnection, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        raw = await conn.get_raw_connection()
        asyncpg_conn: Any = raw.driver_connection
        await asyncpg_conn.copy_records_to_table(table.name, records=rows, columns=list(columns))
        return
    for i in range(0, len(rows), 20_000):
        await insert_rows(conn, table, columns, rows[i : i + 20_000])


async def insert_customers(conn: AsyncConnection, seeded: SeededCustomers) -> None:
    """Bulk-insert generated customers and their numbers (COPY on PostgreSQL)."""
    await _copy_or_insert(conn, m.table_of(m.Customer), _CUSTOMER_COLUMNS, seeded.customers)
    await _copy_or_insert(conn, m.table_of(m.CustomerPhone), _PHONE_COLUMNS, seeded.phones)
    if conn.dialect.name == "postgresql":
        # Explicit ids bypassed the sequence; move it past them so later inserts do not collide.
        await conn.execute(
            text("SELECT setval(pg_get_serial_sequence('customers', 'id'), (SELECT max(id) FROM customers))")
        )


def _history(rng: random.Random, customer: tuple[Any, ...], now: dt.datetime) -> list[dict[str, Any]]:
    """A year of bills (postpaid) or recharges (prepaid); one customer in seven left months ago."""
    cid, segment, fee = customer[0], customer[5], PLAN_FEES[customer[7]]
    churned = rng.random() < 0.15
    last_month = rng.randrange(5, 13) if churned else 0
    rows: list[dict[str, Any]] = []
    for month in range(last_month, 12):
        # To the second, so no transaction sits exactly on an RFM bound (30, 60, ... days) where a
        # re-scoring a moment later would flip its score.
        at = now - dt.timedelta(days=30 * month + rng.randrange(0, 5), seconds=rng.randrange(1, 86_400))
        if segment == "prepaid":
            for _ in range(rng.choice((1, 1, 1, 2))):
                rows.append(
                    {
                        "customer_id": cid,
                        "at": at,
                        "amount": Decimal(rng.choice((30, 50, 50, 100))),
                        "kind": "recharge",
                        "reference": "",
                    }
                )
        else:
            amount = Decimal(fee) + Decimal(rng.randrange(0, fee * 20)) / 100
            rows.append({"customer_id": cid, "at": at, "amount": amount, "kind": "bill", "reference": ""})
        if rng.random() < 0.03:
            rows.append(
                {
                    "customer_id": cid,
                    "at": at + dt.timedelta(days=3),
                    "kind": "purchase",
                    "reference": "",
                    "amount": Decimal(rng.choice((49, 99, 199, 699))),
                }
            )
    return rows


# The hotline's skills: the same names the routing rules require (routing_rules/rules/hotline.yaml
# `skills:`) and the ACD matches, so agents' skills go to the ACD unchanged.
SKILLS = (
    ("billing", "Bills and payments"),
    ("data", "Data plans"),
    ("tech", "Network and devices"),
    ("complaints", "Complaints"),
    ("english", "English-speaking service"),
    ("vip", "VIP desk"),
)
# Each agent's main desk, round robin, at level 3, 4 or 5, and a backup desk at 1 or 2; a VIP
# desk (levels 5, 4, 3) and English (3..5). So every rule's skills, also the VIP complaint rule's
# complaints>=4, are met by some agent, and all levels 1..5 occur.
DESKS = ("billing", "data", "tech", "complaints")


def _agents(rng: random.Random, password_hash: str) -> tuple[list[m.Agent], list[m.AgentSkill]]:
    agents: list[m.Agent] = []
    skills: list[m.AgentSkill] = []
    for i in range(12):
        agent_id = str(1001 + i)
        name, _lang = person_name(rng)
        agents.append(
            m.Agent(
                id=agent_id,
                username=f"agent{agent_id}",
                name=name,
                password_hash=password_hash,
                role="agent",
                interface=f"PJSIP/{agent_id}",
                languages=["zh", "en"] if i % 3 == 0 else ["zh"],
                active=True,
            )
        )
        desk, backup = DESKS[i % 4], DESKS[(i + 1) % 4]
        skills.append(m.AgentSkill(agent_id=agent_id, skill=desk, level=3 + i // 4))
        skills.append(m.AgentSkill(agent_id=agent_id, skill=backup, level=rng.randrange(1, 3)))
        if i % 4 == 0:
            skills.append(m.AgentSkill(agent_id=agent_id, skill="vip", level=5 - i // 4))
        if i % 3 == 0:
            skills.append(m.AgentSkill(agent_id=agent_id, skill="english", level=3 + i // 3 % 3))
    for agent_id, username, role in (("9001", "supervisor", "supervisor"), ("9002", "admin", "admin")):
        agents.append(
            m.Agent(
                id=agent_id,
                username=username,
                name=username.title(),
                password_hash=password_hash,
                role=role,
                interface="",
                languages=["zh", "en"],
                active=True,
            )
        )
    return agents, skills


def _past_calls(rng: random.Random, seeded: SeededCustomers, now: dt.datetime) -> list[dict[str, Any]]:
    numbers = {p[0]: p[1] for p in seeded.phones if p[3]}
    calls: list[dict[str, Any]] = []
    for n, customer in enumerate(seeded.customers):
        if rng.random() >= 0.3:
            continue
        cid = customer[0]
        arrived = (now - dt.timedelta(days=rng.randrange(1, 90), seconds=rng.randrange(0, 86_400))).timestamp()
        queue = rng.choice(("general", "billing", "data", "tech"))
        answered = rng.random() < 0.85
        wait = rng.uniform(3, 60)
        talk = rng.uniform(30, 400) if answered else 0.0
        ended = arrived + 20 + wait + talk
        calls.append(
            CallRecordData(
                call_id=f"seed-{n:07d}",
                direction="inbound",
                ani=numbers[cid],
                dnis="10086",
                customer_id=cid,
                arrived_at=arrived,
                ivr_exited_at=arrived + 20,
                queued_at=arrived + 20,
                offered_at=arrived + 20 + wait - 2 if answered else None,
                answered_at=arrived + 20 + wait if answered else None,
                ended_at=ended,
                wrap_up_ended_at=ended + 10 if answered else None,
                wait_s=round(wait, 3),
                talk_s=round(talk, 3),
                wrap_up_s=10.0 if answered else 0.0,
                queue=queue,
                agent_id=str(1001 + rng.randrange(12)) if answered else None,
                offers=1 if answered else 0,
                priority_class="standard",
                ivr_flow="hotline",
                ivr_path=("welcome", "main", queue),
                hangup_side=rng.choice(("caller", "agent")) if answered else "caller",
                hangup_cause=16,
                disposition=rng.choice(("resolved", "resolved", "follow-up", "information")) if answered else "",
                outcome="answered" if answered else "abandoned",
            ).to_json()
        )
    return calls


async def seed_demo(
    engine: AsyncEngine,
    *,
    customers: int = 3000,
    seed: int = 7,
    now: dt.datetime,
    agent_password: str,
    tiers: TierConfig = DEFAULT_TIER_CONFIG,
    rules_file: Path = DEFAULT_RULES_FILE,
) -> dict[str, int]:
    """Fill an empty CRM; returns how many rows of each kind were created. The `queues` table is
    filled from `rules_file`, the routing rules (see `write_queue_mirror`)."""
    rng = random.Random(seed)
    queues = load_rules(rules_file).queues.values()
    async with engine.begin() as conn:
        existing = (await conn.execute(select(func.count()).select_from(m.Customer))).scalar_one()
        if existing:
            raise ValueError(f"the CRM already has {existing} customers; seeding needs an empty CRM")
        seeded = generate_customers(rng, customers, first_id=1, now=now, number_offset=rng.randrange(10**8))
        await insert_customers(conn, seeded)
        history = [row for c in seeded.customers for row in _history(rng, c, now)]
        await conn.execute(insert(m.table_of(m.Transaction)), history)
        await conn.execute(insert(m.table_of(m.Skill)), [{"name": n, "description": d} for n, d in SKILLS])
        queue_count = await write_queue_mirror(conn, queues)
        # NOTE(crm): one argon2 hash shared by every demo agent (same demo password): hashing is
        # deliberately slow, and these accounts are for the demo only.
        agents, agent_skills = _agents(rng, hash_password(agent_password))
        calls = _past_calls(rng, seeded, now)
        await write_call_records(conn, calls)
        complaints = [
            {
                "customer_id": c["customer_id"],
                "call_id": c["call_id"],
                "opened_at": dt.datetime.fromtimestamp(c["arrived_at"], dt.UTC),
                "category": rng.choice(("billing", "network", "service")),
                "status": "open",
                "summary": "",
                "closed_at": None,
                "agent_id": c["agent_id"],
            }
            for c in calls
            if rng.random() < 0.1
        ]
        if complaints:
            await conn.execute(insert(m.table_of(m.Complaint)), complaints)
    async with AsyncSession(engine, expire_on_commit=False) as session:
        session.add_all(agents)
        await session.flush()
        session.add_all(agent_skills)
        summary = await recompute_rfm(session, tiers, as_of=now)
        await session.commit()
    counts = {
        "customers": len(seeded.customers),
        "phones": len(seeded.phones),
        "transactions": len(history),
        "agents": len(agents),
        "queues": queue_count,
        "calls": len(calls),
        "complaints": len(complaints),
    }
    counts.update({f"tier_{k}": v for k, v in summary.tiers.items()})
    logger.info("seed %s: %s", seed, counts)
    return counts
