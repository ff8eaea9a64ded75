"""Small helpers for tests."""

from __future__ import annotations

from typing import Any


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def assert_error(response: Any, status: int, *fragments: str) -> dict[str, Any]:
    """The response is the gateway's error envelope with this status and a message containing every fragment."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status_code"] == status
    assert body["timestamp"].endswith("Z")
    assert body["error"]["message"] == body["detail"]
    for fragment in fragments:
        assert fragment.lower() in body["detail"].lower(), (fragment, body["detail"])
    return body
