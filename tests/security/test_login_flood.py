"""A flood of logins must not stall the event loop that controls calls, nor tell which usernames
exist (docs/security.md)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from crm import models as m
from crm import repositories
from crm.db import make_sessionmaker, open_database
from cti.auth import Authenticator, AuthError, LoginLimiter, TokenSigner


@pytest.fixture
async def sessions(tmp_path: Path) -> Any:
    engine = await open_database(f"sqlite+aiosqlite:///{tmp_path / 'crm.sqlite3'}")
    maker = make_sessionmaker(engine)
    async with maker() as session:
        session.add(m.Agent(id="1001", username="agent1001", name="Ann", role="agent",
                            password_hash=repositories.hash_password("s3cret-pw")))
        await session.commit()
    yield maker
    await engine.dispose()


async def test_password_checks_run_off_the_event_loop_and_unknown_names_cost_the_same(
    sessions: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[tuple[str, int]] = []
    real = repositories._password_matches

    def spy(password_hash: str, password: str) -> bool:
        checked.append((password, threading.get_ident()))
        return real(password_hash, password)

    monkeypatch.setattr(repositories, "_password_matches", spy)
    loop_thread = threading.get_ident()
    async with sessions() as session:
        assert (await repositories.authenticate(session, "agent1001", "s3cret-pw")) is not None
        assert await repositories.authenticate(session, "agent1001", "wrong") is None
        assert await repositories.authenticate(session, "nobody", "wrong-too") is None
    # Every attempt ran argon2, the unknown name included (against a dummy hash), off the loop.
    assert [p for p, _ in checked] == ["s3cret-pw", "wrong", "wrong-too"]
    assert all(thread != loop_thread for _, thread in checked)


def test_one_address_trying_many_names_is_limited() -> None:
    limiter = LoginLimiter(3, clock=lambda: 0.0)
    for i in range(30):  # 10 x the per-name limit, each name failing once
        limiter.check(f"user{i}", "10.0.0.9")
        limiter.failed(f"user{i}", "10.0.0.9")
    with pytest.raises(AuthError) as refused:
        limiter.check("agent1001", "10.0.0.9")
    assert str(refused.value) == "too many failed logins from 10.0.0.9; try again in 60 s"
    limiter.check("agent1001", "10.0.0.10")  # another address is not affected


class SlowAccounts:
    """Holds every check until released, counting how many run at once."""

    def __init__(self) -> None:
        self.running = 0
        self.most = 0
        self.release = asyncio.Event()

    async def authenticate(self, username: str, password: str) -> None:
        self.running += 1
        self.most = max(self.most, self.running)
        await self.release.wait()
        self.running -= 1
        return None


async def test_a_login_flood_is_checked_two_at_a_time_and_the_excess_turned_away() -> None:
    accounts = SlowAccounts()
    auth = Authenticator(accounts, TokenSigner("k" * 32), LoginLimiter(1000))  # type: ignore[arg-type]
    tasks = [asyncio.create_task(auth.login(f"user{i}", "x", f"10.0.{i}.1")) for i in range(Authenticator.MAX_WAITING)]
    await asyncio.sleep(0.05)
    with pytest.raises(AuthError) as busy:
        await auth.login("one-more", "x", "10.9.9.9")
    assert str(busy.value) == "the server is busy checking other logins; try again in 1 s"
    assert accounts.most == Authenticator.MAX_CHECKING
    accounts.release.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, AuthError) and r.error_id == "bad-credentials" for r in results)
