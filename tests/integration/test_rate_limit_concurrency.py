"""Acceptance: limits are exact under concurrency, over real HTTP, against a moto DynamoDB server."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from gateway_common import ratelimit, timeutil
from local import seed
from local.gateway_app import build_app
from tests.helpers import ai_counts
from tests.servers import gateway_server, moto_server

ENDPOINT = "/api/limits/check"  # the usage/limits API document gives it 20 requests per minute


@pytest.fixture
def frozen_mid_minute():
    timeutil.freeze_clock(time.time() // 60 * 60 + 20)  # mid-minute, and it stays there: no rollover however slow
    yield
    timeutil.reset_clock()


def test_100_parallel_requests_against_20_per_minute_admit_exactly_20(frozen_mid_minute):
    with moto_server(), gateway_server(build_app()) as base:
        keys = seed.seed_demo()
        headers = {"X-License-Key": keys["license_pro"]["key"]}

        def call(_: int) -> httpx.Response:
            with httpx.Client(base_url=base, timeout=30) as http:
                return http.get(ENDPOINT, headers=headers)

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

        assert all(r.json()["can_make_request"] is True for r in responses if r.status_code == 200)
        user_id = keys["license_pro"]["user_id"]  # endpoint limits belong to the account, like the plan's
        counts = ratelimit.window_counts(user_id, f"ep:GET {ENDPOINT}")
        assert counts["minute"] == 20
        assert counts["hour"] == 20 and counts["day"] == 20  # refused requests left no trace in other windows
        assert ai_counts(user_id) == {"minute": 0, "hour": 0, "day": 0, "month": 0}  # no plan quota used
