"""REST endpoints for campaign managers: `/api/v1/campaigns` and the page `/campaigns`.

Supervisors and admins only: a request carries the CTI's bearer token (`Authorization: Bearer
<token>` from `POST /api/v1/session`), verified by the CTI's `Authenticator`; an agent's token
gets 403 `forbidden`. Errors are the CTI's JSON shape `{"error_id", "message", "details"}`.

| method and path | what it does |
|---|---|
| `GET /api/v1/campaigns` | every campaign: id, name, mode, status, queue |
| `POST /api/v1/campaigns` | create: `{"id", "name", "mode", "queue", "caller_id", "settings"}` |
| `POST /api/v1/campaigns/{id}/contacts` | import a CSV contact list (the body, `text/csv`): `{"added", "rejected_rows", "rejections"}` |
| `POST /api/v1/campaigns/{id}/segment` | add CRM customers: `{"tier": "star3", "recency_below": 3}` |
| `POST /api/v1/campaigns/{id}/{start,pause,resume,stop}` | change the status; a running control plane acts on it |
| `GET /api/v1/campaigns/{id}/decisions?limit=100` | the latest compliance decisions (dials and no-dials, with reasons), newest first |
| `GET /api/v1/campaigns/{id}` | progress from the CRM (contacts, outcomes, abandons per window) and `live` (dials, answers, abandons, lines, agents' occupancy) when a runner is dialing it |

No `from __future__ import annotations` here: FastAPI resolves the dependencies' annotations at
run time, and `Manager` is local to `build_router`.
"""


import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter.errors import DomainError
from cti.auth import Authenticator, Claims
from dialer import campaigns

PAGE = Path(__file__).resolve().parent / "static" / "campaigns.html"
STATUS_OF = {"no-such-campaign": 404, "campaign-exists": 409, "invalid-state": 409, "campaign-done": 409}
MAX_CSV_BYTES = 20 * 1024 * 1024
# For cti.app.create_app(body_limits=...): the CSV upload may be larger than other request bodies.
BODY_LIMITS = {r"/api/v1/campaigns/[^/]+/contacts": MAX_CSV_BYTES}


class Control(Protocol):
    """What the API needs of `dialer.runner.CampaignSupervisor`."""

    async def apply(self, campaign_id: str, action: str) -> None: ...

    def snapshot(self, campaign_id: str) -> dict[str, Any] | None: ...


class NewCampaign(BaseModel):
    id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    mode: str = "progressive"
    queue: str = Field(min_length=1, max_length=64)
    caller_id: str = Field(default="", max_length=32)
    settings: dict[str, Any] = Field(default_factory=dict)


class Segment(BaseModel):
    tier: str = Field(min_length=1)
    recency_below: int | None = Field(default=None, ge=1, le=6)


def _error(exc: campaigns.CampaignError) -> JSONResponse:
    return JSONResponse(exc.to_json(), status_code=STATUS_OF.get(exc.error_id, 400))


def build_router(
    sessions: async_sessionmaker[AsyncSession],
    auth: Authenticator,
    *,
    control: Control | None = None,
    clock: Callable[[], float] = time.time,
) -> APIRouter:
    router = APIRouter(tags=["campaigns"])

    def manager(authorization: Annotated[str | None, Header()] = None) -> Claims:
        token = authorization[7:].strip() if authorization and authorization.lower().startswith("bearer ") else None
        claims = auth.verify(token)
        if not claims.is_supervisor:
            raise DomainError("forbidden", "managing campaigns needs the supervisor or admin role")
        return claims

    Manager = Annotated[Claims, Depends(manager)]

    def now() -> dt.datetime:
        return dt.datetime.fromtimestamp(clock(), dt.UTC)

    @router.get("/campaigns", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(PAGE, media_type="text/html")

    @router.get("/api/v1/campaigns", summary="Every campaign")
    async def list_all(claims: Manager) -> list[dict[str, Any]]:
        async with sessions() as s:
            return await campaigns.list_campaigns(s)

    @router.post("/api/v1/campaigns", status_code=201, summary="Create a campaign (draft)", response_model=None)
    async def create(body: NewCampaign, claims: Manager) -> dict[str, Any] | JSONResponse:
        try:
            async with sessions() as s:
                await campaigns.create_campaign(s, body.id, name=body.name, mode=body.mode, queue=body.queue,
                                                caller_id=body.caller_id, settings=body.settings, now=now())
                return await campaigns.progress(s, body.id, now=now())
        except campaigns.CampaignError as exc:
            return _error(exc)

    @router.post("/api/v1/campaigns/{campaign_id}/contacts", summary="Import a CSV contact list (the request body)",
                 response_model=None)
    async def import_csv(campaign_id: str, request: Request, claims: Manager) -> dict[str, Any] | JSONResponse:
        raw = await request.body()
        if len(raw) > MAX_CSV_BYTES:
            return _error(campaigns.CampaignError("invalid-list", f"the list has {len(raw)} bytes; at most {MAX_CSV_BYTES} are accepted"))
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            return _error(campaigns.CampaignError("invalid-list", f"the list is not UTF-8: byte {exc.start} is {raw[exc.start]:#04x}"))
        try:
            async with sessions() as s:
                return (await campaigns.import_contacts(s, campaign_id, text)).to_json()
        except campaigns.CampaignError as exc:
            return _error(exc)

    @router.post("/api/v1/campaigns/{campaign_id}/segment", summary="Add the CRM customers of a tier", response_model=None)
    async def segment(campaign_id: str, body: Segment, claims: Manager) -> dict[str, Any] | JSONResponse:
        try:
            async with sessions() as s:
                report = await campaigns.add_segment(s, campaign_id, tier=body.tier, recency_below=body.recency_below)
                return report.to_json()
        except campaigns.CampaignError as exc:
            return _error(exc)

    @router.post("/api/v1/campaigns/{campaign_id}/{action}", summary="start, pause, resume or stop", response_model=None)
    async def act(campaign_id: str, action: str, claims: Manager) -> dict[str, Any] | JSONResponse:
        try:
            async with sessions() as s:
                campaign = await campaigns.change_status(s, campaign_id, action)
                status = campaign.status
        except campaigns.CampaignError as exc:
            return _error(exc)
        if control is not None:
            await control.apply(campaign_id, action)
        return {"campaign_id": campaign_id, "status": status, "by": claims.username}

    @router.get("/api/v1/campaigns/{campaign_id}/decisions", summary="The latest dial decisions, newest first",
                response_model=None)
    async def decisions(campaign_id: str, claims: Manager, limit: int = 100) -> list[dict[str, Any]] | JSONResponse:
        try:
            async with sessions() as s:
                return await campaigns.decisions(s, campaign_id, limit=limit)
        except campaigns.CampaignError as exc:
            return _error(exc)

    @router.get("/api/v1/campaigns/{campaign_id}", summary="Progress, results and live figures", response_model=None)
    async def show(campaign_id: str, claims: Manager) -> dict[str, Any] | JSONResponse:
        try:
            async with sessions() as s:
                report = await campaigns.progress(s, campaign_id, now=now())
        except campaigns.CampaignError as exc:
            return _error(exc)
        report["live"] = control.snapshot(campaign_id) if control is not None else None
        return report

    return router
