"""The supervisor page's Recordings panel in headless Debian Chromium (Playwright): the latest
recordings are listed, "play" gets a short-lived link and the browser's <audio> element streams it
(Range requests, no Authorization header), and "audit" shows that playback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cti.conftest import PASSWORD
from tests.cti.test_recordings import Rec, korean, rec  # noqa: F401 (fixtures)

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required"]

pytestmark = pytest.mark.browser


@pytest.fixture
def chromium() -> Path:
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed at /usr/bin/chromium")
    return CHROMIUM


async def test_a_supervisor_finds_plays_and_audits_a_recording_in_the_browser(rec: Rec, chromium: Path) -> None:  # noqa: F811
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(chromium), args=ARGS)
        try:
            page = await (await browser.new_context()).new_page()
            await page.goto(rec.harness.base + "/supervisor")
            await page.fill("input[name=username]", "supervisor")
            await page.fill("input[name=password]", PASSWORD)
            await page.click("button[type=submit]")
            await page.wait_for_selector("#recordings tr")
            assert await page.locator("#recordings tr").count() == 2

            await page.fill("#rec-q", "카드")
            await page.click("#rec-form button[type=submit]")
            await page.wait_for_function("document.querySelectorAll('#recordings tr').length === 1")
            row = page.locator("#recordings tr")
            assert await row.locator("td").first.text_content() == rec.mine.recording_id
            await row.locator("button", has_text="play").click()
            await page.wait_for_function("document.getElementById('rec-player').readyState >= 1", timeout=10_000)
            src = await page.eval_on_selector("#rec-player", "a => a.src")
            assert f"/api/v1/recordings/{rec.mine.recording_id}/audio?ticket=" in src

            played = [a for a in rec.index.access_log() if a.action == "play"]
            assert played and {(a.username, a.role, a.address) for a in played} == {
                ("supervisor", "supervisor", "127.0.0.1")}
            await row.locator("button", has_text="audit").click()
            await page.wait_for_function("document.getElementById('rec-audit').textContent.includes('play')")
            text = await page.text_content("#rec-audit")
            assert text is not None and "supervisor (supervisor) play" in text and "from 127.0.0.1: 20" in text
        finally:
            await browser.close()
