"""Every dial and no-dial a runner decides lands in `dial_decisions` through the CRM outbox, and
supervisors read them back over REST and the command line."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from callcenter import events as ev
from callcenter.cli import main
from crm.db import make_engine, make_sessionmaker
from crm.outbox import Outbox, OutboxWriter
from cti.auth import Authenticator, LoginLimiter, TokenSigner
from dialer.api import build_router
from tests.asgi import router_app
from tests.cti.conftest import ACCOUNTS, HashedAccounts
from tests.dialer.test_runner import ANN_AND_BOB, NOW, harness

ANN_REFUSED = {"contact_id": "c:a", "number": "+12125550100", "allowed": False, "reasons": ["campaign-dnc"],
               "next_allowed_at": None, "agent_reserved": True, "decided_at": NOW.timestamp()}
BOB_DIALED = {"contact_id": "c:b", "number": "+12125550101", "allowed": True, "reasons": [],
              "next_allowed_at": None, "agent_reserved": True, "decided_at": NOW.timestamp()}


async def decide(tmp_path: Path) -> AsyncEngine:
    """Run the campaign until it dials: Ann is on the campaign's DNC list, Bob is dialed; the
    outbox is then drained into the CRM at tmp_path/crm.sqlite3 (an engine on it is returned)."""
    async with harness(tmp_path, contacts=ANN_AND_BOB, settings={"campaign_dnc": ["+1 212 555 0100"]}) as h:
        await h.until(lambda: h.port.commands)
        assert [(d.contact_id, d.allowed) for d in h.facts(ev.DialDecided)] == [("c:a", False), ("c:b", True)]
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'crm.sqlite3'}")
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    try:
        writer = OutboxWriter(outbox, engine)
        while await writer.drain_once():
            pass
        assert outbox.counts() == (0, 0)
    finally:
        outbox.close()
    return engine


async def test_supervisors_read_the_decisions_over_rest(tmp_path: Path) -> None:
    engine = await decide(tmp_path)
    signer = TokenSigner("a-test-secret-of-enough-length")
    app = router_app(build_router(make_sessionmaker(engine), Authenticator(HashedAccounts(), signer, LoginLimiter(5))))
    tokens = {name: signer.issue(account)[0] for name, account in ACCOUNTS.items()}
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cc") as http:
            sup = {"Authorization": f"Bearer {tokens['supervisor']}"}
            every = await http.get("/api/v1/campaigns/c/decisions", headers=sup)
            assert every.status_code == 200
            assert sorted(every.json(), key=lambda d: d["contact_id"]) == [ANN_REFUSED, BOB_DIALED]
            one = await http.get("/api/v1/campaigns/c/decisions?limit=1", headers=sup)
            assert len(one.json()) == 1
            agent = await http.get("/api/v1/campaigns/c/decisions", headers={"Authorization": f"Bearer {tokens['agent1001']}"})
            assert (agent.status_code, agent.json()["error_id"]) == (403, "forbidden")
            bad = await http.get("/api/v1/campaigns/c/decisions?limit=0", headers=sup)
            assert (bad.status_code, bad.json()["message"]) == (400, "limit 0: expected 1 to 1000")
            missing = await http.get("/api/v1/campaigns/nope/decisions", headers=sup)
            assert (missing.status_code, missing.json()["error_id"]) == (404, "no-such-campaign")
    finally:
        await engine.dispose()


def test_the_command_line_prints_the_decisions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async def decided() -> None:
        await (await decide(tmp_path)).dispose()

    asyncio.run(asyncio.wait_for(decided(), 30))
    monkeypatch.setenv("CALLCENTER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("CALLCENTER_CONFIG", raising=False)
    monkeypatch.setenv("CALLCENTER_DATABASE__URL", f"sqlite+aiosqlite:///{tmp_path / 'crm.sqlite3'}")
    monkeypatch.setenv("CALLCENTER_LOG_LEVEL", "WARNING")
    assert main(["campaign", "decisions", "c", "--json"]) == 0
    assert sorted(json.loads(capsys.readouterr().out), key=lambda d: d["contact_id"]) == [ANN_REFUSED, BOB_DIALED]
    assert main(["campaign", "decisions", "c"]) == 0
    assert sorted(capsys.readouterr().out.splitlines()) == [
        "2026-03-10T15:00:00+00:00\tc:a\t+12125550100\tno-dial campaign-dnc (agent reserved)",
        "2026-03-10T15:00:00+00:00\tc:b\t+12125550101\tdial (agent reserved)",
    ]
    assert main(["campaign", "decisions", "ghost"]) == 1
    assert capsys.readouterr().err == "callcenter campaign decisions: campaign 'ghost' does not exist\n"
