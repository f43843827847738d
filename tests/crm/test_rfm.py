"""RFM scores and tiers: the pure scoring rules, the YAML, and the recomputation on a database."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter.errors import ConfigError
from crm import models as m
from crm.importers import import_transactions
from crm.repositories import lookup_by_ani, recompute_rfm
from crm.rfm import DEFAULT_TIER_CONFIG, DEFAULT_TIERS_FILE, CustomerFacts, load_tier_config, parse_tier_config, score

AS_OF = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


def _facts(days_ago: float | None, count: int, total: str) -> CustomerFacts:
    last = None if days_ago is None else AS_OF - dt.timedelta(days=days_ago)
    return CustomerFacts(customer_id=1, last_at=last, count=count, total=Decimal(total))


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        (_facts(5, 12, "7200"), (5, 3, 5, "vip")),
        (_facts(5, 12, "5999.99"), (5, 3, 4, "star5")),  # 12 points but short of VIP's 6000 floor
        (_facts(30, 36, "6000"), (5, 5, 5, "vip")),  # every bound is inclusive
        (_facts(30.01, 35, "5999.99"), (4, 4, 4, "star5")),
        (_facts(100, 12, "7200"), (3, 3, 5, "star4")),  # a big spender who stopped paying
        (_facts(5, 12, "1440"), (5, 3, 3, "star4")),
        (_facts(5, 12, "840"), (5, 3, 2, "star3")),
        (_facts(5, 12, "456"), (5, 3, 1, "star2")),
        (_facts(300, 3, "114"), (1, 1, 1, "star1")),
        (_facts(None, 0, "0"), (1, 1, 1, "star1")),
    ],
)
def test_scores_and_tiers_follow_the_default_thresholds(facts: CustomerFacts, expected: tuple[Any, ...]) -> None:
    s = score(facts, DEFAULT_TIER_CONFIG, as_of=AS_OF)
    assert (s.recency, s.frequency, s.monetary, s.tier) == expected


def test_tier_priority_mapping_for_routing() -> None:
    got = {t.name: DEFAULT_TIER_CONFIG.priority_for(t.name) for t in DEFAULT_TIER_CONFIG.tiers}
    assert {k: (p.priority_class, p.priority) for k, p in got.items()} == {
        "vip": ("vip", 100),
        "star5": ("gold", 80),
        "star4": ("gold", 60),
        "star3": ("silver", 40),
        "star2": ("standard", 0),
        "star1": ("standard", 0),
    }
    assert DEFAULT_TIER_CONFIG.priority_for("diamond").priority_class == "standard"


def _default_yaml() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(DEFAULT_TIERS_FILE.read_text(encoding="utf-8"))
    return data


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"monetary": [600, 1200, 3000, 6000]}, "T: monetary must be decreasing, got [600, 1200, 3000, 6000]"),
        ({"recency_days": [30, 60]}, "T: recency_days must be a list of 4 numbers, got [30, 60]"),
        ({"window_days": 0}, "T: window_days must be a positive integer, got 0"),
        (
            {"tiers": [{"name": "vip", "min_score": 14}]},
            "T: the last tier (vip) must accept everyone (min_score at most 3, no min_monetary)",
        ),
        ({"priority": {}}, "T: priority.vip needs a class and an integer priority, got None"),
    ],
)
def test_bad_tier_config_is_refused_with_the_reason(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_tier_config({**_default_yaml(), **change}, "T")
    assert str(exc.value) == message


def test_operator_file_replaces_the_default(tmp_path: Path) -> None:
    data = _default_yaml()
    data["tiers"][0]["min_monetary"] = 10000
    path = tmp_path / "tiers.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    config = load_tier_config(path)
    assert score(_facts(5, 12, "7200"), config, as_of=AS_OF).tier == "star5"
    with pytest.raises(ConfigError) as exc:
        load_tier_config(tmp_path / "missing.yaml")
    assert str(exc.value) == f"tier config {tmp_path / 'missing.yaml'}: No such file or directory"


def _monthly(account: str, amount: str, months: int, last_days_ago: int) -> list[str]:
    return [
        f"{account},{(AS_OF - dt.timedelta(days=last_days_ago + 30 * i)).isoformat()},{amount},bill"
        for i in range(months)
    ]


async def test_recompute_from_imported_billing_history_gives_the_expected_tiers(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    accounts = ["A1", "A2", "A3", "A4", "A5", "A6", "A7", "A8"]
    async with sessions() as s:
        for i, account in enumerate(accounts, start=1):
            s.add(
                m.Customer(
                    account_number=account,
                    name=account,
                    tier="star3",
                    created_at=AS_OF,
                    phones=[m.CustomerPhone(number=f"1380000000{i}", is_primary=True)],
                )
            )
        await s.commit()
    rows = [
        *_monthly("A1", "600", 12, 5),  # 7200: vip
        *_monthly("A2", "300", 12, 5),  # 3600: star5
        *_monthly("A3", "120", 12, 5),  # 1440: star4
        *_monthly("A4", "70", 12, 5),  # 840: star3
        *_monthly("A5", "38", 12, 5),  # 456: star2
        *_monthly("A6", "38", 3, 300),  # left: star1
        *_monthly("A8", "800", 9, 100),  # 7200, but stopped paying 100 days ago: star3
        "A1,2027-01-01T00:00:00+00:00,99999,purchase",  # after as_of: ignored
    ]  # A7 has no history and keeps its tier
    path = tmp_path / "billing.csv"
    path.write_text("account_number,at,amount,kind\n" + "\n".join(rows) + "\n", encoding="utf-8")
    async with sessions() as s:
        report = await import_transactions(s, path)
    assert (report.imported, report.problems) == (len(rows), [])

    async with sessions() as s:
        summary = await recompute_rfm(s, DEFAULT_TIER_CONFIG, as_of=AS_OF)
        await s.commit()
    assert (summary.scored, summary.changed) == (7, 5)
    assert summary.tiers == {"star1": 1, "star2": 1, "star3": 2, "star4": 1, "star5": 1, "vip": 1}
    async with sessions() as s:
        tiers = {a: t for a, t in await s.execute(select(m.Customer.account_number, m.Customer.tier))}
        assert tiers == {
            "A1": "vip",
            "A2": "star5",
            "A3": "star4",
            "A4": "star3",
            "A5": "star2",
            "A6": "star1",
            "A7": "star3",
            "A8": "star3",
        }
        a1 = (await s.execute(select(m.Customer).where(m.Customer.account_number == "A1"))).scalar_one()
        assert (a1.rfm_recency, a1.rfm_frequency, a1.rfm_monetary, a1.rfm_scored_at) == (5, 3, 5, AS_OF)
        card = await lookup_by_ani(s, "+86 138 0000 0001")
        assert card is not None and (card.tier, card.priority_class) == ("vip", "vip")
