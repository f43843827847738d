"""REST under /api/v1, the WebSocket /ws, and the pages, on one FastAPI router.

Authentication: `POST /api/v1/session` with username and password returns a bearer token; REST
calls send `Authorization: Bearer <token>`; a WebSocket sends `{"type": "auth", "token": ...}`
as its first message (never in the URL, which access logs would keep).

Errors are JSON `{"error_id", "message", "details"}` with the HTTP status of `STATUS_OF`.
"""


import asyncio
import dataclasses
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse

from callcenter.errors import DomainError
from cti import api_models as m
from cti.auth import Authenticator, AuthError, Claims
from cti.service import CtiService, failed
from cti.ws import CLOSE_POLICY, CLOSE_TOO_BIG, encode

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
MAX_FRAME_BYTES = 64 * 1024
AUTH_TIMEOUT_S = 10.0

STATUS_OF = {
    "not-authenticated": 401,
    "invalid-token": 401,
    "token-expired": 401,
    "token-revoked": 401,
    "invalid-ticket": 401,
    "ticket-expired": 401,
    "bad-credentials": 401,
    "forbidden": 403,
    "too-many-logins": 429,
    "invalid-request": 422,
    "unknown-action": 404,
    "no-such-call": 404,
    "no-such-customer": 404,
    "no-such-recording": 404,
    "no-such-preview": 404,
    "recording-missing": 410,
    "illegal-state": 409,
    "call-in-progress": 409,
    "call-ended": 409,
    "agent-unavailable": 409,
    "agent-not-on-call": 409,
    "no-agent-channel": 409,
    "no-such-channel": 409,
    "no-phone": 409,
    "unsupported-transfer": 422,
    "pbx-error": 502,
}


def error_response(exc: DomainError) -> JSONResponse:
    headers = {}
    if exc.error_id == "too-many-logins":
        headers["Retry-After"] = str(exc.details.get("retry_after_s", 60))
    return JSONResponse(exc.to_json(), status_code=STATUS_OF.get(exc.error_id, 400), headers=headers)


def parse_json(text: str | bytes, lead: str = "") -> Any:
    """JSON from the network, or `malformed-message` saying where (`lead`, e.g. "the body is ")
    and what is wrong."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DomainError("malformed-message", f"{lead}not JSON: {exc.msg} at character {exc.pos}") from None
    except RecursionError:  # "[[[[..." deeper than the decoder's recursion limit
        raise DomainError("malformed-message", f"{lead}not JSON: nested deeper than this server accepts") from None


def claims_dependency(auth: Authenticator) -> Callable[..., Claims]:
    """The FastAPI dependency that verifies the request's bearer token (every router uses it)."""

    def claims_of(authorization: Annotated[str | None, Header()] = None) -> Claims:
        token = None
        if authorization and authorization.lower().startswith("bearer "):
            token = authorization[7:].strip()
        return auth.verify(token)

    return claims_of


def build_router(service: CtiService, auth: Authenticator) -> APIRouter:
    router = APIRouter()
    claims_of = claims_dependency(auth)

    def supervisor(claims: Annotated[Claims, Depends(claims_of)]) -> Claims:
        if not claims.is_supervisor:
            raise DomainError("forbidden", "this needs the supervisor role")
        return claims

    Caller = Annotated[Claims, Depends(claims_of)]
    Supervisor = Annotated[Claims, Depends(supervisor)]

    # -- session ----------------------------------------------------------------------------

    @router.post("/api/v1/session", tags=["session"], summary="Log in; returns a bearer token")
    async def login(creds: m.Credentials, request: Request) -> dict[str, Any]:
        address = request.client.host if request.client else "?"
        token, claims, account = await auth.login(creds.username, creds.password, address)
        return {
            "token": token,
            "agent_id": claims.agent_id,
            "username": claims.username,
            "name": account.name,
            "role": claims.role,
            "interface": claims.interface,
            "expires_at": claims.expires_at,
        }

    @router.delete("/api/v1/session", tags=["session"], summary="Log out (the token stops working)")
    async def logout(claims: Caller) -> dict[str, Any]:
        auth.signer.revoke(claims)
        return {"ok": True}

    @router.get("/api/v1/me", tags=["agent"], summary="Who I am, my state and my statistics")
    async def me(claims: Caller) -> dict[str, Any]:
        return {
            "agent_id": claims.agent_id,
            "username": claims.username,
            "role": claims.role,
            "interface": claims.interface,
            "stats": service.agent_stats(claims.agent_id),
        }

    # -- actions ----------------------------------------------------------------------------

    @router.post(
        "/api/v1/actions/{action}",
        tags=["agent"],
        summary="Do one action: login, logout, ready, not-ready, answer, hold, unhold, hangup, "
        "transfer, wrap-up, callback (agents); force-state, spy (supervisors)",
    )
    async def act(action: str, claims: Caller, request: Request) -> dict[str, Any]:
        raw = await request.body()
        body = parse_json(raw, "the body is ") if raw else {}
        result = await service.perform(claims, action, body)
        return {"ok": True, "action": action, **result}

    # -- calls and customers -----------------------------------------------------------------

    @router.get("/api/v1/calls", tags=["calls"], summary="Live and recent calls (an agent: their own)")
    async def calls(claims: Caller) -> list[dict[str, Any]]:
        return [c.to_json() for c in service.calls_of(claims)]

    @router.get("/api/v1/calls/{call_id}", tags=["calls"], summary="One call")
    async def call(call_id: str, claims: Caller) -> dict[str, Any]:
        return service.visible_call(claims, call_id).to_json()

    @router.get(
        "/api/v1/calls/{call_id}/explanation", tags=["calls"], summary="Why the call went where it went"
    )
    async def explanation(call_id: str, claims: Caller) -> PlainTextResponse:
        return PlainTextResponse(service.visible_call(claims, call_id).explanation_text())

    @router.get("/api/v1/customers/{customer_id}", tags=["calls"], summary="A customer card (an agent: of their calls)")
    async def customer(customer_id: str, claims: Caller) -> dict[str, Any]:
        return dataclasses.asdict(await service.customer_card(claims, customer_id))

    # -- supervisor -------------------------------------------------------------------------

    @router.get("/api/v1/queues", tags=["supervisor"], summary="Live queue figures")
    async def queues(claims: Supervisor) -> list[dict[str, Any]]:
        now = service.clock()
        return [dataclasses.asdict(q) for q in service.live.queue_snapshots(now)]

    @router.get("/api/v1/agents", tags=["supervisor"], summary="Agents by state, with time in state")
    async def agents(claims: Supervisor) -> dict[str, list[dict[str, Any]]]:
        return service.live.agents_by_state(service.clock())

    # -- the socket -------------------------------------------------------------------------

    @router.websocket("/ws")
    async def socket(ws: WebSocket) -> None:
        await ws.accept()
        try:
            claims = await _authenticate_socket(ws, auth)
        except (DomainError, WebSocketDisconnect, TimeoutError) as exc:
            if isinstance(exc, DomainError):
                await ws.send_text(encode(failed("auth", "auth", exc, service.clock())))
                await ws.close(CLOSE_POLICY, exc.error_id)
            elif isinstance(exc, TimeoutError):
                await ws.close(CLOSE_POLICY, "no auth message")
            return
        client = service.hub.add(ws, claims)
        service.hub.to_client(
            client,
            {
                "type": "cti.welcome",
                "v": 1,
                "agent_id": claims.agent_id,
                "role": claims.role,
                "agent": service.agent_stats(claims.agent_id),
                "calls": [c.to_json() for c in service.calls_of(claims)],
            },
        )
        try:
            while not client.closed:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text")
                if text is None:
                    service.hub.to_client(
                        client,
                        failed("", "", DomainError("malformed-message", "send text frames with JSON"), service.clock()),
                    )
                    continue
                if len(text) > MAX_FRAME_BYTES:
                    service.hub.remove(client)
                    await ws.close(CLOSE_TOO_BIG, f"message over {MAX_FRAME_BYTES} bytes")
                    break
                try:
                    data = parse_json(text)
                except DomainError as error:
                    service.hub.to_client(client, failed("", "", error, service.clock()))
                    continue
                await service.ws_request(client, data)
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            service.hub.remove(client)

    @router.get("/", include_in_schema=False)
    async def agent_page() -> FileResponse:
        return FileResponse(STATIC_DIR / "agent.html")

    @router.get("/supervisor", include_in_schema=False)
    async def supervisor_page() -> FileResponse:
        return FileResponse(STATIC_DIR / "supervisor.html")

    @router.get("/wallboard", include_in_schema=False)
    async def wallboard_page() -> FileResponse:
        return FileResponse(STATIC_DIR / "wallboard.html")

    return router


async def _authenticate_socket(ws: WebSocket, auth: Authenticator) -> Claims:
    text = await asyncio.wait_for(ws.receive_text(), AUTH_TIMEOUT_S)
    try:
        data = parse_json(text[: MAX_FRAME_BYTES + 1])  # cut: a token is short
    except DomainError:
        data = None
    if not isinstance(data, dict) or data.get("type") != "auth" or not isinstance(data.get("token"), str):
        raise AuthError("not-authenticated", 'the first message must be {"type": "auth", "token": "<token>"}')
    return auth.verify(data["token"])
