"""The HTTP surface as an attacker sees it: which routes answer without a token, which need the
supervisor role, and what malformed, oversized or non-ASCII input gets (a clear error, never a 500)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from fastapi.routing import APIRoute, APIWebSocketRoute
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from callcenter import events as ev
from callcenter.bus import EventBus
from cti.api_models import Credentials, NotReady, Transfer, validate
from cti.app import MAX_BODY_BYTES, BodyLimit, create_app
from cti.auth import Account, Authenticator, LoginLimiter, TokenSigner
from cti.recordings import build_recordings_router
from cti.service import CtiService
from dialer.api import BODY_LIMITS, MAX_CSV_BYTES
from dialer.api import build_router as build_campaigns_router
from pbx.calls import CallTracker
from recorder.index import RecordingIndex
from tests.cti.conftest import SECRET, Cards, Harness, HashedAccounts, RecordingPort

# Routes anyone may call: logging in, health, the pages (their data comes from the API) and the
# API's own description.
PUBLIC = {
    ("POST", "/api/v1/session"), ("GET", "/status"), ("GET", "/"), ("GET", "/supervisor"),
    ("GET", "/wallboard"), ("GET", "/campaigns"), ("GET", "/api/v1/openapi.json"), ("GET", "/api/docs"),
}
SUPERVISOR_ONLY = {
    ("GET", "/api/v1/queues"), ("GET", "/api/v1/agents"), ("GET", "/api/v1/recordings/audit"),
    ("GET", "/api/v1/campaigns"), ("POST", "/api/v1/campaigns"), ("POST", "/api/v1/campaigns/{campaign_id}/contacts"),
    ("POST", "/api/v1/campaigns/{campaign_id}/segment"), ("POST", "/api/v1/campaigns/{campaign_id}/{action}"),
    ("GET", "/api/v1/campaigns/{campaign_id}/decisions"), ("GET", "/api/v1/campaigns/{campaign_id}"),
}
AGENT = Account(agent_id=ev.AgentId("1001"), username="agent1001", name="Li Na", role="agent", interface="PJSIP/1001")


@pytest.fixture
async def full_app(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, TokenSigner, list[tuple[str, str]]]]:
    """The app as the control plane builds it (CTI, recordings, campaigns), not started: every
    request here is refused before a route touches the service or the database."""
    signer = TokenSigner(SECRET)
    auth = Authenticator(HashedAccounts(), signer, LoginLimiter(5))
    service = CtiService(bus=EventBus(), commands=RecordingPort(),
                         calls=CallTracker(variables=()), cards=Cards())
    index = RecordingIndex(tmp_path / "index.sqlite3")
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'crm.sqlite3'}")
    app = create_app(service, auth, routers=[
        build_recordings_router(service, auth, index=index, recordings_dir=tmp_path),
        build_campaigns_router(async_sessionmaker(engine), auth),
    ], body_limits=BODY_LIMITS)
    routes = [(method, r.path) for r in _flat(app.routes) if isinstance(r, APIRoute) for method in sorted(r.methods or ())]
    routes += [("GET", path) for r in _flat(app.routes) if (path := getattr(r, "path", "")).startswith(("/api/docs", "/api/v1/openapi"))]
    assert "/ws" in {r.path for r in _flat(app.routes) if isinstance(r, APIWebSocketRoute)}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cti") as http:
        yield http, signer, routes
    index.close()
    await engine.dispose()


def _flat(routes: Any) -> Iterator[Any]:
    """Routes, with the routers FastAPI keeps nested (`include_router`) opened."""
    for route in routes:
        nested = getattr(route, "original_router", None)
        yield from _flat(nested.routes) if nested is not None else (route,)


def _concrete(path: str) -> str:
    return path.replace("{action}", "start").replace("{", "x").replace("}", "")


async def test_every_route_but_the_public_ones_needs_a_token(full_app: tuple[httpx.AsyncClient, TokenSigner, list[tuple[str, str]]]) -> None:
    http, _, routes = full_app
    assert set(routes) >= PUBLIC
    checked = 0
    for method, path in routes:
        if (method, path) in PUBLIC:
            continue
        reply = await http.request(method, _concrete(path))
        assert reply.status_code == 401, (method, path, reply.text)
        assert reply.json()["error_id"] == "not-authenticated", (method, path)
        checked += 1
    assert checked >= 20  # the inventory really came from the app


async def test_supervisor_routes_refuse_an_agent_token(full_app: tuple[httpx.AsyncClient, TokenSigner, list[tuple[str, str]]]) -> None:
    http, signer, routes = full_app
    assert set(routes) >= SUPERVISOR_ONLY
    token, _ = signer.issue(AGENT)
    for method, path in sorted(SUPERVISOR_ONLY):
        body = {"id": "x", "name": "x", "queue": "q"} if path == "/api/v1/campaigns" and method == "POST" else None
        body = {"tier": "star3"} if path.endswith("/segment") else body
        reply = await http.request(method, _concrete(path), json=body, headers={"Authorization": f"Bearer {token}"})
        assert (reply.status_code, reply.json()["error_id"]) == (403, "forbidden"), (method, path, reply.text)


async def test_non_ascii_token_and_ticket_are_invalid_not_a_crash(full_app: tuple[httpx.AsyncClient, TokenSigner, list[tuple[str, str]]]) -> None:
    http, signer, _ = full_app
    token, _ = signer.issue(AGENT)
    for bad in (token[:-1] + "é", "é." + token.split(".")[1], "é"):
        reply = await http.get("/api/v1/me", headers={b"Authorization": f"Bearer {bad}".encode("latin-1")})
        assert reply.status_code == 401
        assert reply.json()["message"] == "the session token is not valid; log in again"
    reply = await http.get("/api/v1/recordings/r1/audio", params={"ticket": "abc.dé"})
    assert reply.status_code == 401
    assert reply.json()["message"] == "the playback ticket is not valid for recording 'r1'"


async def test_deeply_nested_json_is_malformed_not_a_500(full_app: tuple[httpx.AsyncClient, TokenSigner, list[tuple[str, str]]]) -> None:
    http, signer, _ = full_app
    token, _ = signer.issue(AGENT)
    reply = await http.post("/api/v1/actions/ready", content="[" * 100_000, headers={"Authorization": f"Bearer {token}"})
    assert reply.status_code == 400
    assert reply.json()["message"] == "the body is not JSON: nested deeper than this server accepts"


async def test_bodies_over_the_limit_get_413_before_the_route_reads_them(full_app: tuple[httpx.AsyncClient, TokenSigner, list[tuple[str, str]]]) -> None:
    http, signer, _ = full_app
    token, _ = signer.issue(AGENT)
    big = b"x" * (MAX_BODY_BYTES + 1)
    reply = await http.post("/api/v1/session", content=big, headers={"Content-Type": "application/json"})
    assert reply.status_code == 413
    assert reply.json() == {"error_id": "body-too-large", "details": {"limit": MAX_BODY_BYTES},
                            "message": f"POST /api/v1/session: the request body is over {MAX_BODY_BYTES} bytes"}

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: counted while it streams in
        for _ in range(20):
            yield b" " * (MAX_BODY_BYTES // 10)

    for path in ("/api/v1/session", "/api/v1/actions/ready"):
        reply = await http.post(path, content=chunked(), headers={"Authorization": f"Bearer {token}"})
        assert reply.status_code == 413, path
        assert reply.json()["message"] == f"POST {path}: the request body is over {MAX_BODY_BYTES} bytes"
    reply = await http.post("/api/v1/session", content=b"{}", headers={"Content-Length": "-1"})
    assert reply.status_code == 413


def test_the_csv_upload_alone_may_be_larger() -> None:
    limit = BodyLimit(lambda *a: None, default=MAX_BODY_BYTES, limits=BODY_LIMITS)  # type: ignore[arg-type]
    assert limit.limit_for("/api/v1/campaigns/spring/contacts") == MAX_CSV_BYTES
    assert limit.limit_for("/api/v1/campaigns/spring/contacts/x") == MAX_BODY_BYTES
    assert limit.limit_for("/api/v1/campaigns") == MAX_BODY_BYTES


def test_a_transfer_to_a_number_takes_digits_only() -> None:
    ok = validate(Transfer, {"call_id": "c1", "kind": "blind", "to": "number", "target": "+8613912345678"}, "transfer")
    assert ok.target == "+8613912345678"
    assert validate(Transfer, {"call_id": "c1", "kind": "blind", "to": "agent", "target": "1002"}, "transfer").target == "1002"
    with pytest.raises(Exception) as refused:
        validate(Transfer, {"call_id": "c1", "kind": "blind", "to": "number", "target": "s-hangup"}, "transfer")
    assert str(refused.value) == "transfer: target: a number must be 1 to 32 digits, * or #, optionally after a +"
    with pytest.raises(Exception) as refused:
        validate(Transfer, {"call_id": "c1", "kind": "blind", "to": "number", "target": "${SHELL(id)}"}, "transfer")
    assert str(refused.value) == "transfer: target: String should match pattern '^[A-Za-z0-9_.+-]{1,64}$'"


async def test_login_limit_holds_whatever_the_case_or_spaces_of_the_name(cti: Harness) -> None:
    for _ in range(3):  # the harness allows 3 failures a minute
        assert (await cti.login("agent1001", "wrong")).status_code == 401
    for name in ("AGENT1001", " Agent1001 "):
        reply = await cti.login(name, "wrong")
        assert reply.status_code == 429, name
        assert reply.json()["error_id"] == "too-many-logins"
    reply = await cti.login("agent1001")  # the right password is not even checked now
    assert reply.status_code == 429


def test_login_limiter_memory_stays_bounded_under_a_flood_of_names() -> None:
    now = [0.0]
    limiter = LoginLimiter(3, clock=lambda: now[0])
    limiter.MAX_KEYS = 1000
    for i in range(5000):
        limiter.failed(f"user{i}", "10.0.0.1")
        assert len(limiter._failures) <= 1001
    for _ in range(3):
        limiter.failed("agent1001", "10.0.0.2")
    with pytest.raises(Exception, match="too many failed logins for 'agent1001'"):
        limiter.check("agent1001", "10.0.0.2")
    now[0] = 61.0  # a minute later every count is stale and pruning drops them all
    limiter.failed("late", "10.0.0.3")
    for i in range(1000):
        limiter.failed(f"again{i}", "10.0.0.1")
    assert len(limiter._failures) <= 1001


async def test_socket_survives_deep_json_and_refuses_a_non_ascii_token(cti: Harness) -> None:
    agent = await cti.user("agent1001")
    assert agent.socket is not None
    await agent.socket.ws.send("[" * 60_000)
    failed = await agent.socket.next("cti.request-failed")
    assert failed["message"] == "not JSON: nested deeper than this server accepts"
    assert (await agent.socket.request("ready"))["type"] in ("cti.request-done", "cti.request-failed")  # still open

    ws = await websockets.connect(cti.base.replace("http", "ws") + "/ws")
    try:
        await ws.send(json.dumps({"type": "auth", "token": "é.é"}))
        reply = json.loads(await ws.recv())
        assert (reply["error_id"], reply["message"]) == ("invalid-token", "the session token is not valid; log in again")
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    finally:
        await ws.close()


def test_a_password_is_kept_as_typed_and_the_username_trimmed() -> None:
    creds = validate(Credentials, {"username": " agent1001 ", "password": " pass word "}, "login")
    assert (creds.username, creds.password) == ("agent1001", " pass word ")


def test_a_not_ready_reason_is_one_line_of_text() -> None:
    assert validate(NotReady, {"reason": "lunch break"}, "not-ready").reason == "lunch break"
    with pytest.raises(Exception) as refused:
        validate(NotReady, {"reason": "lunch\nINFO acd.runner: agent 1002: READY"}, "not-ready")
    assert str(refused.value) == "not-ready: reason: String should match pattern '^[^\\x00-\\x1f\\x7f]{0,64}$'"
