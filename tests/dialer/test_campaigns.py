"""The campaign service on a real, migrated CRM database (SQLite, and PostgreSQL when reachable)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from callcenter.errors import ConfigError
from crm import models as m
from crm.db import make_sessionmaker
from dialer import campaigns as svc
from tests.crm.conftest import engine, pg_template  # noqa: F401 - fixtures


@pytest.fixture
def db(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:  # noqa: F811 - the imported fixture
    return make_sessionmaker(engine)


NOW = dt.datetime(2026, 3, 10, 15, 0, tzinfo=dt.UTC)
SETTINGS = {"agents": ["1001"], "skills": ["retention>=2"], "dispositions": ["sale", "no-interest"], "country": "US"}
LIST = """id,phone,name,timezone,consent,plan
a,(212) 555-0100,Ann,,yes,gold
b,12345,Bob,,,silver
c,+1 415 555 0199,Cleo,,,
d,212-555-0100,Dup,,,
"""


async def _campaign(s: AsyncSession, cid: str = "retention", **kw: object) -> m.Campaign:
    return await svc.create_campaign(s, cid, name="Retention", queue="retention", settings=SETTINGS, now=NOW, **kw)  # type: ignore[arg-type]


async def test_import_adds_valid_rows_and_reports_every_rejected_one(db: async_sessionmaker[AsyncSession]) -> None:
    async with db() as s:
        await _campaign(s)
        report = await svc.import_contacts(s, "retention", LIST)
        assert report.to_json() == {
            "added": 2,
            "rejected_rows": 2,
            "rejections": [
                "row 3, column phone: '12345' has 5 national digits; a US number has 10",
                "row 5, column phone: +12125550100 duplicates row 2",
            ],
        }
        # A second import of the same list: the accepted rows are now duplicates of the campaign's.
        again = await svc.import_contacts(s, "retention", LIST)
        assert [str(r) for r in again.rejections] == [
            "row 2, column phone: +12125550100 is already in campaign retention",
            "row 3, column phone: '12345' has 5 national digits; a US number has 10",
            "row 4, column phone: +14155550199 is already in campaign retention",
            "row 5, column phone: +12125550100 duplicates row 2",
        ]
        rows = (await s.execute(select(m.CampaignContact).order_by(m.CampaignContact.id))).scalars().all()
        assert [(r.id, r.number, r.timezone, r.status) for r in rows] == [
            ("retention:a", "+12125550100", "America/New_York", "pending"),
            ("retention:c", "+14155550199", "America/Los_Angeles", "pending"),
        ]
        contact = svc.contact_of(rows[0])
        assert (contact.consent, contact.fields, contact.country) == (True, {"plan": "gold"}, "US")


async def test_segment_takes_tier_customers_not_heard_from_lately(db: async_sessionmaker[AsyncSession]) -> None:
    async with db() as s:
        for i, (tier, recency, dnc) in enumerate(
            [("star3", 1, False), ("star3", 4, False), ("star1", 1, False), ("star3", 2, True), ("star3", 2, False)], start=1
        ):
            s.add(m.Customer(id=i, account_number=f"A{i}", name=f"C{i}", tier=tier, rfm_recency=recency,
                             do_not_call=dnc, created_at=NOW))
            s.add(m.CustomerPhone(customer_id=i, number=f"1380013800{i}", is_primary=True))
        await s.commit()
        await svc.create_campaign(s, "winback", name="Win back", queue="retention", settings={"country": "CN"}, now=NOW)
        report = await svc.add_segment(s, "winback", tier="star3", recency_below=3)
        assert (report.added, report.rejections) == (2, ())
        rows = (await s.execute(select(m.CampaignContact).order_by(m.CampaignContact.id))).scalars().all()
        assert [(r.id, r.number, r.customer_id, r.timezone) for r in rows] == [
            ("winback:c1", "+8613800138001", 1, "Asia/Shanghai"),
            ("winback:c5", "+8613800138005", 5, "Asia/Shanghai"),
        ]


async def test_status_follows_start_pause_resume_stop(db: async_sessionmaker[AsyncSession]) -> None:
    async with db() as s:
        await _campaign(s)
        with pytest.raises(svc.CampaignError) as empty:
            await svc.change_status(s, "retention", "start")
        assert str(empty.value) == "campaign retention: can't start a campaign without contacts"
        await svc.import_contacts(s, "retention", LIST)
        await svc.create_campaign(s, "nobody", name="N", queue="q", now=NOW)
        await svc.import_contacts(s, "nobody", LIST)
        with pytest.raises(svc.CampaignError) as no_agents:
            await svc.change_status(s, "nobody", "start")
        assert str(no_agents.value) == "campaign nobody: can't start a campaign without agents (settings.agents)"
        seen = [(await svc.change_status(s, "retention", a)).status for a in ("start", "pause", "resume", "stop")]
        assert seen == ["running", "paused", "running", "done"]
        with pytest.raises(svc.CampaignError) as late:
            await svc.change_status(s, "retention", "resume")
        assert (late.value.error_id, str(late.value)) == ("invalid-state", "campaign retention: can't resume a campaign that is done")
        with pytest.raises(svc.CampaignError) as missing:
            await svc.change_status(s, "nope", "start")
        assert str(missing.value) == "campaign 'nope' does not exist"


async def test_progress_counts_outcomes_and_abandons_per_window(db: async_sessionmaker[AsyncSession]) -> None:
    async with db() as s:
        await _campaign(s)
        await svc.import_contacts(s, "retention", LIST)
        base = NOW - dt.timedelta(hours=3)
        outcomes = ["human", "abandoned", "busy", "human", ""]
        for i, outcome in enumerate(outcomes):
            s.add(m.CampaignAttempt(campaign_id="retention", contact_id="retention:a", number="+12125550100",
                                    started_at=base + dt.timedelta(minutes=45 * i), outcome=outcome))
        await s.commit()
        report = await svc.progress(s, "retention", now=NOW)
        assert report["dials"] == 5 and report["answers"] == 3
        assert report["outcomes"] == {"abandoned": 1, "busy": 1, "human": 2, "in-progress": 1}
        assert report["contacts"] == {"pending": 2, "done": 0, "failed": 0, "dnc": 0, "total": 2}
        # The abandon came 2 h 15 min before NOW: in the day and the 30 days, not in the last hour.
        assert report["abandon_windows"] == [
            {"window": "rolling-30d", "answers": 3, "abandons": 1, "rate": 0.3333},
            {"window": "calendar-day", "answers": 3, "abandons": 1, "rate": 0.3333},
            {"window": "live-1h", "answers": 1, "abandons": 0, "rate": 0.0},
        ]
        history = await svc.attempts_by_number(s, ["+12125550100"], since=base)
        assert [a.outcome.value for a in history["+12125550100"]] == ["human", "abandoned", "busy", "human"]


async def test_bad_settings_are_refused_naming_the_key(db: async_sessionmaker[AsyncSession]) -> None:
    async with db() as s:
        with pytest.raises(svc.CampaignError) as exc:
            await svc.create_campaign(s, "x", name="X", queue="q", settings={"machine": "sing"}, now=NOW)
        assert str(exc.value) == "campaign x: settings.machine: 'sing'; expected one of message, hangup"
        with pytest.raises(svc.CampaignError) as mode:
            await svc.create_campaign(s, "x", name="X", queue="q", mode="ratio", now=NOW)
        assert str(mode.value) == "campaign x: mode 'ratio'; expected preview, progressive or predictive"
        await _campaign(s)
        with pytest.raises(svc.CampaignError) as dup:
            await _campaign(s)
        assert dup.value.error_id == "campaign-exists"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"skills": ["billing>=x"]}, "settings.skills[0]: 'billing>=x'; expected 'skill' or 'skill>=level'"),
        ({"abandon_limit": 3}, "settings.abandon_limit: 3.0; expected a share below 1 (0.03 is 3%)"),
        ({"campaign_dnc": ["12"]}, "settings.campaign_dnc[0]: '12' has 2 national digits; a US number has 10"),
        ({"compliance": {"max_attempts": -1}}, "settings.compliance.max_attempts: -1; expected a non-negative integer"),
        ({"colour": "red"}, "settings: unknown key 'colour'; expected one of agents, skills, script, dispositions, "
         "country, compliance, abandon_limit, ring_timeout_s, grace_s, machine, trunk, campaign_dnc, tick_s, dnc_refresh_s, preview_skip_s"),
    ],
)
def test_settings_errors(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        svc.parse_settings(settings)
    assert str(exc.value) == message
