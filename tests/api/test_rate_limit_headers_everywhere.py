"""Every authenticated response carries X-RateLimit-Limit/Remaining/Reset: walked over every GET route of every
function (taken from template.yaml, so new routes are covered without editing this test)."""

from __future__ import annotations

from local import template
from tests.helpers import bearer


def _authenticated_get_routes(client) -> list[str]:
    paths = sorted({path for f in template.http_functions() for method, path in f.routes if method == "GET" and "{" not in path})
    return [p for p in paths if client.get(p).status_code == 401]


def test_every_authenticated_get_route_sends_rate_limit_headers(client, demo):
    routes = _authenticated_get_routes(client)
    assert {"/user/balance", "/user/api-keys", "/user/plan"} <= set(routes)
    for path in routes:
        response = client.get(path, headers=bearer(demo["admin"]["key"]))
        assert response.status_code != 401, path
        limit = response.headers.get("x-ratelimit-limit")
        remaining = response.headers.get("x-ratelimit-remaining")
        reset = response.headers.get("x-ratelimit-reset")
        assert limit and remaining and reset, f"{path} answered {response.status_code} without rate-limit headers"
        assert 0 <= int(remaining) < int(limit) and int(reset) > 1_700_000_000, path
