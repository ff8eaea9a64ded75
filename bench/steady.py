"""`make run`'s latency does not grow with its tables: 10,000 sequential chat completions through the local stack as
`make run` starts it (DynamoDB a moto server in its own process), over a fake upstream in its own process.

Every completion writes a usage record and a reservation and settles in a transaction, so the tables grow by
thousands of items. moto used to deep-copy every table a transaction touched (latency grew with each request);
local/moto_transactions.py copies only the items touched. Target: the p99 over all 10,000 within 2x of the p99 over
the first 300. Also prints the p50/p99 of each successive 1,000 and the CPU per request of the gateway and DynamoDB
processes.

Run: `.venv/bin/python -m bench.steady [requests]`.
"""

from __future__ import annotations

import sys
import time

import httpx

from bench.harness import percentile
from bench.stack import CHAT_BODY, cpu_seconds, fake_upstream, make_run


def main(total: int = 10_000) -> None:
    with fake_upstream() as upstream, make_run(upstream) as gateway:
        dynamodb = gateway.dynamodb_pid()
        latencies: list[float] = []
        cpu_before = (cpu_seconds(gateway.pid), cpu_seconds(dynamodb) if dynamodb else 0.0)
        with httpx.Client(base_url=gateway.base, headers=gateway.headers, timeout=30) as http:
            for index in range(total):
                began = time.perf_counter()
                response = http.post("/v1/chat/completions", json=CHAT_BODY)
                latencies.append((time.perf_counter() - began) * 1000)
                if response.status_code != 200:
                    raise RuntimeError(f"request {index + 1}: {response.status_code} {response.text[:500]}")
                if (index + 1) % 1000 == 0:
                    print(f"  {index + 1:,} requests, p50 of the last 1,000 {percentile(latencies[-1000:], 50):.1f} ms",
                          flush=True)
        cpu_gateway = (cpu_seconds(gateway.pid) - cpu_before[0]) / total * 1000
        cpu_dynamodb = ((cpu_seconds(dynamodb) - cpu_before[1]) / total * 1000) if dynamodb else float("nan")
    step = max(total // 10, 1)
    print(f"make run: {total:,} sequential chat completions (fake upstream; DynamoDB = moto server, own process)")
    for start in range(0, total, step):
        window = latencies[start:start + step]
        print(f"  requests {start + 1:>6,}-{start + len(window):>6,}: p50 {percentile(window, 50):6.1f} ms"
              f"  p99 {percentile(window, 99):6.1f} ms")
    first = percentile(latencies[:300], 99)
    overall = percentile(latencies, 99)
    print(f"  p99 first 300: {first:.1f} ms; p99 all {total:,}: {overall:.1f} ms; ratio {overall / first:.2f}"
          f" (target <= 2.0: {'met' if overall <= 2 * first else 'NOT met'})")
    print(f"  p50 requests 1-300: {percentile(latencies[:300], 50):.1f} ms;"
          f" p50 last 300: {percentile(latencies[-300:], 50):.1f} ms")
    print(f"  CPU per request: gateway process {cpu_gateway:.2f} ms, DynamoDB (moto) process {cpu_dynamodb:.2f} ms")


if __name__ == "__main__":
    main(*[int(a) for a in sys.argv[1:2]])
