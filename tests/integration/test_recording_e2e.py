"""A recorded call through the whole control plane (callcenter.app.ControlPlane, recorder on)
against the emulator over real sockets: the agent picks up the phone, presses "pause
recording" and "resume recording" (MixMonitorMute on the emulator), hangs up on the desktop; the recording is
stored (stereo Opus, the paused span silent), the CRM gets its recordings row, and the recordings
API lets the call's agent stream it with Range requests, hides it from another agent, and shows
the supervisor the audit row.

The emulator runs in real time here (clock_scale 1): the recorder measures paused spans on the
control plane's clock, and the emulator writes audio on its own, so the two must agree."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile as sf

from callcenter import events as ev
from emulator.app import Emulator
from tests.integration.test_cti_e2e import PASSWORD, Stack, desk, prompts, running_stack, until  # noqa: F401  (prompts: fixture)

PAUSE_S = 2.0


@pytest.fixture
async def stack(make_emulator: Callable[..., Awaitable[Emulator]], ami_user: tuple[str, str], tmp_path: Path,
                prompts: Path | None) -> AsyncIterator[Stack]:  # noqa: F811
    # transcription is tested in tests/recorder; the recorder is on, phones answer PJSIPNotify
    async with running_stack(make_emulator, ami_user, tmp_path, prompts, clock_scale=1.0, with_recorder=True) as s:
        yield s


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x**2)))


async def test_a_paused_recorded_call_is_stored_logged_in_the_crm_and_served_by_the_rules(
    stack: Stack, ami_probe: Any, korean_clip: Path,
) -> None:
    emulator = stack.emulator
    probe = await ami_probe(emulator)
    processed_sub = stack.plane.bus.subscribe("test", accepts=lambda msg: isinstance(msg, ev.RecordingProcessed))
    emulator.set_endpoint("1001", answer=True, answer_after_s=1.0, talk_s=None)  # the agent picks up the phone
    async with desk(stack, "agent1001") as agent, httpx.AsyncClient(base_url=stack.base) as http:
        auth = {"Authorization": f"Bearer {await stack.token('agent1001')}"}
        await agent.act("login")
        await agent.next("agent.state-changed", new="not-ready")
        await agent.act("ready")
        call = emulator.place_call({"ani": stack.vip["ani"], "dnis": "10086", "talk_s": 120,
                                    "utterances": [str(korean_clip)]})
        await agent.next("cti.screen-pop", within_s=60)
        await agent.next("call.answered", call_id=call.linkedid)
        await probe.wait_event("MixMonitorStart", Channel=call.channel, within_s=10)
        await asyncio.sleep(PAUSE_S)
        reply = await http.post(f"/api/v1/calls/{call.linkedid}/recording/pause", headers=auth)
        assert reply.status_code == 200, reply.text
        await probe.wait_event("MixMonitorMute", Channel=call.channel, State="1", Direction="both")
        paused = await agent.next("recording.paused", call_id=call.linkedid)  # the audit fact, with who asked
        assert paused["by"] == "1001"
        await asyncio.sleep(PAUSE_S)
        await http.post(f"/api/v1/calls/{call.linkedid}/recording/resume", headers=auth)
        await probe.wait_event("MixMonitorMute", Channel=call.channel, State="0")
        await asyncio.sleep(PAUSE_S)
        await agent.act("hangup", call_id=call.linkedid)
        await agent.next("call.ended", call_id=call.linkedid)
        async with asyncio.timeout(30):
            processed = await processed_sub.get()
        assert isinstance(processed, ev.RecordingProcessed) and processed.call_id == call.linkedid

        # The stored file: two channels, the paused span (about PAUSE_S long) silent on both.
        stored = stack.plane.settings.recordings_dir / processed.path
        data, rate = sf.read(str(stored), dtype="float32", always_2d=True)
        assert data.shape[1] == 2
        (span,) = processed.paused_spans
        assert abs(span.end_s - span.start_s - PAUSE_S) < 0.7
        inside = data[int((span.start_s + 0.25) * rate): int((span.end_s - 0.25) * rate)]
        after = data[int((span.end_s + 0.25) * rate): int((span.end_s + PAUSE_S - 0.5) * rate)]
        assert rms(inside[:, 0]) < 1e-3 and rms(inside[:, 1]) < 1e-3
        assert rms(after[:, 1]) > 0.01  # the agent's phone "voice" is back after the resume

        # The CRM's recordings row, through the outbox.
        def crm_row() -> tuple[Any, ...] | None:
            with sqlite3.connect(stack.plane.settings.data_dir / "crm.sqlite3") as db:
                return db.execute("select call_id, path, format, size_bytes from recordings where id = ?",
                                  (processed.recording_id,)).fetchone()

        assert await until(crm_row, within_s=15) == (call.linkedid, processed.path, "ogg", stored.stat().st_size)

        # The call's agent streams it (exact bytes); another agent cannot; the supervisor sees the audit.
        url = f"/api/v1/recordings/{processed.recording_id}/audio"
        part = await http.get(url, headers={**auth, "Range": "bytes=100-4099"})
        assert part.status_code == 206 and part.content == stored.read_bytes()[100:4100]
        other = await http.get(url, headers={"Authorization": f"Bearer {await stack.token('agent1002')}"})
        assert other.status_code == 404 and other.json()["error_id"] == "no-such-recording"
        supervisor = {"Authorization": f"Bearer {await stack.token('supervisor')}"}
        log = (await http.get("/api/v1/recordings/audit", headers=supervisor)).json()
        assert [(a["agent_id"], a["action"], a["byte_range"], a["status"], a["address"]) for a in log] == [
            ("1002", "refused", "", 404, "127.0.0.1"),
            ("1001", "play", "bytes=100-4099", 206, "127.0.0.1"),
        ]


@pytest.fixture(scope="session")
def korean_clip(shared_dir: Path) -> Path:
    return shared_dir / "audio" / "korean" / "leopard_test_ko.wav"
