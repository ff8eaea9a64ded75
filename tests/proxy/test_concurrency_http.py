"""Acceptance: 30 concurrent chat completions over real HTTP (uvicorn + a moto DynamoDB server) by a user whose
credits cover 10 of them admit at most 10; the balance ends >= 0 and equals credits - sum(usage-record costs)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import httpx

from gateway_common import users
from gateway_common.usage import recent_for_user
from local.gateway_app import build_app
from tests.servers import gateway_server, moto_server

from .conftest import make_payer

# openai/gpt-4 served by the local sandbox (no provider credentials in tests): the prompt estimate is 9 tokens and
# max_tokens=3 is exactly what the sandbox produces, so each request's real cost equals its reservation.
PROMPT, COMPLETION = 9, 3
COST = PROMPT * Decimal("0.00003") + COMPLETION * Decimal("0.00006")
BODY = {"model": "openai/gpt-4", "messages": [{"role": "user", "content": "count"}], "max_tokens": COMPLETION}


def test_30_concurrent_requests_with_credit_for_10_admit_at_most_10():
    with moto_server(), gateway_server(build_app()) as base:
        payer = make_payer("concurrent", COST * 10)
        headers = {"Authorization": f"Bearer {payer['key']}"}

        def call(_: int) -> httpx.Response:
            with httpx.Client(base_url=base, timeout=60) as http:
                return http.post("/v1/chat/completions", headers=headers, json=BODY)

        with ThreadPoolExecutor(max_workers=30) as pool:
            responses = list(pool.map(call, range(30)))

        statuses = sorted(r.status_code for r in responses)
        assert set(statuses) <= {200, 402}, [r.text for r in responses if r.status_code not in (200, 402)]
        assert statuses.count(200) == 10, statuses  # each admitted request cost exactly its reservation
        assert all((r.json()["usage"]["prompt_tokens"], r.json()["usage"]["completion_tokens"])
                   == (PROMPT, COMPLETION) for r in responses if r.status_code == 200)
        refused = next(r for r in responses if r.status_code == 402)
        assert "Insufficient credits" in refused.json()["detail"]

        records = recent_for_user(payer["user_id"], limit=100)
        assert len(records) == 10 and all(r["cost"] == COST for r in records)
        user = users.get_user(payer["user_id"])
        assert user.reserved == 0
        assert user.available >= 0
        assert user.available + user.reserved == COST * 10 - sum(r["cost"] for r in records)
