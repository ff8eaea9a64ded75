"""Run independent DynamoDB steps in one round trip, undoing the ones that succeeded when any fails.

This is how admission stays exact without transactions on hot items: every counter (and, for AI requests, the credit
reservation) is a conditional update that either applies or is refused by DynamoDB itself. When one is refused, the
others are compensated, so a refused request leaves no trace in any counter.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Any


@dataclass(frozen=True)
class Step:
    run: Callable[[], Any]
    undo: Callable[[Any], None]


@lru_cache(maxsize=1)
def executor() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=32, thread_name_prefix="gw-io")


def _settled(call: Callable[[], Any]) -> tuple[Any, BaseException | None]:
    try:
        return call(), None
    except BaseException as exc:  # noqa: BLE001 - handed to the caller, which re-raises it
        return None, exc


def _at_once(calls: Sequence[Callable[[], Any]]) -> list[tuple[Any, BaseException | None]]:
    """Each call's (result, exception), all running at once: the first on the calling thread, the others on the
    executor. Handing every call to the pool cost one thread hand-off more per round trip (on a busy interpreter, a
    GIL switch each way), while the calling thread only waited."""
    if not calls:
        return []
    futures = [executor().submit(_settled, call) for call in calls[1:]]
    return [_settled(calls[0]), *(future.result() for future in futures)]


def run_all_or_undo(steps: Sequence[Step]) -> list[Any]:
    """Run every step at once; return their results, or undo the successful ones and raise the first failure."""
    outcomes = _at_once([step.run for step in steps])
    failures = [exc for _, exc in outcomes if exc is not None]
    if not failures:
        return [result for result, _ in outcomes]
    undone = _at_once([partial(step.undo, result) for step, (result, exc) in zip(steps, outcomes, strict=True)
                       if exc is None])
    for _, exc in undone:
        if exc is not None:
            raise exc
    raise failures[0]


def run_parallel(calls: Sequence[Callable[[], Any]]) -> list[Any]:
    """Independent reads at once (one round trip of latency)."""
    outcomes = _at_once(calls)
    for _, exc in outcomes:
        if exc is not None:
            raise exc
    return [result for result, _ in outcomes]
