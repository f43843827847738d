"""The web pages in headless Debian Chromium (Playwright, never `playwright install`): an agent logs
in, goes ready, gets a screen pop for an emulated call, answers, hangs up and wraps up; the
supervisor page shows the call and the agent. Screenshots go to the test's temporary directory, or
to docs/screenshots/ with CALLCENTER_SCREENSHOTS=1 (how the ones in the docs were made)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path

import pytest

from tests.integration.test_cti_e2e import PASSWORD, Stack, prompts, stack, until  # noqa: F401 (fixtures)

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DOCS_SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

pytestmark = pytest.mark.browser


async def log_in(page, base: str, path: str, username: str) -> None:  # type: ignore[no-untyped-def]
    await page.goto(base + path)
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_selector("#app:not(.hidden)")


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed at /usr/bin/chromium")
    out = DOCS_SHOTS if os.environ.get("CALLCENTER_SCREENSHOTS") == "1" else tmp_path
    out.mkdir(parents=True, exist_ok=True)
    return out


async def test_agent_desktop_pops_answers_wraps_up_and_the_supervisor_sees_it(stack: Stack, shots: Path) -> None:  # noqa: F811
    from playwright.async_api import async_playwright

    emulator = stack.emulator
    emulator.set_endpoint("1001", answer=False, talk_s=None)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            agent = await (await browser.new_context(viewport={"width": 1280, "height": 860})).new_page()
            supervisor = await (await browser.new_context(viewport={"width": 1280, "height": 760})).new_page()
            await log_in(agent, stack.base, "/", "agent1001")
            await agent.wait_for_function("document.getElementById('link').textContent === 'connected'")
            await agent.click("#btn-login")
            await agent.wait_for_function("document.getElementById('state').textContent === 'not-ready'")
            await agent.click("#btn-ready")
            await agent.wait_for_function("document.getElementById('state').textContent === 'ready'")
            await log_in(supervisor, stack.base, "/supervisor", "supervisor")

            call = emulator.place_call({"ani": stack.vip["ani"], "dnis": "10086"})
            await agent.wait_for_selector("#pop:not(.hidden)", timeout=30_000)
            card = await agent.inner_text("#pop-call")
            assert stack.vip["ani"] in card and "10086" in card and "vip" in card
            assert stack.vip["name"] in await agent.inner_text("#pop-customer")
            assert await agent.text_content("#pop-state") == "· ringing"
            await agent.screenshot(path=str(shots / "agent-desktop.png"))

            await agent.click("#btn-answer")
            await agent.wait_for_function("document.getElementById('pop-state').textContent === '· talking'")
            await supervisor.wait_for_function(
                f"document.getElementById('calls').textContent.includes('{call.linkedid}')")
            await supervisor.wait_for_function("document.getElementById('agents').textContent.includes('on-call')")
            await asyncio.sleep(1.2)  # the next cti.queue-stats frame counts the answer
            await supervisor.screenshot(path=str(shots / "supervisor.png"))

            await agent.click("#btn-hangup")
            await agent.wait_for_function("document.getElementById('pop-state').textContent === '· ended'")
            await agent.select_option("#disposition", "follow-up")
            await agent.fill("#notes", "call back about the roaming bill")
            await agent.click("#btn-wrapup")
            await agent.wait_for_selector("#pop.hidden", state="attached")

            wall = await (await browser.new_context(viewport={"width": 1280, "height": 720})).new_page()
            await log_in(wall, stack.base, "/wallboard", "supervisor")
            await wall.wait_for_selector(".tile[data-queue=vip]")
            await asyncio.sleep(1.2)  # one more live update, without a reload
            tile = (await wall.text_content(".tile[data-queue=vip]")) or ""
            assert "answered1" in tile and "service level100%" in tile
            await wall.screenshot(path=str(shots / "wallboard.png"))
        finally:
            await browser.close()

    def logged() -> tuple[str, str, str] | None:
        with sqlite3.connect(stack.plane.settings.data_dir / "crm.sqlite3") as db:
            return db.execute("select agent_id, disposition, notes from call_records where call_id = ?",
                              (call.linkedid,)).fetchone()

    assert await until(logged) == ("1001", "follow-up", "call back about the roaming bill")
