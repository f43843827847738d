"""Demo data is believable and deterministic; the `callcenter db/crm` commands work end to end."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from callcenter.cli import main
from crm import models as m
from crm.db import make_engine, upgrade
from crm.repositories import authenticate, load_agents, load_queues, lookup_by_ani
from crm.seed import seed_demo
from routing_rules.loader import DEFAULT_RULES_FILE, load_rules

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


async def test_seeded_base_is_believable(engine: AsyncEngine) -> None:
    counts = await seed_demo(engine, customers=300, seed=11, now=NOW, agent_password="pw")
    assert (counts["customers"], counts["agents"], counts["queues"]) == (300, 14, 7)
    assert counts["phones"] > 300 and counts["transactions"] > 300 * 6 and counts["calls"] > 30
    async with AsyncSession(engine) as s:
        numbers = (await s.execute(select(m.CustomerPhone.number))).scalars().all()
        assert len(set(numbers)) == len(numbers) == counts["phones"]
        assert all(re.fullmatch(r"1[3-9]\d{9}", n) for n in numbers)
        names = (await s.execute(select(m.Customer.name, m.Customer.language))).all()
        assert any(re.fullmatch(r"[\u4e00-\u9fff]{2,3}", n) for n, _ in names)
        assert any(re.fullmatch(r"[A-Z][a-z]+ [A-Z][a-z]+", n) and lang == "en" for n, lang in names)
        tiers = dict((await s.execute(select(m.Customer.tier, func.count()).group_by(m.Customer.tier))).all())
        assert {"vip", "star4", "star3", "star2", "star1"} <= set(tiers)  # value spread, not all alike
        assert tiers["star3"] > tiers["vip"]
        card = await lookup_by_ani(s, f"+86 {numbers[0]}")
        assert card is not None and card.plan and card.last_bill_date == dt.date(2026, 6, 1)
        account = await authenticate(s, "agent1001", "pw")
        assert account is not None and account.interface == "PJSIP/1001" and dict(account.skills)["billing"] == 3
        assert await authenticate(s, "supervisor", "pw") is not None
        queues = {q.name: q for q in await load_queues(s)}  # a mirror of the routing rules' queues
        assert sorted(queues) == ["billing", "complaints", "data", "english", "general", "tech", "vip"]
        assert (queues["vip"].strategy, queues["vip"].skills, queues["vip"].service_level_s) == ("most-skilled", (("vip", 1),), 10)
        agents = [dict(a.skills) for a in await load_agents(s) if a.role == "agent"]
        assert {level for skills in agents for level in skills.values()} == {1, 2, 3, 4, 5}
        for rule in load_rules(DEFAULT_RULES_FILE).rules:  # every rule's skills are some agent's, unmapped
            assert any(all(skills.get(r.skill, 0) >= r.min_level for r in rule.route.skills) for skills in agents), rule
    with pytest.raises(ValueError) as exc:
        await seed_demo(engine, customers=10, seed=11, now=NOW, agent_password="pw")
    assert str(exc.value) == "the CRM already has 300 customers; seeding needs an empty CRM"


async def test_the_same_seed_gives_the_same_subscribers(tmp_path: Path) -> None:
    rows = []
    for name in ("a", "b"):
        engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / name}.sqlite3")
        try:
            await upgrade(engine)
            await seed_demo(engine, customers=50, seed=3, now=NOW, agent_password="pw")
            async with engine.connect() as conn:
                rows.append(
                    (
                        await conn.execute(
                            select(m.Customer.name, m.Customer.balance, m.Customer.tier, m.CustomerPhone.number)
                            .join(m.CustomerPhone)
                            .order_by(m.CustomerPhone.number)
                        )
                    ).all()
                )
        finally:
            await engine.dispose()
    assert rows[0] == rows[1] and len(rows[0]) >= 50


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CALLCENTER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("CALLCENTER_CONFIG", raising=False)
    monkeypatch.delenv("CALLCENTER_DATABASE__URL", raising=False)
    monkeypatch.setenv("CALLCENTER_LOG_LEVEL", "WARNING")
    return tmp_path


def test_cli_seed_rfm_lookup_export_and_outbox(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["crm", "seed", "--customers", "120", "--seed", "5"]) == 0
    seeded = json.loads(capsys.readouterr().out)
    assert seeded["customers"] == 120
    assert main(["crm", "seed", "--customers", "5"]) == 1
    assert (
        capsys.readouterr().err
        == "callcenter crm seed: the CRM already has 120 customers; seeding needs an empty CRM\n"
    )

    assert main(["crm", "rfm"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["changed"] == 0 and sum(out["tiers"].values()) == out["scored"]  # seeding already scored them

    assert main(["crm", "lookup", "13700000000"]) == 1
    assert capsys.readouterr().err == "no customer has the number '13700000000'\n"

    calls = cli_env / "calls.csv"
    assert main(["crm", "export", "calls", str(calls)]) == 0
    assert capsys.readouterr().out == f"{calls}: {seeded['calls']} calls exported\n"
    assert len(calls.read_text(encoding="utf-8").splitlines()) == seeded["calls"] + 1

    assert main(["crm", "export", "calls", str(calls), "--since", "last week"]) == 2
    assert capsys.readouterr().err == (
        "callcenter: --since has value 'last week'; expected an ISO date or time (2026-05-01 or 2026-05-01T08:00)\n"
    )
    assert main(["crm", "outbox"]) == 0
    assert capsys.readouterr().out == '{"waiting": 0, "dead": 0}\n'


def test_cli_import_reports_rejected_rows_and_exit_status(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = cli_env / "bad.csv"
    bad.write_text("account_number,name,phones\nA1,张伟,13800138000\nA2,,13900139000\nA3,李娜,x\n", encoding="utf-8")
    assert main(["crm", "import", "customers", str(bad)]) == 1
    captured = capsys.readouterr()
    assert captured.err == (
        f"{bad}: row 3, column name: is empty; a value is required\n"
        f"{bad}: row 4, column phones: 'x' is not a phone number\n"
    )
    assert captured.out == f"{bad}: 2 rows rejected; nothing imported (use --skip-bad to import the rest)\n"
    assert main(["crm", "lookup", "13800138000"]) == 1  # nothing half-imported
    capsys.readouterr()

    assert main(["crm", "import", "customers", str(bad), "--skip-bad"]) == 1
    assert capsys.readouterr().out == f"{bad}: 1 imported, 2 rows rejected\n"
    assert main(["crm", "lookup", "+86 138 0013 8000"]) == 0
    assert json.loads(capsys.readouterr().out)["account_number"] == "A1"

    missing = cli_env / "missing.csv"
    assert main(["crm", "import", "customers", str(missing)]) == 1
    assert capsys.readouterr().err == f"callcenter crm import: {missing}: No such file or directory\n"
