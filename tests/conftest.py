"""Shared fixtures: an in-process moto DynamoDB with the template's tables, demo data, and an ASGI client."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

from local import embedded, paths

paths.install()
embedded.set_local_env()
os.environ["KEY_CACHE_TTL_SECONDS"] = "0"  # tests see key changes at once; the cache has its own tests

from fastapi.testclient import TestClient  # noqa: E402
from moto import mock_aws  # noqa: E402

from gateway_common import auth, db, timeutil  # noqa: E402
from local import moto_atomic, seed, tables  # noqa: E402


@pytest.fixture
def dynamo() -> Iterator[Any]:
    """A fresh DynamoDB (moto, in-process) with every table of template.yaml, and the gateway's clock stopped.

    The clock stands still (tests move it with ``timeutil.shift_clock``): a test that counts requests in a minute
    window must not see the minute roll over halfway through on a slow machine.
    """
    os.environ.pop("DYNAMODB_ENDPOINT_URL", None)
    timeutil.freeze_clock(time.time())
    with mock_aws():
        moto_atomic.install()
        db.reset_clients()
        auth.clear_cache()
        tables.create_all(db.client())
        yield db.client()
    db.reset_clients()
    auth.clear_cache()
    timeutil.reset_clock()


@pytest.fixture
def demo(dynamo: Any) -> dict[str, dict[str, str]]:
    """The demo accounts of `make run`: admin, live (25.00 credits), test, license_pro, license_starter."""
    return seed.seed_demo()


@pytest.fixture(scope="session")
def gateway_app() -> Any:
    from local.gateway_app import build_app

    return build_app()


@pytest.fixture
def client(dynamo: Any, gateway_app: Any) -> TestClient:
    return TestClient(gateway_app)




def pytest_terminal_summary(terminalreporter: Any, config: Any) -> None:
    """After the run: the figures tests/deploy wrote (build sizes and times, each function's init duration), and a loud
    warning when the dashboard's browser tests could not run (they skip only when Chromium is missing)."""
    factory = getattr(config, "_tmp_path_factory", None)  # the session's temp root, shared with the xdist workers
    if factory is not None:
        root = factory.getbasetemp()
        reports = [root / "build-arm64" / "build-report.txt", root / "build-x86_64" / "build-report.txt",
                   root / "boot-report.txt"]
        found = [path.read_text() for path in reports if path.exists()]
        if found:
            terminalreporter.section("deploy figures (tests/deploy)")
            for text in found:
                terminalreporter.write(text + ("" if text.endswith("\n") else "\n"))

    from tests.web.conftest import chromium_missing

    missing = chromium_missing()
    if missing:
        terminalreporter.write_sep("!", "BROWSER TESTS (tests/web) DID NOT RUN", red=True, bold=True)
        terminalreporter.write_line(f"{missing}. CI installs it (.ci/run); the dashboard is untested in this run.", red=True)
