"""Fixtures every room's tests share: where the shared corpus is, and the optional servers."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# ../shared beside the checkout (CI clones next to it); $CALLCENTER_SHARED overrides.
SHARED = Path(os.environ.get("CALLCENTER_SHARED", REPO.parent / "shared"))
if not (SHARED / "ami").is_dir() and Path("/work/shared/ami").is_dir():
    SHARED = Path("/work/shared")

POSTGRES_URL = os.environ.get("CALLCENTER_TEST_POSTGRES", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("CALLCENTER_TEST_REDIS", "redis://127.0.0.1:6379/0")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not (SHARED / "ami").is_dir():
        pytest.fail(f"the shared corpus is missing at {SHARED} (set CALLCENTER_SHARED)")
    return SHARED


@pytest.fixture(scope="session")
def repo_dir() -> Path:
    return REPO


@pytest.fixture(scope="session")
def postgres_url() -> str:
    if not _reachable("127.0.0.1", 5432):
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432; PostgreSQL tests skipped")
    return POSTGRES_URL


@pytest.fixture(scope="session")
def redis_url() -> str:
    if not _reachable("127.0.0.1", 6379):
        pytest.skip("Redis is not reachable on 127.0.0.1:6379; Redis tests skipped")
    return REDIS_URL
