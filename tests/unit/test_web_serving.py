"""The dashboard's serving function: what it serves, with which headers, and what it refuses (no browser here)."""

from __future__ import annotations

import asyncio
import copy
import json
import re

import pytest
from fastapi.testclient import TestClient

from gw_web import app as web
from local.paths import ROOT

EVENT = json.loads((ROOT / "events" / "WebFunction.json").read_text())


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(web.app)


def test_the_page_and_its_files_with_security_headers(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<base href="/">' in page.text and 'src="app/js/main.js"' in page.text
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert page.headers["x-content-type-options"] == "nosniff" and page.headers["referrer-policy"] == "no-referrer"
    script = client.get("/app/js/main.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert client.get("/app/css/app.css").headers["content-type"].startswith("text/css")


def test_an_unchanged_file_is_a_304_by_etag(client):
    first = client.get("/app/js/api.js")
    again = client.get("/app/js/api.js", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert client.get("/app/js/api.js", headers={"If-None-Match": '"stale"'}).status_code == 200


@pytest.mark.parametrize("path", ["/app/nope.js", "/app/../gw_web/app.py", "/app/%2e%2e/gw_web/app.py", "/app/index.html",
                                  "/app/js/../../gw_web/app.py", "/app/"])
def test_only_files_of_the_app_are_served(client, path):
    response = client.get(path)
    assert response.status_code == 404, path
    assert response.json()["error"]["code"] == "not_found"


def _imports(text: str) -> list[str]:
    return re.findall(r"""(?:from\s+|import\()\s*['"](\.{1,2}/[^'"]+)['"]""", text)


def test_every_module_import_and_page_link_names_a_served_file():
    """A typo in an import would only show in a browser: check the whole import graph against what is served."""
    served = set(web.ASSETS)
    page = web.ASSETS["index.html"].body.decode()
    linked = re.findall(r'(?:href|src)="(app/[^"]+)"', page)
    assert linked and all(link.removeprefix("app/") in served for link in linked), linked
    for name in (n for n in served if n.endswith(".js")):
        folder = name.rsplit("/", 1)[0] if "/" in name else ""
        for target in _imports(web.ASSETS[name].body.decode()):
            parts = [p for p in f"{folder}/{target}".split("/") if p and p != "."]
            resolved: list[str] = []
            for part in parts:
                if part == "..":
                    resolved.pop()
                else:
                    resolved.append(part)
            assert "/".join(resolved) in served, f"{name} imports {target}, which is not served"


def test_no_asset_comes_from_a_cdn():
    for name, asset in web.ASSETS.items():
        if asset.media_type.startswith(("text/", "application/json")):
            urls = re.findall(r"https?://[^\s'\"`)]+", asset.body.decode())
            assert all(u.startswith(("https://auth.privy.io", "http://www.w3.org/2000/svg")) for u in urls), (name, urls)


def test_behind_api_gateway_the_page_uses_the_stage_path(monkeypatch):
    """In AWS the app lives at /v1/: its relative API calls must go to /v1/… too."""
    asyncio.set_event_loop(asyncio.new_event_loop())
    event = copy.deepcopy(EVENT)
    event.update(path="/", resource="/", pathParameters=None)
    event["requestContext"].update(path="/v1/", resourcePath="/")
    response = web.handler(event, type("Ctx", (), {"aws_request_id": "r1", "get_remaining_time_in_millis": lambda self: 1000})())
    assert response["statusCode"] == 200
    assert '<base href="/v1/">' in response["body"] and response["headers"]["etag"] != web.ASSETS["index.html"].etag
    manifest = web.handler(copy.deepcopy(EVENT), type("Ctx", (), {"aws_request_id": "r2"})())
    assert manifest["statusCode"] == 200 and json.loads(manifest["body"])["short_name"] == "Gateway"
    asyncio.set_event_loop(None)


def test_the_stack_outputs_the_dashboards_url_which_the_web_function_serves():
    from local import template

    loaded = template.load()
    url = loaded["Outputs"]["DashboardUrl"]["Value"]["Sub"]
    assert url == loaded["Outputs"]["ApiUrl"]["Value"]["Sub"] + "/"  # the API's own origin and stage: no CORS
    web_function = next(f for f in template.http_functions() if f.logical_id == "WebFunction")
    assert set(web_function.routes) == {("GET", "/"), ("GET", "/app/{path:path}")}
    events = loaded["Resources"]["WebFunction"]["Properties"]["Events"]
    assert all(e["Properties"]["RestApiId"] == {"Ref": "GatewayApi"} for e in events.values())
