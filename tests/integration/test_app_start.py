"""What the control plane (callcenter.app.ControlPlane) does with its configuration files while it
starts and runs: the CRM's queue mirror follows the routing rules file at every start, and an
admin's edit to the IVR flows goes into service without a restart (a bad edit is refused)."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from callcenter.app import ControlPlane
from callcenter.demo import free_port
from callcenter.settings import Settings
from crm import models as m
from crm.db import open_database
from crm.repositories import queue_mirror_rows
from emulator.app import Emulator
from routing_rules.loader import load_rules
from tests.polling import until

FLOW = """\
flow: tiny
dnis: ["4000"]
start: hello
prompts: {greeting: {en: "Version one."}}
nodes:
  hello: {type: play, prompt: greeting, next: bye}
  bye: {type: hangup}
"""

Start = Callable[[], Awaitable[ControlPlane]]


@pytest.fixture
def settings(tmp_path: Path, repo_dir: Path) -> Settings:
    settings = Settings(data_dir=tmp_path / "data")
    settings.ensure_dirs()
    (tmp_path / "rules").mkdir()
    shutil.copy(repo_dir / "routing_rules" / "rules" / "hotline.yaml", tmp_path / "rules" / "hotline.yaml")
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "tiny.yaml").write_text(FLOW, encoding="utf-8")
    settings.paths.routing_rules_dir = str(tmp_path / "rules")
    settings.paths.flows_dir = str(tmp_path / "flows")
    settings.speech.engine = "none"
    settings.http.host = settings.fastagi.bind_host = "127.0.0.1"
    settings.fastagi.port = free_port()
    return settings


@pytest.fixture
async def start(settings: Settings, make_emulator: Callable[..., Awaitable[Emulator]],
                ami_user: tuple[str, str]) -> AsyncIterator[Start]:
    planes: list[ControlPlane] = []

    async def run() -> ControlPlane:
        emulator = await make_emulator(agi_port=settings.fastagi.port)
        settings.ami.host, settings.ami.port = "127.0.0.1", emulator.ami_port
        settings.ami.username, settings.ami.secret = ami_user
        plane = ControlPlane(settings, http_port=0, with_recorder=False, flow_poll_s=0.05)
        await plane.start()
        planes.append(plane)
        return plane

    yield run
    for plane in planes:
        await plane.stop()


async def test_the_crm_queue_mirror_is_replaced_from_the_rules_file_at_start(settings: Settings, start: Start) -> None:
    engine = await open_database(settings.database_url)
    async with engine.begin() as conn:  # a mirror from an older rules file
        await conn.execute(insert(m.table_of(m.Queue)), [
            {"name": "retired", "description": "", "strategy": "ring-all", "skills": [], "service_level_s": 5,
             "wrap_up_s": 0},
            {"name": "billing", "description": "", "strategy": "ring-all", "skills": [], "service_level_s": 99,
             "wrap_up_s": 0},
        ])
    await engine.dispose()
    plane = await start()
    async with plane.crm.engine.connect() as conn:
        rows = (await conn.execute(select(m.table_of(m.Queue)))).mappings().all()
    expected = queue_mirror_rows(load_rules(Path(settings.paths.routing_rules_dir) / "hotline.yaml").queues.values())
    mirror = {r["name"]: {k: r[k] for k in expected[0]} for r in rows}
    assert mirror == {q["name"]: q for q in expected}
    assert mirror["billing"]["service_level_s"] == 20 and "retired" not in mirror


async def test_an_edited_flow_goes_into_service_while_running_and_a_bad_edit_is_refused(
    settings: Settings, start: Start
) -> None:
    plane = await start()
    first = plane.flows.for_dnis("4000")
    assert first is not None and plane.flows.errors == []
    path = Path(settings.paths.flows_dir) / "tiny.yaml"
    prompt = settings.prompts_dir / "tiny" / "en" / "greeting.wav"  # synthesised at start
    spoken = prompt.read_bytes()

    await asyncio.to_thread(path.write_text, FLOW.replace("Version one.", "Version two, louder."), "utf-8")
    await until(lambda: plane.flows.for_dnis("4000") is not first)
    second = plane.flows.for_dnis("4000")
    assert second.prompts["greeting"]["en"].value == "Version two, louder."
    await until(lambda: prompt.read_bytes() != spoken)  # the changed text prompt is synthesised again

    await asyncio.to_thread(path.write_text, FLOW.replace("next: bye", "next: nowhere"), "utf-8")
    await until(lambda: plane.flows.errors)
    assert [e.message for e in plane.flows.errors] == [
        "node 'hello' refers to missing node 'nowhere'", "node 'bye' is unreachable from start node 'hello'"
    ]
    assert plane.flows.for_dnis("4000") is second  # the last good version keeps serving

    [watcher] = [t for t in plane._tasks if t.get_name() == "ivr.flows"]
    assert not watcher.done()
    await plane.stop()
    assert watcher.cancelled()
