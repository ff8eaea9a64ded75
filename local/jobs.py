"""Scheduled functions, run locally on a timer (EventBridge schedules do this in AWS).

Each entry is (name, interval seconds, callable). Groups with scheduled work add themselves to LOCAL_JOBS.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from gateway_common.observability import logger

LOCAL_JOBS: list[tuple[str, float, Callable[[], object]]] = []


def start_background_jobs() -> Callable[[], None]:
    stop = threading.Event()

    def loop(name: str, interval: float, job: Callable[[], object]) -> None:
        while not stop.wait(interval):
            try:
                job()
            except Exception:  # noqa: BLE001 - a failing job must not stop the server; it is logged
                logger.exception("local job failed", extra={"job": name})

    for name, interval, job in LOCAL_JOBS:
        threading.Thread(target=loop, args=(name, interval, job), name=f"job-{name}", daemon=True).start()
    return stop.set
