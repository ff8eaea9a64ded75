"""The gateway against LiteLLM's proxy, in one run, interleaved, over the same local fake upstream.

Run: `make bench-litellm` (or `.venv/bin/python -m bench.vs_litellm [rounds]`). On first use it creates
`.gateway/litellm-venv` with `litellm[proxy]` (pinned below; gitignored). Four processes serve: the fake OpenAI
upstream (bench/fake_upstream.py), the gateway as `make run` starts it (its DynamoDB a moto server in a process of its
own, the jobs in a third), and LiteLLM's proxy (master key, no database, one worker). Each figure alternates the two
servers (and the direct upstream) round by round, so machine noise hits them alike. It prints:

- added latency p50/p99 over the direct upstream, JSON and stream time to first byte (sequential requests);
- throughput and p99 latency at concurrency 1, 8 and 32;
- CPU per request of each server's process (user + system time, /proc), and of the gateway's DynamoDB process;
- cold import in instructions (callgrind): the chat function (runtime-only venv) against `import litellm`, on the
  bench's Python and on the Lambda runtime's 3.13 when the machine has one (its venvs: `.gateway/*-venv-3.13`);
- AWS cost per 1M chat completions, from the DynamoDB calls and write/read units one completion makes (counted in a
  separate in-process phase) and the measured duration, at the prices stated in PRICES.

LiteLLM here authenticates with a master key and writes nothing; the gateway looks the key up (cached), counts its rate
limits, reserves and settles credit, and writes a usage record. The moto server is far slower than DynamoDB, so the
gateway's latencies include a local DynamoDB that costs more than the real one.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from bench.harness import percentile, run_threads
from bench.stack import CHAT_BODY, ROOT, children, cpu_seconds, fake_upstream, make_run, stop, wait_until_up
from local.processes import free_port

LITELLM_VERSION = "1.108.7"  # litellm[proxy]: the newest whose proxy extras the registry resolves here
LITELLM_VENV = ROOT / ".gateway" / "litellm-venv"
MASTER_KEY = "sk-bench-master-key"
LITELLM_ENV = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR", "LITELLM_TELEMETRY": "False",
               "DISABLE_ADMIN_UI": "True", "NO_DOCS": "True"}  # no traffic beyond loopback: no cost-map download

# AWS list prices, us-east-1, as of this script (on-demand). The chat function: arm64, its MemorySize in template.yaml.
PRICES = {
    "lambda_gb_second_arm64": Decimal("0.0000133334"),
    "lambda_request": Decimal("0.20") / 1_000_000,
    "api_gateway_rest_request": Decimal("3.50") / 1_000_000,
    "dynamodb_write_request_unit": Decimal("0.625") / 1_000_000,
    "dynamodb_read_request_unit": Decimal("0.125") / 1_000_000,
}
CHAT_MEMORY_GB = Decimal(1024) / 1024
STREAM_BODY = {**CHAT_BODY, "stream": True}


@dataclass
class Server:
    name: str
    base: str
    pid: int
    headers: dict[str, str]
    model: str
    cpu: dict[str, list[float]] = field(default_factory=dict)

    def cpu_now(self) -> float:
        """CPU seconds of the server process and its workers (not the gateway's DynamoDB or jobs processes)."""
        pids = [self.pid] + [c for c in children(self.pid) if self.name == "litellm"]
        return sum(cpu_seconds(p) for p in pids)


# ----------------------------------------------------------------------------------------------------- LiteLLM

def litellm_bin(base: str | None = None) -> Path:
    """LiteLLM's CLI from its own venv, created (or updated) on first use; made from ``base`` (a Python 3.13:
    ``.gateway/litellm-venv-3.13``) or from the bench's own interpreter."""
    from bench.proxy import version_of

    venv = LITELLM_VENV if base is None else LITELLM_VENV.with_name(f"{LITELLM_VENV.name}-{version_of(base)}")
    binary = venv / "bin" / "litellm"
    marker = venv / ".version"
    if not binary.exists() or not marker.exists() or marker.read_text() != LITELLM_VERSION:
        print(f"installing litellm[proxy]=={LITELLM_VERSION} into {venv.relative_to(ROOT)} (first run only)...",
              flush=True)
        subprocess.run([base or sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        f"litellm[proxy]=={LITELLM_VERSION}"], check=True)
        marker.write_text(LITELLM_VERSION)
    return binary


@contextmanager
def litellm_proxy(upstream: str) -> Iterator[Server]:
    """LiteLLM's proxy: one model on the fake upstream, a master key, no database, one worker."""
    binary = litellm_bin()
    folder = ROOT / ".gateway" / "litellm-bench"
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "config.yaml"
    config.write_text(json.dumps({
        "model_list": [{"model_name": "gpt-4o-mini",
                        "litellm_params": {"model": "openai/gpt-4o-mini", "api_base": upstream, "api_key": "sk-bench"}}],
        "general_settings": {"master_key": MASTER_KEY},
        "litellm_settings": {"telemetry": False, "set_verbose": False, "json_logs": False},
    }))
    port = free_port()
    env = {**os.environ, **LITELLM_ENV}
    env.pop("DATABASE_URL", None)
    process = subprocess.Popen([str(binary), "--config", str(config), "--host", "127.0.0.1", "--port", str(port),
                                "--num_workers", "1"], cwd=folder, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base + "/health/liveliness", process, seconds=180)
        server = Server("litellm", base + "/v1", process.pid, {"Authorization": f"Bearer {MASTER_KEY}"}, "gpt-4o-mini")
        with httpx.Client(timeout=30) as http:
            http.post(server.base + "/chat/completions", headers=server.headers,
                      json={**CHAT_BODY, "model": server.model}).raise_for_status()
        yield server
    finally:
        stop(process)


# ----------------------------------------------------------------------------------------------------- measuring

def body_for(server: Server, stream: bool) -> dict[str, Any]:
    return {**(STREAM_BODY if stream else CHAT_BODY), "model": server.model}


def one_json(http: httpx.Client, server: Server) -> float:
    began = time.perf_counter()
    http.post(server.base + "/chat/completions", headers=server.headers, json=body_for(server, False)).raise_for_status()
    return (time.perf_counter() - began) * 1000


def one_ttfb(http: httpx.Client, server: Server) -> float:
    """Time to the first byte of a streamed completion's body (the stream is then read to its end)."""
    began = time.perf_counter()
    with http.stream("POST", server.base + "/chat/completions", headers=server.headers,
                     json=body_for(server, True)) as response:
        response.raise_for_status()
        chunks = response.iter_raw()
        next(chunks)
        first = (time.perf_counter() - began) * 1000
        for _ in chunks:
            pass
    return first


def sequential(servers: list[Server], rounds: int, per_round: int) -> dict[tuple[str, str], list[float]]:
    """JSON latency and stream TTFB, `per_round` requests per server and kind, servers alternating each round."""
    out: dict[tuple[str, str], list[float]] = {}
    with httpx.Client(timeout=30) as http:
        for server in servers:  # warm every connection and cache
            for _ in range(5):
                one_json(http, server)
                one_ttfb(http, server)
        for index in range(rounds):
            order = servers if index % 2 == 0 else servers[::-1]
            for server in order:
                for kind, call in (("json", one_json), ("ttfb", one_ttfb)):
                    before = server.cpu_now() if server.pid else 0.0
                    values = [call(http, server) for _ in range(per_round)]
                    out.setdefault((server.name, kind), []).extend(values)
                    if server.pid:
                        server.cpu.setdefault(kind, []).append((server.cpu_now() - before) / per_round * 1000)
    return out


def load(server: Server, total: int, concurrency: int) -> tuple[float, list[float], float]:
    """`total` JSON completions over `concurrency` threads: (requests/s, latencies ms, server CPU ms per request).
    A request that fails (error status, or no answer within 60 s) counts in the latencies as 60 s and not as served."""
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    remaining = iter(range(total))
    clients = [httpx.Client(timeout=60) for _ in range(concurrency)]

    def worker(http: httpx.Client) -> None:
        while True:
            with lock:
                if next(remaining, None) is None:
                    return
            try:
                elapsed = one_json(http, server)
            except httpx.HTTPError as exc:
                elapsed = 60_000.0
                with lock:
                    failures.append(type(exc).__name__)
            with lock:
                latencies.append(elapsed)

    for http in clients:
        one_json(http, server)
    cpu_before = server.cpu_now()
    wall = run_threads([threading.Thread(target=worker, args=(http,)) for http in clients])
    cpu = (server.cpu_now() - cpu_before) / total * 1000
    for http in clients:
        http.close()
    if failures:
        print(f"    {server.name} c={concurrency}: {len(failures)} of {total} requests failed ({Counter(failures)})")
    return (total - len(failures)) / wall, latencies, cpu


def throughput(servers: list[Server], levels: tuple[int, ...], rounds: int) -> dict[tuple[str, int], list[Any]]:
    out: dict[tuple[str, int], list[Any]] = {}
    for concurrency in levels:
        total = max(100, concurrency * 15)
        for index in range(rounds):
            for server in (servers if index % 2 == 0 else servers[::-1]):
                out.setdefault((server.name, concurrency), []).append(load(server, total, concurrency))
    return out


# ----------------------------------------------------------------------------------------------------- AWS cost

def item_size(item: dict[str, Any]) -> int:
    """DynamoDB's item size of a wire-format item (attribute names + values), in bytes."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: dict[str, Any]) -> int:
    (kind, data), = value.items()
    if kind == "S":
        return len(data.encode())
    if kind == "N":
        return len(data.strip("-").replace(".", "").lstrip("0")) // 2 + 1
    if kind == "B":
        return len(data) * 3 // 4
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("SS", "NS", "BS"):
        return sum(_value_size({kind[0]: v}) for v in data)
    if kind == "L":
        return 3 + sum(_value_size(v) + 1 for v in data)
    if kind == "M":
        return 3 + sum(len(k.encode()) + _value_size(v) + 1 for k, v in data.items())
    return 0


class CapacityMeter:
    """Counts the gateway's DynamoDB calls and the request units they consume (in-process moto, whose items it reads
    before and after each write: a write costs ceil(max(size before, after) / 1 KB) units, twice in a transaction)."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.write_units = 0.0
        self.index_write_units = 0.0
        self.read_units = 0.0
        self._pending: dict[int, list[tuple[str, dict[str, Any], Any]]] = {}  # thread -> (table, key, item before)
        self._lock = threading.Lock()

    def install(self) -> None:
        from gateway_common import db

        events = db.client().meta.events
        events.register("provide-client-params.dynamodb", self._before)
        events.register("after-call.dynamodb", self._after)

    @staticmethod
    def _item(table: str, key: dict[str, Any]) -> dict[str, Any] | None:
        """The stored item (wire format) in the in-process moto, or None."""
        from moto.dynamodb.models import dynamodb_backends

        backend = dynamodb_backends["123456789012"]["us-east-1"]
        try:
            item = backend.get_item(table, key)
        except Exception:  # noqa: BLE001 - a key the table refuses: nothing stored
            return None
        return item.to_json()["Attributes"] if item is not None else None

    def _stored(self, table: str, key: dict[str, Any]) -> int:
        item = self._item(table, key)
        return item_size(item) if item is not None else 0

    @staticmethod
    def _index_units(table: str, before: dict[str, Any] | None, after: dict[str, Any] | None) -> int:
        """Write units of the GSIs a write changes: one per KB of the index entry where the item enters, stays in or
        leaves an index, two where its index key changes (delete + put), none where the attributes the index projects
        (ALL: every one; INCLUDE: keys and the listed ones; KEYS_ONLY: keys) are unchanged."""
        from moto.dynamodb.models import dynamodb_backends

        schema = dynamodb_backends["123456789012"]["us-east-1"].get_table(table)
        table_keys = [name for name in (schema.hash_key_attr, schema.range_key_attr) if name]
        units = 0
        for index in schema.global_indexes or []:
            names = [k["AttributeName"] for k in index.schema]
            projection = index.projection or {}
            kind = projection.get("ProjectionType", "ALL")
            kept = None if kind == "ALL" else {*table_keys, *names, *projection.get("NonKeyAttributes", [])}

            def entry(item: dict[str, Any], kept: set[str] | None = kept) -> dict[str, Any]:
                return item if kept is None else {k: v for k, v in item.items() if k in kept}

            held = [entry(i) for i in (before, after) if i is not None and all(n in i for n in names)]
            if len(held) == 2 and all(held[0][n] == held[1][n] for n in names):
                held = [] if held[0] == held[1] else held[1:]  # unchanged: no write; else rewritten in place
            units += sum(max(1, math.ceil(item_size(i) / 1024)) for i in held)
        return units

    def _writes(self, operation: str, params: dict[str, Any]) -> list[tuple[str, dict[str, Any], bool]]:
        """(table, key, is a write) of every item a write call touches (a transaction's ConditionCheck is a read)."""
        from moto.dynamodb.models import dynamodb_backends

        backend = dynamodb_backends["123456789012"]["us-east-1"]

        def key_of(table: str, item: dict[str, Any]) -> dict[str, Any]:
            schema = backend.get_table(table)
            names = [schema.hash_key_attr] + ([schema.range_key_attr] if schema.range_key_attr else [])
            return {n: item[n] for n in names}

        if operation in ("PutItem",):
            return [(params["TableName"], key_of(params["TableName"], params["Item"]), True)]
        if operation in ("UpdateItem", "DeleteItem"):
            return [(params["TableName"], params["Key"], True)]
        if operation == "TransactWriteItems":
            out = []
            for entry in params["TransactItems"]:
                (kind, op), = entry.items()
                key = key_of(op["TableName"], op["Item"]) if kind == "Put" else op["Key"]
                out.append((op["TableName"], key, kind != "ConditionCheck"))
            return out
        if operation == "BatchWriteItem":
            return [(t, key_of(t, r["PutRequest"]["Item"]) if "PutRequest" in r else r["DeleteRequest"]["Key"], True)
                    for t, requests in params["RequestItems"].items() for r in requests]
        return []

    def _before(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        # each written item as it was before the call; a transaction's ConditionCheck (a read) marked "read"
        touched = [(t, k, self._item(t, k) if write else "read") for t, k, write in self._writes(model.name, params)]
        with self._lock:
            self._pending[threading.get_ident()] = touched

    def _after(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        operation = model.name
        with self._lock:
            touched = self._pending.pop(threading.get_ident(), [])
            self.calls[operation] += 1
        transactional = operation.startswith("Transact")
        for table, key, before in touched:
            if before == "read":
                self.read_units += 2 * max(1, math.ceil(self._stored(table, key) / 4096))
                continue
            after = self._item(table, key)
            size = max(item_size(before) if before else 0, item_size(after) if after else 0)
            self.write_units += (2 if transactional else 1) * max(1, math.ceil(size / 1024))
            self.index_write_units += self._index_units(table, before, after)
        if operation in ("GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"):
            items = []
            if "Item" in parsed:
                items.append(parsed["Item"])
            items.extend(parsed.get("Items", []))
            for found in (parsed.get("Responses") or {}).values() if isinstance(parsed.get("Responses"), dict) else []:
                items.extend(found)
            sizes = sum(item_size(i) for i in items if isinstance(i, dict))
            self.read_units += 0.5 * max(1, math.ceil(sizes / 4096))  # eventually consistent; strongly: x2


def measure_capacity(upstream: str, requests: int = 40) -> tuple[CapacityMeter, CapacityMeter]:
    """Calls and units per JSON and per streamed completion, through an in-process gateway (same code, moto in-process
    so the meter can read item sizes)."""
    os.environ["OPENAI_API_KEY"] = "sk-bench"
    os.environ["OPENAI_BASE_URL"] = upstream
    os.environ.setdefault("KEY_CACHE_TTL_SECONDS", "30")
    from local import paths

    paths.install()
    from bench.harness import local_gateway
    from gateway_common import ledger

    meters = (CapacityMeter(), CapacityMeter())
    with local_gateway() as (base, keys), httpx.Client(timeout=30) as http:
        admin = keys["admin"]
        ledger.credit(user_id=admin["user_id"], amount=Decimal("1000"), entry_id="bench:capacity", reason="bench")
        server = Server("gateway", base + "/v1", 0, {"Authorization": f"Bearer {admin['key']}"}, CHAT_BODY["model"])
        one_json(http, server)
        one_ttfb(http, server)
        for meter, call in zip(meters, (one_json, one_ttfb), strict=True):
            meter.install()
            for _ in range(requests):
                call(http, server)
            from gateway_common import db

            db.client().meta.events.unregister("provide-client-params.dynamodb", meter._before)
            db.client().meta.events.unregister("after-call.dynamodb", meter._after)
        for meter in meters:
            meter.calls = Counter({name: count / requests for name, count in meter.calls.items()})  # type: ignore[misc]
            meter.write_units /= requests
            meter.index_write_units /= requests
            meter.read_units /= requests
    return meters


def cost_per_million(meter: CapacityMeter, duration_ms: float) -> dict[str, Decimal]:
    million = Decimal(1_000_000)
    gb_seconds = CHAT_MEMORY_GB * Decimal(str(duration_ms)) / 1000
    return {
        "API Gateway (REST)": PRICES["api_gateway_rest_request"] * million,
        "Lambda requests": PRICES["lambda_request"] * million,
        "Lambda duration": PRICES["lambda_gb_second_arm64"] * gb_seconds * million,
        "DynamoDB writes": PRICES["dynamodb_write_request_unit"] * Decimal(str(meter.write_units + meter.index_write_units))
        * million,
        "DynamoDB reads": PRICES["dynamodb_read_request_unit"] * Decimal(str(meter.read_units)) * million,
    }


# ----------------------------------------------------------------------------------------------------- report

def cold_imports() -> None:
    """Instructions of the chat function's import (runtime-only venv) against `import litellm` (its own venv), on the
    bench's Python and on the Lambda runtime's (3.13) when this machine has one: 3.13 changes both imports' cost."""
    from bench.proxy import import_instructions, runtime_python, version_of
    from local.pythons import find_python

    os.environ.update(LITELLM_ENV)
    runtime = find_python()
    for base in [None] + ([runtime] if runtime and version_of(runtime) != version_of(sys.executable) else []):
        version = version_of(base or sys.executable)
        chat = import_instructions(runtime_python(base), "import gw_chat.app")
        litellm = import_instructions(str(litellm_bin(base).with_name("python")), "import litellm")
        if chat is None or litellm is None:
            print("cold import: valgrind not installed, instructions not counted")
            return
        print(f"cold import (callgrind, Python {version}): chat function {chat / 1e6:,.0f} M instructions, import litellm"
              f" {litellm / 1e6:,.0f} M: {litellm / chat:.1f}x cheaper (target >= 6x: "
              f"{'met' if litellm >= 6 * chat else 'NOT met'})")
    if runtime is None:
        print("cold import: no Python 3.13 here (the Lambda runtime's), measured on the bench's Python only")


def _p(values: list[float], pct: float) -> float:
    return percentile(values, pct)


def main(rounds: int = 6, per_round: int = 40, cold: bool = True) -> None:
    os.environ.update(LITELLM_ENV)
    litellm_bin()
    with ExitStack() as stack:
        upstream = stack.enter_context(fake_upstream())
        gateway = stack.enter_context(make_run(upstream))
        litellm = stack.enter_context(litellm_proxy(upstream))
        dynamodb_pid = gateway.dynamodb_pid()
        gw = Server("gateway", gateway.base + "/v1", gateway.pid, gateway.headers, CHAT_BODY["model"])
        direct = Server("direct", upstream, 0, {}, "gpt-4o-mini")
        servers = [direct, gw, litellm]
        dynamodb_before = cpu_seconds(dynamodb_pid) if dynamodb_pid else 0.0
        seq = sequential(servers, rounds, per_round)
        dynamodb_cpu = ((cpu_seconds(dynamodb_pid) - dynamodb_before) / (rounds * per_round * 2) * 1000
                        if dynamodb_pid else float("nan"))
        tput = throughput([gw, litellm], (1, 8, 32), 2)

    print(f"\ngateway (make run: DynamoDB = moto server in its own process) vs LiteLLM {LITELLM_VERSION} proxy (master key, no"
          f" DB), fake upstream on loopback; {rounds} interleaved rounds x {per_round} sequential requests per kind")
    print(f"  direct upstream: JSON p50 {_p(seq[('direct', 'json')], 50):.1f} ms p99 {_p(seq[('direct', 'json')], 99):.1f};"
          f" TTFB p50 {_p(seq[('direct', 'ttfb')], 50):.1f} p99 {_p(seq[('direct', 'ttfb')], 99):.1f}")
    added: dict[tuple[str, str, int], float] = {}
    for server in (gw, litellm):
        for kind, label in (("json", "JSON"), ("ttfb", "stream TTFB")):
            mine, base = seq[(server.name, kind)], seq[("direct", kind)]
            for pct in (50, 99):
                added[(server.name, kind, pct)] = _p(mine, pct) - _p(base, pct)
            print(f"  {server.name:<8} {label:<12} added p50 {added[(server.name, kind, 50)]:6.1f} ms   added p99"
                  f" {added[(server.name, kind, 99)]:6.1f} ms   CPU/request {statistics.median(server.cpu[kind]):5.2f} ms")
    print(f"  gateway's DynamoDB (moto) process: {dynamodb_cpu:.2f} ms CPU per request (not counted above; DynamoDB's)")
    for kind, label in (("json", "JSON"), ("ttfb", "stream TTFB")):
        ok50 = added[("gateway", kind, 50)] <= added[("litellm", kind, 50)]
        ok99 = added[("gateway", kind, 99)] <= 2 * added[("litellm", kind, 99)]
        print(f"  target {label}: added p50 <= LiteLLM's: {'met' if ok50 else 'NOT met'}; p99 <= 2x LiteLLM's:"
              f" {'met' if ok99 else 'NOT met'}")
    print("  throughput (JSON; 2 interleaved runs each, best req/s shown; p99 latency; server CPU per request):")
    for concurrency in (1, 8, 32):
        row = []
        for server in (gw, litellm):
            runs = tput[(server.name, concurrency)]
            best = max(runs, key=lambda r: r[0])
            cpu = statistics.median(r[2] for r in runs)
            row.append(f"{server.name} {best[0]:6.1f} req/s p99 {_p(best[1], 99):7.1f} ms CPU {cpu:5.2f} ms")
        print(f"    c={concurrency:<3} " + "   |   ".join(row))
    gw8 = max(r[0] for r in tput[("gateway", 8)])
    ll8 = max(r[0] for r in tput[("litellm", 8)])
    print(f"  target throughput at c=8 >= LiteLLM's: {'met' if gw8 >= ll8 else 'NOT met'} ({gw8:.1f} vs {ll8:.1f} req/s)")
    gw_cpu = statistics.median(gw.cpu["json"])
    ll_cpu = statistics.median(litellm.cpu["json"])
    print(f"  target gateway-process CPU/request <= LiteLLM's (JSON): {'met' if gw_cpu <= ll_cpu else 'NOT met'}"
          f" ({gw_cpu:.2f} vs {ll_cpu:.2f} ms)")

    with fake_upstream() as upstream:
        json_meter, stream_meter = measure_capacity(upstream)
    duration = statistics.mean(seq[("gateway", "json")])
    print(f"\nAWS cost per 1M chat completions (prices in PRICES; chat function arm64 {CHAT_MEMORY_GB * 1024:.0f} MB,"
          f" billed for the measured mean duration {duration:.1f} ms with an instant upstream):")
    for name, meter in (("JSON", json_meter), ("stream", stream_meter)):
        calls = ", ".join(f"{op} {n:g}" for op, n in sorted(meter.calls.items()))
        print(f"  {name}: DynamoDB calls per completion: {calls}; {meter.write_units:g} write units"
              f" (+ {meter.index_write_units:g} for indexes), {meter.read_units:g} read units")
    costs = cost_per_million(json_meter, duration)
    for name, value in costs.items():
        print(f"    {name:<20} ${value:8.2f}")
    print(f"    {'total':<20} ${sum(costs.values()):8.2f}   (+ ${PRICES['lambda_gb_second_arm64'] * CHAT_MEMORY_GB * 100:.7f}"
          " per request per 100 ms the upstream takes: Lambda waits for it; storage, logs and streams not included)")
    if cold:
        cold_imports()


if __name__ == "__main__":
    arguments = [a for a in sys.argv[1:] if not a.startswith("--")]
    if "--cost-only" in sys.argv:
        with fake_upstream() as fake:
            for meter in measure_capacity(fake):
                print(dict(meter.calls), meter.write_units, meter.index_write_units, meter.read_units)
    else:
        main(*[int(a) for a in arguments[:2]], cold="--no-cold" not in sys.argv)
