"""The campaign manager's REST API over HTTP (httpx on the ASGI app), on a real SQLite CRM; the
CTI's tokens and roles decide who may manage campaigns."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from crm.db import make_engine, make_sessionmaker, upgrade
from cti.auth import Authenticator, LoginLimiter, TokenSigner
from dialer.api import build_router
from tests.asgi import router_app
from tests.cti.conftest import ACCOUNTS, HashedAccounts

LIST = "id,phone,name\na,(212) 555-0100,Ann\nb,12345,Bob\n"


class Control:
    """Stands for the running control plane's CampaignSupervisor: records what it was told."""

    def __init__(self) -> None:
        self.applied: list[tuple[str, str]] = []

    async def apply(self, campaign_id: str, action: str) -> None:
        self.applied.append((campaign_id, action))

    def snapshot(self, campaign_id: str) -> dict[str, Any] | None:
        return {"dials": 7, "occupancy": 0.9} if (campaign_id, "start") in self.applied else None


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Control, dict[str, str]]]:
    signer = TokenSigner("a-test-secret-of-enough-length")
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'crm.sqlite3'}")
    await upgrade(engine)
    auth = Authenticator(HashedAccounts(), signer, LoginLimiter(5))
    control = Control()
    app = router_app(build_router(make_sessionmaker(engine), auth, control=control))
    tokens = {name: signer.issue(account)[0] for name, account in ACCOUNTS.items()}
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cc") as http:
            yield http, control, tokens
    finally:
        await engine.dispose()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_supervisor_creates_imports_starts_and_watches_a_campaign(client: Any) -> None:
    http, control, tokens = client
    sup = bearer(tokens["supervisor"])
    created = await http.post("/api/v1/campaigns", headers=sup, json={
        "id": "spring", "name": "Spring", "queue": "retention", "caller_id": "10086",
        "settings": {"agents": ["1001"], "country": "US"},
    })
    assert created.status_code == 201
    assert (created.json()["status"], created.json()["contacts"]["total"]) == ("draft", 0)
    imported = await http.post("/api/v1/campaigns/spring/contacts", headers=sup | {"Content-Type": "text/csv"},
                               content=LIST.encode())
    assert imported.json() == {"added": 1, "rejected_rows": 1,
                               "rejections": ["row 3, column phone: '12345' has 5 national digits; a US number has 10"]}
    started = await http.post("/api/v1/campaigns/spring/start", headers=sup)
    assert started.json() == {"campaign_id": "spring", "status": "running", "by": "supervisor"}
    assert control.applied == [("spring", "start")]
    shown = (await http.get("/api/v1/campaigns/spring", headers=sup)).json()
    assert (shown["status"], shown["contacts"]["pending"], shown["live"]) == ("running", 1, {"dials": 7, "occupancy": 0.9})
    assert [w["window"] for w in shown["abandon_windows"]] == ["rolling-30d", "calendar-day", "live-1h"]
    listed = (await http.get("/api/v1/campaigns", headers=sup)).json()
    assert listed == [{"campaign_id": "spring", "name": "Spring", "mode": "progressive", "status": "running", "queue": "retention"}]
    page = await http.get("/campaigns")
    assert page.status_code == 200 and "/api/v1/campaigns" in page.text


async def test_an_agent_cannot_manage_campaigns_and_nobody_without_a_token(client: Any) -> None:
    http, control, tokens = client
    agent = await http.post("/api/v1/campaigns", headers=bearer(tokens["agent1001"]),
                            json={"id": "x", "name": "X", "queue": "q"})
    assert agent.status_code == 403
    assert agent.json()["message"] == "managing campaigns needs the supervisor or admin role"
    assert (await http.get("/api/v1/campaigns", headers=bearer(tokens["agent1001"]))).status_code == 403
    anonymous = await http.get("/api/v1/campaigns")
    assert anonymous.status_code == 401
    assert control.applied == []


async def test_errors_name_what_was_wrong(client: Any) -> None:
    http, control, tokens = client
    sup = bearer(tokens["supervisor"])
    missing = await http.post("/api/v1/campaigns/nope/start", headers=sup)
    assert (missing.status_code, missing.json()["error_id"], missing.json()["message"]) == (
        404, "no-such-campaign", "campaign 'nope' does not exist")
    bad = await http.post("/api/v1/campaigns", headers=sup,
                          json={"id": "x", "name": "X", "queue": "q", "settings": {"grace_s": 0}})
    assert (bad.status_code, bad.json()["message"]) == (400, "campaign x: settings.grace_s: 0; expected a positive number")
    await http.post("/api/v1/campaigns", headers=sup, json={"id": "x", "name": "X", "queue": "q"})
    early = await http.post("/api/v1/campaigns/x/pause", headers=sup)
    assert (early.status_code, early.json()["message"]) == (409, "campaign x: can't pause a campaign that is draft")
    binary = await http.post("/api/v1/campaigns/x/contacts", headers=sup, content=b"phone\n\xff\n")
    assert binary.json()["message"] == "the list is not UTF-8: byte 6 is 0xff"
    assert control.applied == []
