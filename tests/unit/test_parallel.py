"""gateway_common.parallel: steps run at once (the first on the calling thread), a failure undoes exactly the steps that
succeeded and raises the first failure, whatever number of steps failed."""

from __future__ import annotations

import threading

import pytest

from gateway_common.parallel import Step, run_all_or_undo, run_parallel


class Refused(Exception):
    pass


def _steps(outcomes: list[bool], undone: list[int], threads: dict[int, str]) -> list[Step]:
    def make(index: int, ok: bool) -> Step:
        def run() -> int:
            threads[index] = threading.current_thread().name
            if not ok:
                raise Refused(f"step {index}")
            return index

        return Step(run=run, undo=undone.append)

    return [make(i, ok) for i, ok in enumerate(outcomes)]


@pytest.mark.parametrize("outcomes", [[True], [True, True], [True, True, True]])
def test_all_succeed_return_results_in_order_and_undo_nothing(outcomes):
    undone: list[int] = []
    threads: dict[int, str] = {}
    assert run_all_or_undo(_steps(outcomes, undone, threads)) == list(range(len(outcomes)))
    assert undone == []
    assert threads[0] == threading.current_thread().name  # the first ran here, not on the pool
    assert all(threads[i] != threads[0] for i in range(1, len(outcomes)))  # the others on the pool, at once


@pytest.mark.parametrize(("outcomes", "expected_undone", "first_failure"), [
    ([False], [], "step 0"),
    ([False, False], [], "step 0"),  # nothing succeeded: nothing to undo, the first failure raised
    ([True, False], [0], "step 1"),
    ([False, True], [1], "step 0"),
    ([True, False, True], [0, 2], "step 1"),
    ([False, False, True], [2], "step 0"),
])
def test_a_failure_undoes_exactly_the_steps_that_succeeded(outcomes, expected_undone, first_failure):
    undone: list[int] = []
    with pytest.raises(Refused, match=first_failure):
        run_all_or_undo(_steps(outcomes, undone, {}))
    assert sorted(undone) == expected_undone


def test_a_failing_undo_is_raised_after_every_undo_ran():
    undone: list[int] = []

    def broken_undo(result: int) -> None:
        undone.append(result)
        raise RuntimeError("undo failed")

    steps = [Step(run=lambda: 0, undo=broken_undo), Step(run=lambda: 1, undo=undone.append),
             Step(run=lambda: (_ for _ in ()).throw(Refused("step 2")), undo=undone.append)]
    with pytest.raises(RuntimeError, match="undo failed"):
        run_all_or_undo(steps)
    assert sorted(undone) == [0, 1]


def test_run_parallel_returns_in_order_or_raises_the_first_failure():
    assert run_parallel([lambda: "a", lambda: "b", lambda: "c"]) == ["a", "b", "c"]
    assert run_parallel([]) == []
    with pytest.raises(Refused, match="second"):
        run_parallel([lambda: "a", lambda: (_ for _ in ()).throw(Refused("second"))])
