"""Security tests reuse the CTI harness (a real uvicorn server, real bus, real ACD core)."""

from tests.cti.conftest import cti  # noqa: F401 - the fixture
