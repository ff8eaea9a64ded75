"""Browser tests: one real gateway (uvicorn + moto server, demo data) and one headless Chromium for the whole module.

Chromium is Debian's package (``apt-get install -y chromium``), driven by Playwright's Python client through
``executable_path``; Playwright downloads no browser. Without Chromium the tests are skipped and the session ends with
a loud message (tests/conftest.py). axe-core comes from npm with web/package-lock.json (``make test`` runs ``npm ci``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from local.paths import ROOT

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu", "--disable-dev-shm-usage"]
AXE = ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}


def chromium_missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"Chromium is not installed ({CHROMIUM}): apt-get update && apt-get install -y chromium"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "the playwright package is missing: pip install -r requirements-dev.txt -c constraints.txt"
    return None


@dataclass
class Gateway:
    base: str
    keys: dict[str, dict[str, str]]

    def http(self, key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.base, headers=headers, timeout=30)

    def rollup(self) -> dict[str, Any]:
        """What `make rollup` does: run the rollup job once, inside the running gateway."""
        response = httpx.post(f"{self.base}/local/jobs/RollupFunction", timeout=60)
        response.raise_for_status()
        return response.json()


@pytest.fixture(scope="module")
def gateway() -> Iterator[Gateway]:
    from local import job_trigger, seed
    from local.gateway_app import build_app
    from tests.servers import gateway_server, moto_server

    with moto_server():
        keys = seed.seed_demo()
        app = build_app()
        app.include_router(job_trigger.router)
        with gateway_server(app) as base:
            yield Gateway(base, keys)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    missing = chromium_missing()
    if missing:
        pytest.skip(f"BROWSER TESTS NOT RUN: {missing}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def new_page(browser: Any, gateway: Gateway) -> Iterator[Any]:
    """Pages in fresh contexts (each its own sessionStorage), closed after the test; fail on any script error."""
    contexts: list[Any] = []
    errors: list[str] = []

    def make(viewport: dict[str, int] = DESKTOP, *, bypass_csp: bool = False) -> Any:
        # bypass_csp only to inject axe-core: the app's own CSP allows no inline script
        context = browser.new_context(viewport=viewport, base_url=gateway.base, bypass_csp=bypass_csp)
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        return page

    yield make
    for context in contexts:
        context.close()
    assert not errors, f"script errors in the page: {errors}"


def show(page: Any, name: str) -> None:
    """Go to a page of the app; the same hash again reloads it (a hash change alone would not re-render it)."""
    url = f"{page.url.split('#')[0]}#/{name}" if page.url.startswith("http") else f"/#/{name}"
    if page.url == url:
        page.reload()
    else:
        page.goto(url)
    page.locator("main h1").wait_for()


def sign_in(page: Any, key: str) -> None:
    page.goto("/")
    page.get_by_label("API key", exact=True).fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("#balance")
