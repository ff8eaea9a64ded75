"""Scheduled functions, run locally on a timer (EventBridge schedules do this in AWS).

The jobs are the template's functions with a Schedule event; each is invoked through its real Lambda handler with the
sample event from ``events/`` when there is one. Locally they run every ``LOCAL_JOB_INTERVAL`` seconds (default 5),
so what the schedule does is visible at once.
"""

from __future__ import annotations

import importlib
import json
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from gateway_common.observability import logger

from . import template
from .paths import ROOT


class LocalContext:
    """The few Lambda context attributes handlers and Powertools read. The remaining time is real: it counts down from
    the function's Timeout in template.yaml, as in Lambda, so a job bounded by it is bounded locally too."""

    def __init__(self, function_name: str, timeout_seconds: float = 29.0) -> None:
        self.deadline = time.monotonic() + timeout_seconds
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:000000000000:function:{function_name}"
        self.memory_limit_in_mb = 512
        self.aws_request_id = "local-" + os.urandom(6).hex()
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"

    def get_remaining_time_in_millis(self) -> int:
        return max(int((self.deadline - time.monotonic()) * 1000), 0)


def timeout_of(function: template.FunctionDef) -> float:
    globals_ = (template.load().get("Globals") or {}).get("Function") or {}
    return float(function.properties.get("Timeout") or globals_.get("Timeout") or 3)


def scheduled_functions() -> list[template.FunctionDef]:
    return [
        f for f in template.functions()
        if any(e["Type"] == "Schedule" for e in (f.properties.get("Events") or {}).values())
    ]


def invoker(function: template.FunctionDef) -> Callable[[], Any]:
    module_name, _, attr = function.handler.rpartition(".")
    sample = ROOT / "events" / f"{function.logical_id}.json"
    event = json.loads(sample.read_text()) if sample.exists() else {"source": "aws.events", "detail": {}}

    timeout = timeout_of(function)

    def run() -> Any:
        handler = getattr(importlib.import_module(module_name), attr)
        result = handler(event, LocalContext(function.logical_id, timeout))
        if isinstance(result, dict) and "lag_seconds" in result:  # the rollup job: the lag figure its metric carries
            logger.info("local job", extra={"job": function.logical_id, "lag_seconds": result["lag_seconds"],
                                            "shard_lag": result.get("shard_lag")})
        return result

    return run


def start_background_jobs() -> Callable[[], None]:
    stop = threading.Event()
    interval = float(os.environ.get("LOCAL_JOB_INTERVAL", "5"))

    def loop(name: str, job: Callable[[], Any]) -> None:
        while not stop.wait(interval):
            try:
                job()
            except Exception:  # noqa: BLE001 - a failing job must not stop the server; it is logged
                logger.exception("local job failed", extra={"job": name})

    for function in scheduled_functions():
        threading.Thread(target=loop, args=(function.logical_id, invoker(function)), daemon=True).start()
    return stop.set
