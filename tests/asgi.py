"""Serving an ASGI app for real in tests: uvicorn on a free port of 127.0.0.1, bounded start and stop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Literal

import uvicorn
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from callcenter.errors import DomainError
from cti.api import error_response


@contextlib.asynccontextmanager
async def served(app: FastAPI, *, lifespan: Literal["on", "off"] = "on") -> AsyncIterator[str]:
    """`app` listening on 127.0.0.1; yields its base URL (`http://127.0.0.1:PORT`)."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", access_log=False,
                                           lifespan=lifespan))
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(10):
            while not server.started:  # noqa: ASYNC110 (uvicorn offers no "started" event)
                await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)


def router_app(*routers: APIRouter) -> FastAPI:
    """A bare app with `routers` that answers a `DomainError` in the API's error shape, as
    `cti.app.create_app` does, for a room's router tested on its own."""
    app = FastAPI()

    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> JSONResponse:
        return error_response(exc)

    for router in routers:
        app.include_router(router)
    return app
