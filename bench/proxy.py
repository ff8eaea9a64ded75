"""The LLM proxy's overhead: DynamoDB round trips of a warm chat completion, the latency the gateway adds over a
local fake upstream (p50/p99), and the cold start of the chat function.

Run: `.venv/bin/python -m bench.proxy [requests]`. The fake upstream is an OpenAI-compatible server on 127.0.0.1
(OPENAI_BASE_URL points the real OpenAI adapter at it). DynamoDB is moto in-process, so absolute latencies include
moto's; the call counts are what a deployed function makes. Targets: <= 2 sequential round trips, import < 400 ms.

Cold start is measured in a runtime-only venv (``.gateway/runtime-venv``, created on first use from
layers/common/requirements.txt + functions/chat/requirements.txt, i.e. what the layer and the function ship; the dev
venv has extra packages such as awscrt that botocore picks up), in fresh interpreters run interleaved so machine noise
hits every figure alike: the floor (fastapi, +botocore, +httpx, the account function), the chat function's import, and
import + its first chat completion (key lookup, admission, upstream call to the fake, settle; DynamoDB is a moto server
on loopback), because deferring an import the first request needs only moves the cost. Wall times on a shared machine
swing by half from one minute to the next, so where valgrind is installed the floor and the chat import are also
counted in instructions (callgrind): the same count on every run, whatever else the machine is doing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
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


RUNTIME_VENV = ROOT / ".gateway" / "runtime-venv"
RUNTIME_REQUIREMENTS = (ROOT / "layers" / "common" / "requirements.txt", ROOT / "functions" / "chat" / "requirements.txt")
COLD_RUNS = 15
# what one fresh interpreter imports, timed from before its first import (sys.path set up as in Lambda: layer, function)
FLOOR = "import gateway_common.fastapi_loader, botocore.session, botocore.client, httpx"
IMPORTS = {
    "fastapi (plain import)": "import fastapi",
    "fastapi as the layer loads it": "import gateway_common.fastapi_loader",
    "  + botocore": "import gateway_common.fastapi_loader, botocore.session, botocore.client",
    "  + botocore + httpx (the floor)": FLOOR,
    "account function (gw_account.app)": "import gw_account.app",
    "chat function (gw_chat.app)": "import gw_chat.app",
}
COUNTED = {"the floor": FLOOR, "chat function": "import gw_chat.app"}
FIRST_REQUEST = """
import asyncio, json, sys, time
t0 = time.perf_counter()
sys.path[:0] = {paths!r}
import gw_chat.app
t1 = time.perf_counter()
import httpx

async def call() -> int:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gw_chat.app.app), base_url="http://chat") as http:
        first = await http.post("/v1/chat/completions", headers={headers!r}, json={body!r})
        t2 = time.perf_counter()
        second = await http.post("/v1/chat/completions", headers={headers!r}, json={body!r})
        assert first.status_code == 200 and second.status_code == 200, (first.text, second.text)
        assert first.headers["x-gateway-provider"] == "openai", first.headers
        return t2

t2 = asyncio.run(call())
print(json.dumps({{"import": (t1 - t0) * 1000, "first": (t2 - t1) * 1000}}))
"""


def runtime_python(base: str | None = None) -> str:
    """The runtime-only venv's python, (re)created when the requirement files change; made from ``base`` (a Python
    3.13, the Lambda runtime's: ``.gateway/runtime-venv-3.13``) or from the bench's own interpreter."""
    stamp = hashlib.sha256(b"".join(p.read_bytes() for p in (*RUNTIME_REQUIREMENTS, ROOT / "constraints.txt"))).hexdigest()
    venv = RUNTIME_VENV if base is None else RUNTIME_VENV.with_name(f"{RUNTIME_VENV.name}-{version_of(base)}")
    python = venv / "bin" / "python"
    marker = venv / ".requirements-sha256"
    if not python.exists() or not marker.exists() or marker.read_text() != stamp:
        print(f"creating the runtime-only venv {venv.relative_to(ROOT)} (first run only)...", flush=True)
        subprocess.run([base or sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        requirements = [arg for p in RUNTIME_REQUIREMENTS for arg in ("-r", str(p))]
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        "-c", str(ROOT / "constraints.txt"), *requirements], check=True)
        marker.write_text(stamp)
    return str(python)


def version_of(python: str) -> str:
    return _fresh(python, "import sys; print('%d.%d' % sys.version_info[:2])")


def _fresh(python: str, code: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run([python, "-c", code], capture_output=True, text=True, cwd="/", env=env)
    if result.returncode:
        raise RuntimeError(result.stderr[-2000:])
    return result.stdout.strip().splitlines()[-1]


IMPORT_PATHS = [str(ROOT / "layers" / "common"), str(ROOT / "functions" / "chat"), str(ROOT / "functions" / "account")]


def import_instructions(python: str, statement: str) -> int | None:
    """Instructions one fresh interpreter executes for `statement` (interpreter start-up excluded); None without valgrind."""
    if not shutil.which("valgrind"):
        return None

    def count(code: str) -> int:
        result = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", python, "-c", code],
                                capture_output=True, text=True, cwd="/")
        collected = [line for line in result.stderr.splitlines() if "Collected" in line]
        if result.returncode or not collected:
            raise RuntimeError(result.stderr[-2000:])
        return int(collected[-1].split()[-1])

    setup = f"import sys; sys.path[:0] = {IMPORT_PATHS!r}"
    # once uncounted first: a source changed since this interpreter last imported it is compiled (and its bytecode
    # cached) by the next import, which would count the compiler (~500 M instructions after a change to the layer)
    _fresh(python, f"{setup}; {statement}; print('ok')")
    return count(f"{setup}; {statement}") - count(setup)


def import_times(python: str, runs: int = COLD_RUNS) -> dict[str, list[float]]:
    """Each line of IMPORTS in `runs` fresh interpreters, interleaved."""
    out: dict[str, list[float]] = {name: [] for name in IMPORTS}
    for _ in range(runs):
        for name, statement in IMPORTS.items():
            code = (f"import sys, time; sys.path[:0] = {IMPORT_PATHS!r}; t = time.perf_counter(); {statement}; "
                    "print((time.perf_counter() - t) * 1000)")
            out[name].append(float(_fresh(python, code)))
    return out


def first_request_times(python: str, headers: dict[str, str], upstream: str, endpoint: str,
                        runs: int = COLD_RUNS) -> tuple[list[float], list[float]]:
    """Import + first chat completion in fresh interpreters (the runtime venv, a moto server, the fake upstream)."""
    env = {"PATH": os.environ.get("PATH", ""), "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
           "AWS_DEFAULT_REGION": "us-east-1", "DYNAMODB_ENDPOINT_URL": endpoint, "OPENAI_API_KEY": "sk-bench",
           "OPENAI_BASE_URL": upstream + "/v1", "POWERTOOLS_LOG_LEVEL": "WARNING"}
    code = FIRST_REQUEST.format(paths=[str(ROOT / "layers" / "common"), str(ROOT / "functions" / "chat")],
                                headers=headers, body=BODY)
    imports, firsts = [], []
    for _ in range(runs):
        figures = json.loads(_fresh(python, code, env))
        imports.append(figures["import"])
        firsts.append(figures["first"])
    return imports, firsts


def _fig(values: list[float]) -> str:
    return f"median {statistics.median(values):4.0f} ms, min {min(values):4.0f}"


def cold_start() -> None:
    python = runtime_python()
    times = import_times(python)
    print(f"cold start of the chat function, runtime-only venv, {COLD_RUNS} fresh interpreters each (target: import < 400 ms):")
    for name, values in times.items():
        print(f"  import {name:<36} {_fig(values)}")
    floor = statistics.median(times["account function (gw_account.app)"])
    print(f"  the chat function adds {statistics.median(times['chat function (gw_chat.app)']) - floor:.0f} ms to the "
          "account function's import (fastapi + botocore + the layer are every function's floor)")
    counted = {name: import_instructions(python, statement) for name, statement in COUNTED.items()}
    if None not in counted.values():
        figures = ", ".join(f"{name} {value / 1e6:,.0f} M" for name, value in counted.items() if value is not None)
        print(f"  instructions of the import (callgrind, independent of machine load): {figures}")
    import logging

    from gateway_common import ledger
    from local import seed
    from tests.servers import gateway_server, moto_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the moto server's access log

    with moto_server() as endpoint, gateway_server(fake_upstream_app()) as upstream:
        admin = seed.seed_demo()["admin"]
        ledger.credit(user_id=admin["user_id"], amount=Decimal("1000"), entry_id="bench:cold", reason="bench")
        imports, firsts = first_request_times(python, {"Authorization": f"Bearer {admin['key']}"}, upstream, endpoint)
    total = [a + b for a, b in zip(imports, firsts, strict=True)]
    print(f"  import + first chat completion: {_fig(total)} (first request alone: {_fig(firsts)}; its DynamoDB calls go"
          " to a moto server on loopback, its upstream call to the local fake)")


def latencies(client: httpx.Client, url: str, headers: dict[str, str], n: int) -> list[float]:
    values = []
    for _ in range(n):
        start = time.perf_counter()
        client.post(url, headers=headers, json=BODY).raise_for_status()
        values.append((time.perf_counter() - start) * 1000)
    return values


def main(n: int = 300) -> None:
    os.environ.setdefault("KEY_CACHE_TTL_SECONDS", "30")
    os.environ["OPENAI_API_KEY"] = "sk-bench"
    for name, value in (("AWS_ACCESS_KEY_ID", "local"), ("AWS_SECRET_ACCESS_KEY", "local"), ("AWS_DEFAULT_REGION", "us-east-1")):
        os.environ.setdefault(name, value)
    from local import paths

    paths.install()
    cold_start()
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
            with httpx.Client(timeout=30) as http:
                http.post(base + "/v1/chat/completions", headers=headers, json=BODY).raise_for_status()  # warm
                with counter.measure() as calls:
                    response = http.post(base + "/v1/chat/completions", headers=headers, json=BODY)
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
            print(f"gateway added latency over a local fake upstream (n={n} sequential, moto in-process; bench.vs_litellm"
                  " measures it with DynamoDB in its own process): "
                  f"p50 {percentile(through, 50) - percentile(direct, 50):.1f} ms, "
                  f"p99 {percentile(through, 99) - percentile(direct, 99):.1f} ms")


if __name__ == "__main__":
    main(*[int(a) for a in sys.argv[1:2]])
