"""Every date query parameter of every route (found in the OpenAPI document, so a new one is walked too) answers a 400
naming it for dates out of range or malformed, never a 500 (``end_date=9999-12-31`` was an OverflowError)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from gateway_common.dates import EARLIEST, LATEST, parse_date_param
from gateway_common.errors import BadRequest
from tests.helpers import assert_error, bearer

BAD = ("9999-12-31", "0001-01-01", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00+05:00", "1999-12-31", "2100-01-01",
       "2025-02-30", "yesterday")


DATE_NAMES = {"date", "day", "month", "since", "until", "from", "to", "start", "end"}


def _is_date(parameter: dict) -> bool:
    """A date by its name (``*_date``, ``day``, ``since``, …), its schema format or its description (ISO 8601,
    YYYY-MM-DD): a new date parameter is walked whatever it is called."""
    schema = json.dumps(parameter.get("schema") or {})
    text = f"{parameter.get('description') or ''} {schema}"
    return (parameter["name"].endswith("_date") or parameter["name"] in DATE_NAMES or '"format": "date' in schema
            or "ISO 8601" in text or "YYYY-MM" in text)


def _date_parameters(app) -> list[tuple[str, str]]:
    found = []
    for path, methods in app.openapi()["paths"].items():
        for method, operation in methods.items():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "query" and _is_date(parameter):
                    assert method == "get", (method, path)
                    found.append((path, parameter["name"]))
    return found


def test_every_date_parameter_answers_400_for_out_of_range_and_malformed_dates(client, demo, gateway_app):
    found = _date_parameters(gateway_app)
    paths = {path for path, _ in found}
    assert {"/activity/stats", "/activity/history", "/admin/transaction-analytics", "/admin/audit-logs"} <= paths, found
    admin = bearer(demo["admin"]["key"])
    for path, name in found:
        for value in BAD:
            response = client.get(path, params={name: value}, headers=admin)
            assert_error(response, 400, name)
        good = client.get(path, params={name: "2025-06-01"}, headers=admin)
        assert good.status_code in (200, 400), (path, name, good.text)  # a valid date is never a 500
        if good.status_code == 400:  # only a range rule may refuse it (e.g. start after the default end)
            assert "after" in good.json()["detail"] or "range" in good.json()["detail"], good.text


@pytest.mark.parametrize(("text", "end", "expected"), [
    ("2025-08-09", False, datetime(2025, 8, 9, tzinfo=UTC)),
    ("2025-08-09", True, datetime(2025, 8, 9, 23, 59, 59, tzinfo=UTC)),
    ("2025-08-09T07:30:00Z", True, datetime(2025, 8, 9, 7, 30, tzinfo=UTC)),
    ("2025-08-09T07:30:00+02:00", False, datetime(2025, 8, 9, 5, 30, tzinfo=UTC)),
    ("2000-01-01", False, EARLIEST),
    ("2099-12-31", True, LATEST),
    (None, False, None),
])
def test_the_shared_parser_reads_dates_and_times_in_utc(text, end, expected):
    assert parse_date_param(text, "d", end=end) == expected


def test_the_bounds_are_checked_before_any_arithmetic():
    with pytest.raises(BadRequest, match="not a date"):
        parse_date_param(" ", "start_date")
    for value in ("9999-12-31", "0001-01-01", "2100-01-01T00:00:00Z", "1999-12-31T23:59:59Z"):
        with pytest.raises(BadRequest, match="out of range"):
            parse_date_param(value, "end_date", end=True)
