"""Secrets stay secret: files made mode 600, `config show` redacted, and a whole login / REST /
WebSocket session at DEBUG level leaves no password, token or AMI secret in any log record."""

from __future__ import annotations

import json
import logging
import stat
from pathlib import Path

import pytest

from callcenter.app import session_secret
from callcenter.cli import main
from callcenter.demo import demo_password
from callcenter.settings import REDACTED, load_settings
from tests.cti.conftest import PASSWORD, Harness


def test_generated_session_secret_and_demo_password_are_private_files(tmp_path: Path) -> None:
    settings = load_settings(None, environ={"CALLCENTER_DATA_DIR": str(tmp_path)})
    secret = session_secret(settings)
    password = demo_password(tmp_path)
    for name, value in (("session.key", secret), ("demo-password.txt", password)):
        path = tmp_path / name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, name
        assert path.read_text().strip() == value
    assert len(secret) >= 32 and session_secret(settings) == secret  # made once, then kept


def test_config_show_redacts_every_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CALLCENTER_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CALLCENTER_AMI__SECRET", "ami-s3cret-value")
    monkeypatch.setenv("CALLCENTER_HTTP__SESSION_SECRET", "session-s3cret-value-0123456789")
    monkeypatch.setenv("CALLCENTER_DATABASE__URL", "postgresql+asyncpg://cc:db-s3cret@127.0.0.1:5432/cc")
    assert main(["config", "show"]) == 0
    out = capsys.readouterr().out
    shown = json.loads(out)
    assert "s3cret" not in out
    assert shown["ami"]["secret"] == REDACTED
    assert shown["http"]["session_secret"] == REDACTED
    assert shown["database"]["url"] == f"postgresql+asyncpg://cc:{REDACTED}@127.0.0.1:5432/cc"


async def test_a_debug_session_logs_no_password_or_token(cti: Harness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    assert (await cti.login("agent1001", "wrong-Pa55word")).status_code == 401
    agent = await cti.user("agent1001")
    assert agent.socket is not None
    await agent.socket.request("login")
    await agent.socket.request("ready")
    assert (await agent.http.get("/api/v1/me")).status_code == 200
    assert (await agent.http.delete("/api/v1/session")).status_code == 200
    assert (await agent.http.get("/api/v1/me")).json()["error_id"] == "token-revoked"
    # The test's own clients (httpx, the websockets client) log what they send at DEBUG; only the
    # server's records count.
    server = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore", "websockets.client"))]
    text = "\n".join(f"{r.name} {r.getMessage()} {r.args!r}" for r in server)
    assert "login 'agent1001' (agent 1001, agent) from 127.0.0.1" in text  # the logs were captured
    for secret in (PASSWORD, "wrong-Pa55word", agent.token, agent.token.split(".")[1]):
        assert secret not in text
