from __future__ import annotations

from gateway_common import __version__


def test_health_ping_and_api_health_are_public(client):
    for path in ("/health", "/api/health"):
        body = client.get(path).json()
        assert body["status"] == "healthy"
        assert body["version"] == __version__
        assert body["timestamp"].endswith("Z")
    ping = client.get("/ping")
    assert ping.status_code == 200
    assert ping.json()["status"] == "pong"
    assert isinstance(ping.json()["uptime"], int) and ping.json()["uptime"] >= 0
    assert ping.headers["x-request-id"]


def test_unknown_route_uses_the_error_envelope(client):
    response = client.get("/no/such/route")
    assert response.status_code == 404
    body = response.json()
    assert body["status_code"] == 404 and body["error"]["type"] == "not_found_error"
