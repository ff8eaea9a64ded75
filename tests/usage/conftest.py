"""Usage-analytics tests run against an app of the groups they cover (license + analytics), so another group's
work in progress in the shared tree cannot break them; tests/api and the server test cover the whole gateway."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient


@pytest.fixture(scope="session")
def usage_app() -> Any:
    from gateway_common.web import create_app
    from gw_analytics.app import router as analytics_router
    from gw_license.app import router as license_router

    return create_app("usage analytics under test", [license_router, analytics_router])


@pytest.fixture
def client(dynamo: Any, usage_app: Any) -> TestClient:
    return TestClient(usage_app)
