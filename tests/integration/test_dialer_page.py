"""The campaign manager page in headless Debian Chromium, served by the campaigns router over a
real HTTP server and a real SQLite CRM: create a campaign, import a list (the rejection report is
shown), start it and see its figures."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from crm.db import make_engine, make_sessionmaker, upgrade
from cti.auth import Authenticator, LoginLimiter, TokenSigner
from dialer.api import build_router
from tests.asgi import router_app, served
from tests.cti.conftest import ACCOUNTS, HashedAccounts

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.browser


@pytest.fixture
def csv(tmp_path: Path) -> Path:
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed at /usr/bin/chromium")
    path = tmp_path / "list.csv"
    path.write_text("id,phone,name\na,(212) 555-0100,Ann\nb,555,Bob\n", encoding="utf-8")
    return path


async def test_a_supervisor_creates_imports_and_starts_a_campaign_on_the_page(tmp_path: Path, csv: Path) -> None:
    from playwright.async_api import async_playwright

    signer = TokenSigner("a-test-secret-of-enough-length")
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'crm.sqlite3'}")
    await upgrade(engine)
    app = router_app(build_router(make_sessionmaker(engine), Authenticator(HashedAccounts(), signer, LoginLimiter(5))))
    async with contextlib.AsyncExitStack() as cleanup:
        cleanup.push_async_callback(engine.dispose)
        base = await cleanup.enter_async_context(served(app, lifespan="off"))
        token = signer.issue(ACCOUNTS["supervisor"])[0]
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            try:
                page = await (await browser.new_context()).new_page()
                # The CTI pages' session: the page reads the token they keep.
                await page.add_init_script(f"sessionStorage.setItem('cc.token', '{token}');"
                                           "sessionStorage.setItem('cc.me', JSON.stringify({username: 'supervisor'}));")
                await page.goto(base + "/campaigns")
                await page.wait_for_selector("#main:not([hidden])")
                await page.fill("#create input[name=id]", "spring")
                await page.fill("#create input[name=name]", "Spring")
                await page.fill("#create input[name=queue]", "retention")
                await page.fill("#create textarea[name=settings]", '{"agents": ["1001"], "country": "US"}')
                await page.click("#create button")
                await page.wait_for_selector("tr[data-id=spring]")
                await page.set_input_files("#csv", str(csv))
                await page.click("#upload")
                await page.wait_for_function("document.getElementById('report').textContent.includes('rows rejected')")
                assert (await page.text_content("#report") or "").splitlines() == [
                    "1 added, 1 rows rejected",
                    "row 3, column phone: '555' has 3 national digits; a US number has 10",
                ]
                await page.click("button[data-action=start]")
                await page.wait_for_function("document.getElementById('title').textContent.includes('running')")
                assert await page.text_content("#title") == "Spring (spring) — running, progressive"
                assert await page.text_content("tr[data-id=spring] td:nth-child(4)") == "running"
                figures = await page.text_content("#figures")
                assert figures is not None and "1Contacts pending" in figures
                await page.click("button[data-action=start]")  # again: refused, and the page says why
                await page.wait_for_function("document.getElementById('error').textContent !== ''")
                assert await page.text_content("#error") == "campaign spring: can't start a campaign that is running"
            finally:
                await browser.close()
