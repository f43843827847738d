"""The agent desktop's preview panel in headless Debian Chromium (Playwright): the offered contact
is shown with its script, Skip brings the next one, Call dials it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from callcenter import events as ev
from tests.cti.conftest import PASSWORD, Harness
from tests.cti.test_preview import Port, dialer  # noqa: F401 - fixture

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.browser


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed at /usr/bin/chromium")
async def test_an_agent_skips_one_preview_and_calls_the_next(cti: Harness, dialer: Port) -> None:  # noqa: F811
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = await browser.new_page()
            await page.goto(cti.base + "/")
            await page.fill("input[name=username]", "agent1001")
            await page.fill("input[name=password]", PASSWORD)
            await page.click("button[type=submit]")
            await page.wait_for_function("document.getElementById('link').textContent === 'connected'")
            await page.click("#btn-login")
            await page.wait_for_function("document.getElementById('state').textContent === 'not-ready'")
            await page.click("#btn-ready")  # the runner offers to agents the ACD reports ready
            await page.wait_for_selector("#preview:not(.hidden)", timeout=10_000)
            card = await page.inner_text("#preview-card")
            assert "Ann" in card and "********0100" in card
            assert await page.inner_text("#preview-script") == "Hello Ann, about your gold plan"
            await page.click("#btn-preview-skip")
            await page.wait_for_function("document.getElementById('preview-card').textContent.includes('Bob')")
            assert dialer.commands == []
            await page.click("#btn-preview-call")
            await page.wait_for_selector("#preview", state="hidden")
            async with asyncio.timeout(5):
                while not dialer.commands:  # noqa: ASYNC110 - the runner's ticks dial
                    await asyncio.sleep(0.01)
            [originate] = dialer.commands
            assert isinstance(originate, ev.Originate)
            assert dict(originate.variables)["CONTACT_ID"] == "spring:b"
            assert await page.text_content("#error") == ""
        finally:
            await browser.close()
