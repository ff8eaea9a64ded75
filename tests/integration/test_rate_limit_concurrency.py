"""Acceptance: limits are exact under concurrency, over real HTTP, against a moto DynamoDB server."""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from gateway_common import db, ratelimit, timeutil
from gateway_common import keys as keys_module
from local import seed
from local.gateway_app import build_app
from tests.servers import gateway_server, moto_server


@pytest.fixture
def twenty_per_minute_balance():
    os.environ["GATEWAY_ENDPOINT_LIMITS"] = json.dumps({"GET /user/balance": {"minute": 20}})
    db.reset_clients()
    timeutil.freeze_clock(time.time() // 60 * 60 + 20)  # mid-minute, and it stays there: no rollover however slow
    yield
    timeutil.reset_clock()
    os.environ.pop("GATEWAY_ENDPOINT_LIMITS", None)
    db.reset_clients()


def test_100_parallel_requests_against_20_per_minute_admit_exactly_20(twenty_per_minute_balance):
    with moto_server(), gateway_server(build_app()) as base:
        keys = seed.seed_demo()
        headers = {"Authorization": f"Bearer {keys['live']['key']}"}

        def call(_: int) -> httpx.Response:
            with httpx.Client(base_url=base, timeout=30) as http:
                return http.get("/user/balance", headers=headers)

        with ThreadPoolExecutor(max_workers=50) as pool:
            responses = list(pool.map(call, range(100)))

        statuses = sorted(r.status_code for r in responses)
        assert statuses.count(200) == 20 and statuses.count(429) == 80, statuses
        refused = next(r for r in responses if r.status_code == 429)
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.json()["error"]["code"] == "rate_limit_minute"
        assert "20 requests per minute" in refused.json()["detail"]
        remaining = sorted(int(r.headers["x-ratelimit-remaining"]) for r in responses if r.status_code == 200)
        assert remaining == list(range(20))  # each admitted request saw its own exact count

        assert all(r.json()["credits"] == 25.0 for r in responses if r.status_code == 200)
        key_id = keys_module.key_id_for_hash(keys_module.hash_key(keys["live"]["key"]))
        counts = ratelimit.window_counts(key_id, "ep:GET /user/balance")
        assert counts["minute"] == 20
        assert counts["hour"] == 20 and counts["day"] == 20  # refused requests left no trace in other windows
