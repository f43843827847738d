"""The recordings API on a real uvicorn port: two recordings made by post-processing real speech,
one answered by agent 1001, one by 1002, in a real recorder index. Access rules, Range requests
(exact bytes), the audit log, transcript search and the recording buttons."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from callcenter import events as ev
from callcenter.bus import EventBus
from cti.app import create_app
from cti.auth import Authenticator, LoginLimiter, TokenSigner
from cti.recordings import RangeNotSatisfiable, build_recordings_router, byte_range
from cti.service import CtiConfig, CtiService
from pbx.calls import CallTracker
from recorder.index import RecordingIndex
from recorder.postprocess import process_recording
from recorder.transcribe import Segment
from tests.asgi import served
from tests.cti.conftest import SECRET, Cards, Harness, HashedAccounts, RecordingPort
from tests.recorder.conftest import STARTED_AT, make_job

NOW = STARTED_AT + 600.0


@pytest.fixture(scope="session")
def korean(shared_dir: Path) -> Path:
    return shared_dir / "audio" / "korean"


@dataclass
class Stored:
    recording_id: str
    path: Path  # the stored audio file


@dataclass
class Rec:
    harness: Harness
    index: RecordingIndex
    mine: Stored  # answered by agent 1001
    theirs: Stored  # answered by agent 1002
    clock: list[float]  # the router's clock: [now]


def store(tmp: Path, recordings: Path, index: RecordingIndex, korean: Path, recording_id: str, agent: str,
          customer_clip: str, said: str) -> Stored:
    legs = tmp / "legs"
    legs.mkdir(exist_ok=True)
    customer = shutil.copy(korean / customer_clip, legs / f"{recording_id}-customer.wav")
    agent_leg = shutil.copy(korean / "porcupine_bixby_ko.wav", legs / f"{recording_id}-agent.wav")
    job = make_job(tmp, Path(customer), Path(agent_leg), recording_id=recording_id, agent_id=ev.AgentId(agent))
    processed = process_recording(job, recordings_dir=recordings, fmt="ogg", now=NOW)
    index.add_recording(processed, job)
    index.add_transcript(recording_id, [Segment(speaker="customer", start=0.4, end=2.1, text=said)], [])
    return Stored(recording_id, recordings / processed.path)


@pytest.fixture
async def rec(tmp_path: Path, korean: Path) -> AsyncIterator[Rec]:
    recordings = tmp_path / "recordings"
    index = RecordingIndex(tmp_path / "index.sqlite3")
    mine = store(tmp_path, recordings, index, korean, "1795341600.1", "1001", "leopard_test_ko.wav",
                 "환불 해 주세요 카드")
    theirs = store(tmp_path, recordings, index, korean, "1795341600.2", "1002", "rhino_test_within_context_ko.wav",
                   "환불 은 언제")
    bus = EventBus()
    tracker = CallTracker(variables=())
    service = CtiService(bus=bus, commands=RecordingPort(), calls=tracker, cards=Cards(),
                         config=CtiConfig(stats_interval_s=0.5), directory={"1001": "PJSIP/1001"})
    auth = Authenticator(HashedAccounts(), TokenSigner(SECRET), LoginLimiter(3))
    clock = [NOW]
    router = build_recordings_router(service, auth, index=index, recordings_dir=recordings, clock=lambda: clock[0])
    app = create_app(service, auth, routers=[router])
    try:
        async with served(app) as base:
            harness = Harness(base, bus, RecordingPort(), service, tracker, Cards())
            try:
                yield Rec(harness, index, mine, theirs, clock)
            finally:
                await harness.close()
    finally:
        index.close()


async def client(rec: Rec, username: str) -> httpx.AsyncClient:
    return (await rec.harness.user(username, socket=False)).http


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        (None, 1000, None),
        ("bytes=0-99", 1000, (0, 99)),
        ("bytes=900-", 1000, (900, 999)),
        ("bytes=950-5000", 1000, (950, 999)),  # the end is clipped to the file
        ("bytes=-100", 1000, (900, 999)),
        ("bytes=-5000", 1000, (0, 999)),
        (" bytes=5-5 ", 1000, (5, 5)),
    ],
)
def test_byte_range_reads_one_range(header: str | None, size: int, expected: tuple[int, int] | None) -> None:
    assert byte_range(header, size) == expected


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("bytes=1000-", "Range 'bytes=1000-' is outside the 1000-byte file"),
        ("bytes=20-10", "Range 'bytes=20-10' is outside the 1000-byte file"),
        ("bytes=-0", "Range 'bytes=-0' asks for no bytes of a 1000-byte file"),
        ("bytes=-", "Range 'bytes=-' is not one range of the form bytes=first-last, bytes=first- or bytes=-suffix"),
        ("bytes=0-1,5-6", "Range 'bytes=0-1,5-6' is not one range of the form bytes=first-last, bytes=first- or "
                          "bytes=-suffix"),
        ("items=0-1", "Range 'items=0-1' is not one range of the form bytes=first-last, bytes=first- or "
                      "bytes=-suffix"),
    ],
)
def test_byte_range_refuses_what_it_will_not_serve(header: str, message: str) -> None:
    with pytest.raises(RangeNotSatisfiable) as err:
        byte_range(header, 1000)
    assert str(err.value) == message


async def test_an_agent_sees_only_the_recordings_of_calls_they_answered(rec: Rec) -> None:
    agent = await client(rec, "agent1001")
    reply = await agent.get("/api/v1/recordings")
    assert reply.status_code == 200, reply.text
    listed = reply.json()
    assert [r["recording_id"] for r in listed] == [rec.mine.recording_id]
    assert listed[0]["agent_id"] == "1001" and listed[0]["format"] == "ogg"
    assert listed[0]["size_bytes"] == rec.mine.path.stat().st_size
    # Another agent's recording does not exist for them: 404, whatever they ask for.
    for path in ("", "/audio", "/audio?download=true"):
        reply = await agent.get(f"/api/v1/recordings/{rec.theirs.recording_id}{path}")
        assert reply.status_code == 404
        assert reply.json() == {
            "error_id": "no-such-recording",
            "message": f"no recording {rec.theirs.recording_id!r} among your recordings",
            "details": {"recording_id": rec.theirs.recording_id},
        }
    missing = await agent.get("/api/v1/recordings/nope/audio")
    assert missing.status_code == 404 and missing.json()["error_id"] == "no-such-recording"

    supervisor = await client(rec, "supervisor")
    assert [r["recording_id"] for r in (await supervisor.get("/api/v1/recordings")).json()] == [
        rec.mine.recording_id, rec.theirs.recording_id]  # same start time: catalog order
    theirs = await supervisor.get(f"/api/v1/recordings/{rec.theirs.recording_id}/audio")
    assert theirs.status_code == 200 and theirs.content == rec.theirs.path.read_bytes()
    by_call = await supervisor.get("/api/v1/recordings", params={"call_id": "1795341600.2"})
    assert [r["recording_id"] for r in by_call.json()] == [rec.theirs.recording_id]
    async with httpx.AsyncClient(base_url=rec.harness.base) as anonymous:
        assert (await anonymous.get(f"/api/v1/recordings/{rec.mine.recording_id}/audio")).status_code == 401


async def test_range_requests_return_the_exact_bytes(rec: Rec, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("cti.recordings.CHUNK_BYTES", 1000)  # so each answer below is several chunks
    agent = await client(rec, "agent1001")
    url = f"/api/v1/recordings/{rec.mine.recording_id}/audio"
    data = rec.mine.path.read_bytes()
    size = len(data)
    assert size > 10_000

    whole = await agent.get(url)
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["accept-ranges"] == "bytes" and whole.headers["content-type"] == "audio/ogg"
    assert whole.headers["content-length"] == str(size) and "content-range" not in whole.headers
    sha = rec.index.get(rec.mine.recording_id)
    assert sha is not None and whole.headers["etag"] == f'"{sha.sha256}"'

    for header, first, last in (("bytes=100-1099", 100, 1099), ("bytes=9000-", 9000, size - 1),
                                ("bytes=-777", size - 777, size - 1), ("bytes=0-0", 0, 0)):
        part = await agent.get(url, headers={"Range": header})
        assert part.status_code == 206, header
        assert part.content == data[first:last + 1]
        assert part.headers["content-range"] == f"bytes {first}-{last}/{size}"
        assert part.headers["content-length"] == str(last - first + 1)

    for header in (f"bytes={size}-", "bytes=5-1", "bytes=0-1,4-5", "pages=1-2"):
        bad = await agent.get(url, headers={"Range": header})
        assert bad.status_code == 416, header
        assert bad.headers["content-range"] == f"bytes */{size}"
        assert bad.json()["error_id"] == "range-not-satisfiable"
    bad = await agent.get(url, headers={"Range": f"bytes={size}-"})
    assert bad.json()["message"] == f"Range 'bytes={size}-' is outside the {size}-byte file"

    saved = await agent.get(url, params={"download": "true"})
    assert saved.status_code == 200 and saved.content == data
    assert saved.headers["content-disposition"] == f'attachment; filename="{rec.mine.path.name}"'


async def test_every_playback_and_refusal_is_audited_for_supervisors(rec: Rec) -> None:
    agent = await client(rec, "agent1001")
    other = await client(rec, "agent1002")
    supervisor = await client(rec, "supervisor")
    mine = f"/api/v1/recordings/{rec.mine.recording_id}/audio"
    await agent.get(mine)
    await agent.get(mine, headers={"Range": "bytes=10-19"})
    await agent.get(mine, params={"download": "true"})
    assert (await other.get(mine)).status_code == 404
    assert (await supervisor.get(mine, headers={"Range": "bytes=-5"})).status_code == 206

    refused = await agent.get("/api/v1/recordings/audit")
    assert refused.status_code == 403 and refused.json()["message"] == "the recordings audit needs the supervisor role"
    log = (await supervisor.get("/api/v1/recordings/audit", params={"recording_id": rec.mine.recording_id})).json()
    size = rec.mine.path.stat().st_size
    assert [(a["agent_id"], a["username"], a["role"], a["action"], a["byte_range"], a["status"]) for a in log] == [
        ("9001", "supervisor", "supervisor", "play", f"bytes={size - 5}-{size - 1}", 206),
        ("1002", "agent1002", "agent", "refused", "", 404),
        ("1001", "agent1001", "agent", "download", "", 200),
        ("1001", "agent1001", "agent", "play", "bytes=10-19", 206),
        ("1001", "agent1001", "agent", "play", "", 200),
    ]  # newest first
    assert {(a["recording_id"], a["call_id"], a["address"], a["at"]) for a in log} == {
        (rec.mine.recording_id, rec.mine.recording_id, "127.0.0.1", NOW)}
    # Metadata and lists are not playbacks: they are not in the log.
    await agent.get(f"/api/v1/recordings/{rec.mine.recording_id}")
    assert len(rec.index.access_log()) == 5


async def test_search_returns_only_what_the_caller_may_see(rec: Rec) -> None:
    agent = await client(rec, "agent1001")
    hits = (await agent.get("/api/v1/recordings/search", params={"q": "환불"})).json()
    assert [(h["recording_id"], h["speaker"], h["text"]) for h in hits] == [
        (rec.mine.recording_id, "customer", "환불 해 주세요 카드")]
    other = await client(rec, "agent1002")
    assert [h["recording_id"] for h in (await other.get("/api/v1/recordings/search", params={"q": "환불"})).json()] \
        == [rec.theirs.recording_id]
    assert (await other.get("/api/v1/recordings/search", params={"q": "카드"})).json() == []
    supervisor = await client(rec, "supervisor")
    both = (await supervisor.get("/api/v1/recordings/search", params={"q": "환불"})).json()
    assert sorted(h["recording_id"] for h in both) == [rec.mine.recording_id, rec.theirs.recording_id]
    empty = await agent.get("/api/v1/recordings/search")
    assert empty.status_code == 422 and empty.json()["error_id"] == "invalid-request"


async def test_recording_buttons_publish_requests_for_the_agents_own_call(rec: Rec) -> None:
    h = rec.harness
    seen = h.bus.subscribe("test", accepts=lambda m: isinstance(m, ev.RecordingPauseRequested
                                                              | ev.RecordingResumeRequested))
    await h.inbound_call("c9", "13800138000")
    await h.agent_leg("c9", "1001")
    await h.bus.publish(ev.CallAnswered(call_id=ev.CallId("c9"), agent_id=ev.AgentId("1001"), at=NOW))
    await h.settle()
    agent = await client(rec, "agent1001")
    other = await client(rec, "agent1002")
    for action in ("pause", "resume"):
        reply = await agent.post(f"/api/v1/calls/c9/recording/{action}")
        assert reply.status_code == 200 and reply.json() == {"ok": True, "call_id": "c9", "requested": action}
    refused = await other.post("/api/v1/calls/c9/recording/pause")
    assert refused.status_code == 404 and refused.json()["error_id"] == "no-such-call"
    unknown = await agent.post("/api/v1/calls/c9/recording/erase")
    assert unknown.status_code == 404
    assert unknown.json()["message"] == "unknown recording action 'erase'; expected one of pause, resume, start, stop"
    requests = []
    async with asyncio.timeout(5):
        while len(requests) < 2:
            requests.append(await seen.get())
    assert requests == [
        ev.RecordingPauseRequested(call_id=ev.CallId("c9"), by="1001", at=NOW),
        ev.RecordingResumeRequested(call_id=ev.CallId("c9"), by="1001", at=NOW),
    ]


async def test_a_playback_link_works_without_a_header_for_one_recording_and_a_few_minutes(rec: Rec) -> None:
    agent = await client(rec, "agent1001")
    reply = await agent.post(f"/api/v1/recordings/{rec.mine.recording_id}/link")
    assert reply.status_code == 200
    url, expires_at = reply.json()["url"], reply.json()["expires_at"]
    assert url.startswith(f"/api/v1/recordings/{rec.mine.recording_id}/audio?ticket=") and expires_at == NOW + 300
    refused = await agent.post(f"/api/v1/recordings/{rec.theirs.recording_id}/link")
    assert refused.status_code == 404 and refused.json()["error_id"] == "no-such-recording"
    ticket = url.partition("ticket=")[2]
    async with httpx.AsyncClient(base_url=rec.harness.base) as player:  # no Authorization header
        part = await player.get(url, headers={"Range": "bytes=0-99"})
        assert part.status_code == 206 and part.content == rec.mine.path.read_bytes()[:100]
        (row,) = rec.index.access_log()
        assert (row.agent_id, row.username, row.action, row.byte_range) == ("1001", "agent1001", "play", "bytes=0-99")

        elsewhere = await player.get(f"/api/v1/recordings/{rec.theirs.recording_id}/audio", params={"ticket": ticket})
        assert elsewhere.status_code == 401
        assert elsewhere.json()["message"] == (
            f"the playback ticket is not valid for recording {rec.theirs.recording_id!r}")
        forged = await player.get(url[:-3] + ("AAA" if not url.endswith("AAA") else "BBB"))
        assert forged.status_code == 401 and forged.json()["error_id"] == "invalid-ticket"
        rec.clock[0] = NOW + 301
        expired = await player.get(url)
        assert expired.status_code == 401 and expired.json() == {
            "error_id": "ticket-expired", "message": "the playback ticket has expired; ask for a new link", "details": {}}
    assert len(rec.index.access_log()) == 1  # refused tickets served nothing
