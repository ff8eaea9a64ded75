"""Run independent DynamoDB steps in one round trip, undoing the ones that succeeded when any fails.

This is how admission stays exact without transactions on hot items: every counter (and, for AI requests, the credit
reservation) is a conditional update that either applies or is refused by DynamoDB itself. When one is refused, the
others are compensated, so a refused request leaves no trace in any counter.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from typing import Any


@dataclass(frozen=True)
class Step:
    run: Callable[[], Any]
    undo: Callable[[Any], None]


@lru_cache(maxsize=1)
def executor() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=32, thread_name_prefix="gw-io")


def run_all_or_undo(steps: Sequence[Step]) -> list[Any]:
    """Run every step at once; return their results, or undo the successful ones and raise the first failure."""
    if len(steps) == 1:
        return [steps[0].run()]
    futures = [executor().submit(step.run) for step in steps]
    results: list[Any] = []
    failures: list[BaseException] = []
    for future in futures:
        try:
            results.append(future.result())
        except BaseException as exc:  # noqa: BLE001 - re-raised below after compensation
            results.append(None)
            failures.append(exc)
    if not failures:
        return results
    undo_futures = [
        executor().submit(step.undo, result)
        for step, result, future in zip(steps, results, futures, strict=True)
        if future.exception() is None
    ]
    for future in undo_futures:
        future.result()
    raise failures[0]


def run_parallel(calls: Sequence[Callable[[], Any]]) -> list[Any]:
    """Independent reads at once (one round trip of latency)."""
    if len(calls) == 1:
        return [calls[0]()]
    return [f.result() for f in [executor().submit(c) for c in calls]]
