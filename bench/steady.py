"""`make run`'s latency does not grow with its tables: 10,000 sequential chat completions through the local stack as
`make run` starts it (DynamoDB a moto server in its own process), over a fake upstream in its own process.

Every completion writes a usage record and a reservation and settles in a transaction, so the tables grow by
thousands of items. moto used to deep-copy every table a transaction touched (latency grew with each request);
local/moto_transactions.py copies only the items touched. Target: the p99 over all 10,000 within 2x of the p99 over
the first 300. Also prints the p50/p99 of each successive 1,000 and the CPU per request of the gateway and DynamoDB
processes, and the machine's load average at the end of each 1,000 (on a shared machine a window's latency follows
the load; its CPU per request does not, and is what shows whether work per request grows).

Run: `.venv/bin/python -m bench.steady [requests]`.
"""

from __future__ import annotations

import os
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
        step = max(total // 10, 1)
        mark, window = cpu_before, []  # CPU per request of each tenth: the DynamoDB process's must not grow either
        with httpx.Client(base_url=gateway.base, headers=gateway.headers, timeout=30) as http:
            for index in range(total):
                began = time.perf_counter()
                response = http.post("/v1/chat/completions", json=CHAT_BODY)
                latencies.append((time.perf_counter() - began) * 1000)
                if response.status_code != 200:
                    raise RuntimeError(f"request {index + 1}: {response.status_code} {response.text[:500]}")
                if (index + 1) % step == 0:
                    now = cpu_seconds(gateway.pid), cpu_seconds(dynamodb) if dynamodb else 0.0
                    window.append(((now[0] - mark[0]) / step * 1000, (now[1] - mark[1]) / step * 1000,
                                   os.getloadavg()[0]))
                    mark = now
                    print(f"  {index + 1:,} requests, p50 of the last {step:,} {percentile(latencies[-step:], 50):.1f} ms,"
                          f" CPU per request: gateway {window[-1][0]:.2f} ms, DynamoDB {window[-1][1]:.2f} ms", flush=True)
        cpu_gateway = (cpu_seconds(gateway.pid) - cpu_before[0]) / total * 1000
        cpu_dynamodb = ((cpu_seconds(dynamodb) - cpu_before[1]) / total * 1000) if dynamodb else float("nan")
    print(f"make run: {total:,} sequential chat completions (fake upstream; DynamoDB = moto server, own process)")
    for number, start in enumerate(range(0, total, step)):
        part = latencies[start:start + step]
        cpu = f"  CPU/request gateway {window[number][0]:5.2f} ms, DynamoDB {window[number][1]:5.2f} ms," \
            f" load {window[number][2]:4.1f}" if number < len(window) else ""
        print(f"  requests {start + 1:>6,}-{start + len(part):>6,}: p50 {percentile(part, 50):6.1f} ms"
              f"  p99 {percentile(part, 99):6.1f} ms{cpu}")
    first = percentile(latencies[:300], 99)
    overall = percentile(latencies, 99)
    print(f"  p99 first 300: {first:.1f} ms; p99 all {total:,}: {overall:.1f} ms; ratio {overall / first:.2f}"
          f" (target <= 2.0: {'met' if overall <= 2 * first else 'NOT met'})")
    print(f"  p50 requests 1-300: {percentile(latencies[:300], 50):.1f} ms;"
          f" p50 last 300: {percentile(latencies[-300:], 50):.1f} ms")
    print(f"  CPU per request: gateway process {cpu_gateway:.2f} ms, DynamoDB (moto) process {cpu_dynamodb:.2f} ms")


if __name__ == "__main__":
    main(*[int(a) for a in sys.argv[1:2]])
