"""The CTI server's FastAPI application, built from explicit parts (no globals).

    service = CtiService(bus=bus, commands=port, calls=tracker, cards=CrmCards(crm))
    auth = Authenticator(CrmAccounts(crm.sessions), TokenSigner(secret), LoginLimiter(5))
    app = create_app(service, auth, health=control_plane.status, routers=[recordings_router])
    # serve `app` with uvicorn; its lifespan starts and stops the service.

`health()` returns `{"ok": bool, part: {...}}`; `GET /status` answers it with 200 when ok, else
503, so load balancers and tests can wait on it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from callcenter.errors import DomainError
from cti.api import STATIC_DIR, build_router, error_response
from cti.api_models import invalid
from cti.auth import Authenticator
from cti.service import CtiService


def create_app(
    service: CtiService,
    auth: Authenticator,
    *,
    health: Callable[[], dict[str, Any]] | None = None,
    routers: Iterable[APIRouter] = (),  # more API, e.g. cti.recordings.build_recordings_router(...)
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
    return app
