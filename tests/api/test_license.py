from __future__ import annotations

from tests.helpers import assert_error


def test_validate_pro_license_returns_plan_and_limits(client, demo):
    response = client.post("/api/validate", headers={"X-License-Key": "CHA-B21AF1CF-BD99A579-01F8A4C0-ECFA58EB"})
    assert response.status_code == 200
    body = response.json()
    assert body["valid"] is True and body["status"] == "success"
    assert body["plan"]["name"] == "pro" and body["plan"]["display_name"] == "Pro - AI Inclusa"
    assert body["plan"]["price"] == 7.99 and body["plan"]["ai_included"] is True
    assert body["limits"] == {
        "monthly_requests": 1000, "requests_per_minute": 10, "requests_per_hour": 200,
        "requests_per_day": None, "monthly_budget": 4.0,
    }


def test_validate_starter_is_byok(client, demo):
    body = client.post("/api/validate", headers={"X-License-Key": "CHA-F0E17C9E-4A7164DE-29427E34-AB0EA5EC"}).json()
    assert body["plan"]["billing_mode"] == "byok" and body["plan"]["ai_included"] is False


def test_validate_invalid_or_missing_is_401_with_error(client, demo):
    invalid = client.post("/api/validate", headers={"X-License-Key": "INVALID-KEY-TEST"})
    assert_error(invalid, 401, "invalid")
    assert "error" in invalid.text
    assert_error(client.post("/api/validate"), 401, "missing")
