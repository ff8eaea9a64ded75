"""GET /user/balance through the local server: requests per second, p50/p99 latency, DynamoDB calls per request.

Run: `make bench` (or `.venv/bin/python -m bench.balance [total] [concurrency]`). The endpoint's own rate limit is
raised for the run so the figures measure the gateway, not refusals. DynamoDB is moto in-process, so absolute
latencies are moto's; the call count is what a deployed function makes.
"""

from __future__ import annotations

import os
import sys
import threading

import httpx

from bench.harness import DynamoCallCounter, local_gateway, round_trips, run_load, summary

BIG = {"minute": 10**9, "hour": 10**9, "day": 10**9}


def main(total: int = 2000, concurrency: int = 8) -> None:
    os.environ.setdefault("KEY_CACHE_TTL_SECONDS", "30")
    with local_gateway({"GET /user/balance": BIG}) as (base, keys):
        counter = DynamoCallCounter()
        counter.install()
        headers = {"Authorization": f"Bearer {keys['live']['key']}"}
        with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
            http.get("/user/balance").raise_for_status()  # warms the key cache
            with counter.measure() as calls:
                http.get("/user/balance").raise_for_status()
            names = sorted(name for name, _, _ in calls)
            print(f"DynamoDB calls per authenticated request (warm key cache): {len(calls)} {names}")
            print(f"  sequential round trips on the critical path: {round_trips(calls)}"
                  " (measured with 10 ms simulated network latency per DynamoDB call)")

            local = threading.local()

            def call() -> None:
                client = getattr(local, "client", None)
                if client is None:
                    client = local.client = httpx.Client(base_url=base, headers=headers, timeout=30)
                client.get("/user/balance").raise_for_status()

            rps, latencies = run_load(call, total, concurrency)
            print(summary(f"GET /user/balance x{total}, {concurrency} concurrent", rps, latencies))
            rps1, latencies1 = run_load(call, total // 4, 1)
            print(summary(f"GET /user/balance x{total // 4}, sequential", rps1, latencies1))


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    main(*args)
