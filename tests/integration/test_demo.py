"""`callcenter demo` as a user runs it: a separate process that seeds its CRM, serves /status and the
pages, places calls that reach agents, and stops cleanly with --duration and with Ctrl-C."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx

from callcenter.demo import free_port


def start_demo(tmp_path: Path, *extra: str, log_level: tuple[str, ...] = ("--log-level", "WARNING")) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "callcenter", *log_level, "demo", "--data-dir", str(tmp_path / "demo"),
         "--port", str(port), "--rate", "40", "--speed", "4", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    return proc, f"http://127.0.0.1:{port}"


def wait_healthy(proc: subprocess.Popen[str], base: str, within_s: float = 90.0) -> dict:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        try:
            reply = httpx.get(base + "/status", timeout=2)
            if reply.status_code == 200:
                return reply.json()
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"the demo did not become healthy within {within_s} s")


def test_demo_runs_for_its_duration_serving_status_and_stops_cleanly(tmp_path: Path) -> None:
    proc, base = start_demo(tmp_path, "--duration", "30", log_level=())  # as ./scripts/demo runs it
    try:
        status = wait_healthy(proc, base)
        assert set(status) >= {"ami", "acd", "fastagi", "crm", "cti", "bus"}
        assert status["ok"] is True and status["ami"]["connected"] is True
        for page in ("/", "/supervisor", "/wallboard", "/api/v1/openapi.json"):
            assert httpx.get(base + page, timeout=5).status_code == 200, page
        out, _ = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert f"callcenter demo is running: {base}" in out
    password = (tmp_path / "demo" / "demo-password.txt").read_text().strip()
    assert f"user agent1001   password {password}" in out
    assert "user supervisor  password" in out
    assert "callcenter demo stopped (" in out
    assert "Traceback" not in out
    # The console keeps to the banner and warnings; every call's INFO lines go to the log file.
    assert " INFO " not in out
    assert "connection lost" not in out and "reconnect failed" not in out  # a clean stop, in order
    log = (tmp_path / "demo" / "demo.log").read_text()
    assert f"the control plane's log is in {tmp_path / 'demo' / 'demo.log'}" in out
    assert " INFO callcenter.app: control plane up" in log
    with sqlite3.connect(tmp_path / "demo" / "crm.sqlite3") as db:
        (customers,) = db.execute("select count(*) from customers").fetchone()
        (calls,) = db.execute("select count(*) from call_records where call_id not like 'seed-%'").fetchone()
    assert customers == 3000
    assert calls > 0  # the simulated calls were logged, the unfinished ones at shutdown


def test_ctrl_c_stops_the_demo_cleanly(tmp_path: Path) -> None:
    proc, base = start_demo(tmp_path)
    try:
        wait_healthy(proc, base)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert "callcenter demo: stopping ..." in out and "callcenter demo stopped (" in out
    assert "Traceback" not in out
