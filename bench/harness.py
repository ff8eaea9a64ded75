"""Benchmark harness: the local gateway (same code path as `make run`) in this process, and a DynamoDB call counter."""

from __future__ import annotations

import json
import os
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def local_gateway(endpoint_limits: dict[str, dict[str, int]] | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
    """Embedded DynamoDB + demo data + uvicorn on a free loopback port. Yields (base URL, demo keys)."""
    if endpoint_limits:
        os.environ["GATEWAY_ENDPOINT_LIMITS"] = json.dumps(endpoint_limits)
    from local import embedded

    mock = embedded.start()
    from local import seed
    from local.gateway_app import build_app
    from tests.servers import gateway_server

    keys = seed.seed_demo()
    try:
        with gateway_server(build_app()) as base:
            yield base, keys
    finally:
        if mock is not None:
            mock.stop()


class DynamoCallCounter:
    """Records this process's DynamoDB API calls (botocore events): their names and start/end times.

    ``round_trips`` counts the sequential waves: calls whose time intervals overlap ran in parallel and count once.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[str, float, float]] = []
        self._open: dict[int, tuple[str, float]] = {}
        self._lock = threading.Lock()
        self._network_delay = 0.0

    def install(self) -> None:
        from gateway_common import db

        client = db.client()  # the one client every table and thread shares
        client.meta.events.register("before-call.dynamodb", self._before)
        client.meta.events.register("after-call.dynamodb", self._after)
        client.meta.events.register("request-created.dynamodb", self._simulated_network)

    def _simulated_network(self, **_: Any) -> None:
        # In-process moto answers in microseconds, under one lock: without a round trip's latency, calls made in
        # parallel need not overlap in time, and the wave count would depend on thread scheduling.
        if self._network_delay:
            time.sleep(self._network_delay)

    def _before(self, model: Any, context: Any = None, **_: Any) -> None:
        with self._lock:
            self._open[threading.get_ident()] = (model.name, time.perf_counter())

    def _after(self, model: Any, **_: Any) -> None:
        with self._lock:
            name, began = self._open.pop(threading.get_ident(), (model.name, time.perf_counter()))
            self.calls.append((name, began, time.perf_counter()))

    @contextmanager
    def measure(self, network_delay: float = 0.010) -> Iterator[list[tuple[str, float, float]]]:
        """Record the calls made inside the block, each given ``network_delay`` seconds of simulated latency."""
        with self._lock:
            self.calls.clear()
        self._network_delay = network_delay
        seen: list[tuple[str, float, float]] = []
        try:
            yield seen
        finally:
            self._network_delay = 0.0
            with self._lock:
                seen.extend(self.calls)


def round_trips(calls: list[tuple[str, float, float]]) -> int:
    """Number of sequential waves among the calls (overlapping intervals form one wave)."""
    waves = 0
    wave_end = float("-inf")
    for _, began, ended in sorted(calls, key=lambda c: c[1]):
        if began >= wave_end:
            waves += 1
            wave_end = ended
        else:
            wave_end = max(wave_end, ended)
    return waves


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(round(pct / 100 * (len(ordered) - 1)), len(ordered) - 1)
    return ordered[index]


def run_load(call: Callable[[], Any], total: int, concurrency: int) -> tuple[float, list[float]]:
    """Run ``total`` calls over ``concurrency`` threads; returns (requests per second, latencies in ms)."""
    latencies: list[float] = []
    lock = threading.Lock()
    remaining = iter(range(total))

    def worker() -> None:
        while True:
            with lock:
                if next(remaining, None) is None:
                    return
            start = time.perf_counter()
            call()
            elapsed = (time.perf_counter() - start) * 1000
            with lock:
                latencies.append(elapsed)

    seconds = run_threads([threading.Thread(target=worker) for _ in range(concurrency)])
    return total / seconds, latencies


def run_threads(threads: list[threading.Thread]) -> float:
    """Start every thread, wait for all of them; the wall seconds that took."""
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - began


def summary(name: str, rps: float, latencies: list[float]) -> str:
    return (
        f"{name}: {rps:,.0f} req/s  p50 {percentile(latencies, 50):.1f} ms  p99 {percentile(latencies, 99):.1f} ms"
        f"  mean {statistics.mean(latencies):.1f} ms  (n={len(latencies)})"
    )
