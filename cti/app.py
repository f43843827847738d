"""The CTI server's FastAPI application, built from explicit parts (no globals).

    service = CtiService(bus=bus, commands=port, calls=tracker, cards=CrmCards(crm))
    auth = Authenticator(CrmAccounts(crm.sessions), TokenSigner(secret), LoginLimiter(5))
    app = create_app(service, auth, health=control_plane.status, routers=[recordings_router])
    # serve `app` with uvicorn; its lifespan starts and stops the service.

Every HTTP request body is limited to `MAX_BODY_BYTES` (a path matching a pattern of
`body_limits` gets that pattern's limit instead, e.g. the dialer's CSV upload); a larger one gets
413 `body-too-large` before the route reads it, so nobody, logged in or not, can make the server
hold a huge body in memory.

`health()` returns `{"ok": bool, part: {...}}`; `GET /status` answers it with 200 when ok, else
503, so load balancers and tests can wait on it.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from callcenter.errors import DomainError
from cti.api import STATIC_DIR, build_router, error_response
from cti.api_models import invalid
from cti.auth import Authenticator
from cti.service import CtiService

MAX_BODY_BYTES = 1 << 20


class _BodyTooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware: 413 `body-too-large` for a body over its path's limit, announced by
    Content-Length or found while it streams in (chunked)."""

    def __init__(self, app: ASGIApp, *, default: int, limits: Mapping[str, int]) -> None:
        self.app = app
        self.default = default
        self.limits = [(re.compile(pattern), limit) for pattern, limit in limits.items()]

    def limit_for(self, path: str) -> int:
        return next((limit for pattern, limit in self.limits if pattern.fullmatch(path)), self.default)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        where = f"{scope['method']} {scope['path']}"
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            await self._refuse(send, where, limit)
            return
        received = 0
        too_large = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                too_large = True
                raise _BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if too_large:  # the route's own answer to the interrupted read: ours replaces it
                return
            started = True
            await send(message)

        with contextlib.suppress(_BodyTooLarge):
            await self.app(scope, limited_receive, guarded_send)
        if too_large and not started:
            await self._refuse(send, where, limit)

    @staticmethod
    async def _refuse(send: Send, where: str, limit: int) -> None:
        error = DomainError("body-too-large", f"{where}: the request body is over {limit} bytes", limit=limit)
        await JSONResponse(error.to_json(), status_code=413)({"type": "http"}, _no_body, send)


async def _no_body() -> Message:
    return {"type": "http.disconnect"}


def create_app(
    service: CtiService,
    auth: Authenticator,
    *,
    health: Callable[[], dict[str, Any]] | None = None,
    routers: Iterable[APIRouter] = (),  # more API, e.g. cti.recordings.build_recordings_router(...)
    body_limits: Mapping[str, int] | None = None,  # path regex -> bytes, for routes taking more than MAX_BODY_BYTES
) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    app = FastAPI(
        lifespan=lifespan,
        title="callcenter CTI",
        version="1",
        description="Agent desktop, supervisor and wallboard API. WebSocket: /ws (see docs/cti.md).",
        docs_url="/api/docs",
        openapi_url="/api/v1/openapi.json",
        redoc_url=None,
    )

    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        # Starlette's own refusals (no such route, wrong method, an unreadable body) in our shape.
        error_id = {404: "no-such-route", 405: "method-not-allowed"}.get(exc.status_code, "bad-request")
        error = DomainError(error_id, f"{request.method} {request.url.path}: {exc.detail}")
        return JSONResponse(error.to_json(), status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        # The same error shape as everything else, with the route's name as the action.
        route = request.scope.get("route")
        return error_response(invalid(getattr(route, "name", request.url.path), exc.errors()))

    @app.get("/status", tags=["health"], summary="Health of each part; 503 when one is down")
    async def status() -> JSONResponse:
        data = health() if health is not None else {"ok": True, "cti": service.status()}
        return JSONResponse(data, status_code=200 if data.get("ok") else 503)

    for router in routers:
        app.include_router(router)
    app.include_router(build_router(service, auth))
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(BodyLimit, default=MAX_BODY_BYTES, limits=body_limits or {})
    return app
