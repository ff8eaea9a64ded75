"""The LLM proxy's overhead: DynamoDB round trips of a warm chat completion, the latency the gateway adds over a
local fake upstream (p50/p99), and the cold import time of the chat function.

Run: `.venv/bin/python -m bench.proxy [requests]`. The fake upstream is an OpenAI-compatible server on 127.0.0.1
(OPENAI_BASE_URL points the real OpenAI adapter at it). DynamoDB is moto in-process, so absolute latencies include
moto's; the call counts are what a deployed function makes. Targets: <= 2 sequential round trips, import < 400 ms.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import httpx

from bench.harness import DynamoCallCounter, local_gateway, percentile, round_trips

ROOT = Path(__file__).resolve().parent.parent
COMPLETION = {
    "id": "chatcmpl-bench", "object": "chat.completion", "created": 1741569952, "model": "gpt-4o-mini",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello from the fake upstream"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 6, "total_tokens": 18},
}
BODY = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 32}


def fake_upstream_app():  # type: ignore[no-untyped-def]
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def completions(_request):  # type: ignore[no-untyped-def]
        return JSONResponse(COMPLETION)

    return Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])


def import_time_ms(module: str = "gw_chat.app", function_dir: str = "chat", runs: int = 5) -> list[float]:
    code = (
        "import sys, time; t = time.perf_counter(); "
        f"sys.path[:0] = [{str(ROOT / 'layers' / 'common')!r}, {str(ROOT / 'functions' / function_dir)!r}]; "
        f"import {module}; print((time.perf_counter() - t) * 1000)"
    )
    out = []
    for _ in range(runs):
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="/")
        out.append(float(result.stdout.strip().splitlines()[-1]))
    return out


def latencies(client: httpx.Client, url: str, headers: dict[str, str], n: int) -> list[float]:
    values = []
    for _ in range(n):
        start = time.perf_counter()
        client.post(url, headers=headers, json=BODY).raise_for_status()
        values.append((time.perf_counter() - start) * 1000)
    return values


def main(n: int = 300) -> None:
    imports = import_time_ms()
    print(f"cold import of the chat function (gw_chat.app): median {statistics.median(imports):.0f} ms "
          f"(min {min(imports):.0f}, max {max(imports):.0f}, {len(imports)} fresh interpreters; target < 400 ms)")
    floor = import_time_ms("gw_account.app", "account")
    print(f"  same machine, the account function (fastapi + boto3 + layer): median {statistics.median(floor):.0f} ms;"
          f" the proxy adds {statistics.median(imports) - statistics.median(floor):.0f} ms")

    os.environ.setdefault("KEY_CACHE_TTL_SECONDS", "30")
    os.environ["OPENAI_API_KEY"] = "sk-bench"
    from local import paths

    paths.install()
    from tests.servers import gateway_server

    with gateway_server(fake_upstream_app()) as upstream:
        os.environ["OPENAI_BASE_URL"] = upstream + "/v1"
        with local_gateway() as (base, keys):
            from gateway_common import ledger

            admin = keys["admin"]  # Enterprise limits, so the run measures the gateway and not refusals
            ledger.credit(user_id=admin["user_id"], amount=Decimal("1000"), entry_id="bench:credits", reason="bench")
            headers = {"Authorization": f"Bearer {admin['key']}"}
            counter = DynamoCallCounter()
            counter.install()
            from gateway_common import db

            network = {"delay": 0.0}

            def simulated_network(**_: object) -> None:  # in-process moto answers in microseconds and under one lock:
                if network["delay"]:                     # a real round trip's latency lets parallel calls overlap
                    time.sleep(network["delay"])

            for boto in (db.client(), db.resource().meta.client):
                boto.meta.events.register("request-created.dynamodb", simulated_network)
            with httpx.Client(timeout=30) as http:
                http.post(base + "/v1/chat/completions", headers=headers, json=BODY).raise_for_status()  # warm
                network["delay"] = 0.010
                with counter.measure() as calls:
                    response = http.post(base + "/v1/chat/completions", headers=headers, json=BODY)
                network["delay"] = 0.0
                response.raise_for_status()
                assert response.headers["x-gateway-provider"] == "openai", response.headers
                names = sorted(name for name, _, _ in calls)
                print(f"DynamoDB calls of one warm chat completion: {len(calls)} {names}")
                print(f"  sequential round trips on the critical path: {round_trips(calls)} (target <= 2;"
                      " measured with 10 ms simulated network latency per DynamoDB call)")

                direct = latencies(http, upstream + "/v1/chat/completions", {}, n)
                through = latencies(http, base + "/v1/chat/completions", headers, n)
            for name, pct in (("p50", 50), ("p99", 99)):
                added = percentile(through, pct) - percentile(direct, pct)
                print(f"  {name}: direct {percentile(direct, pct):.1f} ms, through the gateway {percentile(through, pct):.1f} ms,"
                      f" added {added:.1f} ms")
            print(f"gateway added latency over a local fake upstream (n={n} sequential, moto in-process): "
                  f"p50 {percentile(through, 50) - percentile(direct, 50):.1f} ms, "
                  f"p99 {percentile(through, 99) - percentile(direct, 99):.1f} ms")


if __name__ == "__main__":
    main(*[int(a) for a in sys.argv[1:2]])
