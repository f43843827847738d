"""A recording is served only from inside the recordings directory, whatever its id in the URL or
the path its catalog row holds (a row is written by the recorder, but the check does not trust it)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from callcenter import events as ev
from callcenter.bus import EventBus
from cti.app import create_app
from cti.auth import Account, Authenticator, LoginLimiter, TokenSigner
from cti.recordings import build_recordings_router
from cti.service import CtiService
from pbx.calls import CallTracker
from recorder.index import RecordingIndex
from tests.cti.conftest import SECRET, Cards, HashedAccounts, RecordingPort

BOSS = Account(agent_id=ev.AgentId("9001"), username="supervisor", name="Boss", role="supervisor")


@pytest.fixture
async def supervisor(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    root = tmp_path / "recordings"
    root.mkdir()
    (tmp_path / "outside.wav").write_bytes(b"RIFF-not-for-you")
    (root / "inside.wav").write_bytes(b"RIFF-fine")
    index = RecordingIndex(tmp_path / "index.sqlite3")
    with sqlite3.connect(tmp_path / "index.sqlite3") as db:  # catalog rows as a careless writer could leave them
        for rid, path in (("inside", "inside.wav"), ("dotdot", "../outside.wav"), ("absolute", str(tmp_path / "outside.wav"))):
            db.execute("INSERT INTO recordings (recording_id, call_id, path, format, sha256, size_bytes, duration_s,"
                       " started_at, agent_id) VALUES (?, 'c1', ?, 'wav', 'x', 9, 1.0, 0.0, '1001')", (rid, path))
    signer = TokenSigner(SECRET)
    auth = Authenticator(HashedAccounts(), signer, LoginLimiter(5))
    service = CtiService(bus=EventBus(), commands=RecordingPort(), calls=CallTracker(variables=()), cards=Cards())
    app = create_app(service, auth, routers=[build_recordings_router(service, auth, index=index, recordings_dir=root)])
    token, _ = signer.issue(BOSS)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cti",
                                 headers={"Authorization": f"Bearer {token}"}) as http:
        yield http
    index.close()


async def test_only_files_inside_the_recordings_directory_are_served(supervisor: httpx.AsyncClient) -> None:
    assert (await supervisor.get("/api/v1/recordings/inside/audio")).content == b"RIFF-fine"
    for rid in ("dotdot", "absolute"):
        reply = await supervisor.get(f"/api/v1/recordings/{rid}/audio")
        assert reply.status_code == 410, rid
        assert reply.json()["message"] == f"recording {rid}: its audio file is gone"
        assert b"not-for-you" not in reply.content


@pytest.mark.parametrize(("path", "message"), [
    ("/api/v1/recordings/..%2F..%2Foutside.wav/audio", "GET /api/v1/recordings/../../outside.wav/audio: Not Found"),
    ("/api/v1/recordings/%2E%2E/audio", "no recording '..' among your recordings"),
    ("/api/v1/recordings/inside%00/audio", "no recording 'inside\\x00' among your recordings"),
])
async def test_ids_in_the_url_are_catalog_keys_not_paths(supervisor: httpx.AsyncClient, path: str, message: str) -> None:
    reply = await supervisor.get(path)
    assert reply.status_code == 404
    assert reply.json()["message"] == message
    assert b"RIFF" not in reply.content
