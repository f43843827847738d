"""Recordings on the CTI server: list, search, play and download them, audited; and the agent
desktop's recording buttons (pause / resume for card numbers, start / stop on demand).

    router = build_recordings_router(service, auth, index=RecordingIndex(path), recordings_dir=dir)
    app = create_app(service, auth, routers=[router])

Who may see a recording: supervisors (and admins) all of them; an agent only the recordings of
calls they answered (the catalog's `agent_id`, the agent of the recording's `CallAnswered`). To
anyone else a recording does not exist: 404 `no-such-recording`, the same answer as for an id that
is not there, so an agent cannot probe which recordings exist. Lists and search are filtered the
same way, in the query.

Every request that serves audio (200 or 206) adds a row to the recorder index's `access_log`
(recorder/index.py): when, which recording and call, who (agent id, login, role), from which
address, `play` or `download`, the byte range and the status. A refused request for a recording
that exists is logged too (`refused`, status 404). Supervisors read the log at
`GET /api/v1/recordings/audit`.

Players that cannot send a header (an HTML `<audio>` element) ask `POST /api/v1/recordings/{id}/link`
for a URL with a ticket: signed (HMAC-SHA256, a key made at start, so a restart voids them), good
for one recording and TICKET_TTL_S, carrying who asked; its use is audited under that caller.

Streaming: `GET /api/v1/recordings/{id}/audio` answers `Range: bytes=a-b`, `bytes=a-` and
`bytes=-n` with 206 and `Content-Range`; no Range gives 200 with the whole file; an unsatisfiable,
malformed or multi-part range gives 416 with `Content-Range: bytes */<size>`. `Accept-Ranges: bytes`
and an `ETag` (the SHA-256) are on every audio answer. The file is read in 64 KiB chunks in a
worker thread, so a long download never blocks the event loop.
"""


import asyncio
import base64
import binascii
import dataclasses
import hashlib
import hmac
import json
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse

from callcenter import events as ev
from callcenter.errors import DomainError
from cti.api import claims_dependency
from cti.auth import Authenticator, AuthError, Claims
from cti.service import CtiService
from recorder.index import AccessLogEntry, CatalogEntry, RecordingIndex

logger = logging.getLogger(__name__)

CHUNK_BYTES = 64 * 1024
TICKET_TTL_S = 300.0
MEDIA_TYPES = {"ogg": "audio/ogg", "mp3": "audio/mpeg", "flac": "audio/flac", "wav": "audio/wav"}
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
# The desktop's recording buttons -> the request the recorder's controller acts on.
REQUESTS: dict[str, Callable[..., object]] = {
    "pause": ev.RecordingPauseRequested,
    "resume": ev.RecordingResumeRequested,
    "start": ev.RecordingStartRequested,
    "stop": ev.RecordingStopRequested,
}


class RangeNotSatisfiable(ValueError):
    pass


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive (first, last) byte a Range header asks for, None for the whole file.

    Raises RangeNotSatisfiable (416) for anything this server will not serve: other units, several
    ranges, malformed syntax, or a range outside the file."""
    if header is None:
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None or match.groups() == ("", ""):
        raise RangeNotSatisfiable(f"Range {header!r} is not one range of the form bytes=first-last, bytes=first- "
                                  "or bytes=-suffix")
    first, last = match.groups()
    if first == "":  # a suffix: the last n bytes
        n = int(last)
        if n == 0 or size == 0:
            raise RangeNotSatisfiable(f"Range {header!r} asks for no bytes of a {size}-byte file")
        return max(0, size - n), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or (last and int(last) < start):
        raise RangeNotSatisfiable(f"Range {header!r} is outside the {size}-byte file")
    return start, end


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")  # no "=": the ticket goes in a URL


class Tickets:
    """Short-lived, single-recording playback tickets (see the module docstring)."""

    def __init__(self, clock: Callable[[], float], *, ttl_s: float = TICKET_TTL_S) -> None:
        self._key = secrets.token_bytes(32)
        self._clock = clock
        self.ttl_s = ttl_s

    def _sign(self, body: str) -> str:
        return _b64(hmac.new(self._key, body.encode("ascii"), hashlib.sha256).digest())

    def issue(self, claims: Claims, recording_id: str) -> tuple[str, float]:
        expires = self._clock() + self.ttl_s
        data = {"rid": recording_id, "sub": claims.agent_id, "usr": claims.username, "rol": claims.role, "exp": expires}
        body = _b64(json.dumps(data, separators=(",", ":")).encode())
        return f"{body}.{self._sign(body)}", expires

    def verify(self, ticket: str, recording_id: str) -> Claims:
        body, _, signature = ticket.partition(".")
        bad = AuthError("invalid-ticket", f"the playback ticket is not valid for recording {recording_id!r}")
        if not ticket.isascii() or not hmac.compare_digest(self._sign(body), signature):
            raise bad
        try:
            data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            claims = Claims(agent_id=ev.AgentId(str(data["sub"])), username=str(data["usr"]), role=str(data["rol"]),
                            interface="", token_id="ticket", expires_at=float(data["exp"]))  # noqa: S106 (a label)
            rid = str(data["rid"])
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise bad from None
        if rid != recording_id:
            raise bad
        if claims.expires_at <= self._clock():
            raise AuthError("ticket-expired", "the playback ticket has expired; ask for a new link")
        return claims


def may_see(claims: Claims, entry: CatalogEntry) -> bool:
    return claims.is_supervisor or (entry.agent_id is not None and entry.agent_id == claims.agent_id)


def _not_found(recording_id: str) -> DomainError:
    return DomainError("no-such-recording", f"no recording {recording_id!r} among your recordings",
                       recording_id=recording_id)


async def _chunks(path: Path, start: int, end: int) -> AsyncIterator[bytes]:
    with path.open("rb") as f:
        f.seek(start)
        left = end - start + 1
        while left > 0:
            data = await asyncio.to_thread(f.read, min(CHUNK_BYTES, left))
            if not data:
                return  # the file shrank under us (retention): end the body early
            left -= len(data)
            yield data


def build_recordings_router(
    service: CtiService,
    auth: Authenticator,
    *,
    index: RecordingIndex,
    recordings_dir: Path,
    clock: Callable[[], float] = time.time,
) -> APIRouter:
    router = APIRouter(tags=["recordings"])
    claims_of = claims_dependency(auth)
    Caller = Annotated[Claims, Depends(claims_of)]
    tickets = Tickets(clock)
    root = recordings_dir.resolve()

    def visible(claims: Claims, recording_id: str) -> CatalogEntry:
        entry = index.get(recording_id)
        if entry is None or not may_see(claims, entry):
            raise _not_found(recording_id)
        return entry

    def audit(claims: Claims, entry: CatalogEntry, request: Request, action: str, byte_range: str,
              status: int) -> None:
        index.log_access(AccessLogEntry(
            at=clock(), recording_id=entry.recording_id, call_id=entry.call_id, agent_id=claims.agent_id,
            username=claims.username, role=claims.role, address=request.client.host if request.client else "?",
            action=action, byte_range=byte_range, status=status,
        ))
        logger.info("recording %s: %s by %s (%s) from %s, range %r, status %d", entry.recording_id, action,
                    claims.agent_id, claims.role, request.client.host if request.client else "?", byte_range, status)

    @router.get("/api/v1/recordings", summary="Recordings, newest first (an agent: of the calls they answered)")
    async def recordings(
        claims: Caller, call_id: str | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[dict[str, Any]]:
        mine = None if claims.is_supervisor else claims.agent_id
        return [dataclasses.asdict(e) for e in index.entries(agent_id=mine, call_id=call_id, newest_first=True,
                                                            limit=limit)]

    @router.get("/api/v1/recordings/search", summary="Transcript search; only the recordings you may see")
    async def search(
        claims: Caller, q: Annotated[str, Query(min_length=1, max_length=200)],
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> list[dict[str, Any]]:
        mine = None if claims.is_supervisor else claims.agent_id
        return [dataclasses.asdict(h) for h in index.search(q, limit=limit, agent_id=mine)]

    @router.get("/api/v1/recordings/audit", summary="Who played or downloaded recordings (supervisors)")
    async def audit_log(
        claims: Caller, recording_id: str | None = None, limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    ) -> list[dict[str, Any]]:
        if not claims.is_supervisor:
            raise DomainError("forbidden", "the recordings audit needs the supervisor role")
        return [dataclasses.asdict(a) for a in index.access_log(recording_id=recording_id, limit=limit)]

    @router.get("/api/v1/recordings/{recording_id}", summary="One recording's metadata")
    async def recording(recording_id: str, claims: Caller) -> dict[str, Any]:
        return dataclasses.asdict(visible(claims, recording_id))

    @router.post("/api/v1/recordings/{recording_id}/link",
                 summary="A playback URL with a short-lived ticket, for players that cannot send a header")
    async def link(recording_id: str, claims: Caller) -> dict[str, Any]:
        visible(claims, recording_id)
        ticket, expires = tickets.issue(claims, recording_id)
        return {"url": f"/api/v1/recordings/{recording_id}/audio?ticket={ticket}", "expires_at": expires}

    @router.get("/api/v1/recordings/{recording_id}/audio",
                summary="The audio, streamed with HTTP range requests; ?download=true to save it (audited)")
    async def audio(
        recording_id: str, request: Request, download: bool = False, ticket: str | None = None,
        authorization: Annotated[str | None, Header()] = None,
    ) -> Any:
        claims = tickets.verify(ticket, recording_id) if ticket is not None else claims_of(authorization)
        entry = index.get(recording_id)
        if entry is None:
            raise _not_found(recording_id)
        if not may_see(claims, entry):
            audit(claims, entry, request, "refused", request.headers.get("range", ""), 404)
            raise _not_found(recording_id)
        path = (root / entry.path).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            raise DomainError("recording-missing", f"recording {recording_id}: its audio file is gone",
                              recording_id=recording_id)
        size = path.stat().st_size
        headers = {"Accept-Ranges": "bytes", "ETag": f'"{entry.sha256}"'}
        if download:
            headers["Content-Disposition"] = f'attachment; filename="{path.name}"'
        action = "download" if download else "play"
        header = request.headers.get("range")
        try:
            wanted = byte_range(header, size)
        except RangeNotSatisfiable as exc:
            return JSONResponse(
                DomainError("range-not-satisfiable", str(exc), recording_id=recording_id, size=size).to_json(),
                status_code=416, headers={**headers, "Content-Range": f"bytes */{size}"},
            )
        start, end = wanted if wanted is not None else (0, size - 1)
        status = 206 if wanted is not None else 200
        if wanted is not None:
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        headers["Content-Length"] = str(end - start + 1)
        audit(claims, entry, request, action, f"bytes={start}-{end}" if wanted is not None else "", status)
        return StreamingResponse(_chunks(path, start, end), status_code=status, headers=headers,
                                 media_type=MEDIA_TYPES.get(entry.format, "application/octet-stream"))

    @router.post("/api/v1/calls/{call_id}/recording/{action}",
                 summary="Recording buttons: pause / resume (card numbers), start / stop (on-demand policy)")
    async def recording_button(call_id: str, action: str, claims: Caller) -> dict[str, Any]:
        make = REQUESTS.get(action)
        if make is None:
            raise DomainError("unknown-action", f"unknown recording action {action!r}; expected one of "
                              f"{', '.join(REQUESTS)}")
        ctx = service.visible_call(claims, call_id)
        # The recorder's controller decides: a pause without an active recording is remembered for
        # the call (a recording that starts later starts muted), a second pause does nothing.
        await service.bus.publish(make(call_id=ctx.call_id, by=claims.agent_id, at=clock()))
        logger.info("call %s: recording %s requested by %s", ctx.call_id, action, claims.agent_id)
        return {"ok": True, "call_id": ctx.call_id, "requested": action}

    return router
