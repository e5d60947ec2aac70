"""numpy's BLAS thread count is the process's: a user sets it only while it runs.

The counts here are set from threads other than the main one, as the workers' jobs set
them: a count the main thread set and left would make OpenBLAS ignore the others
(workers/blas.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from workers.blas import blas_threads

threadpoolctl = pytest.importorskip("threadpoolctl", reason="no extra with numpy installed")
pytest.importorskip("numpy", reason="no extra with numpy installed")


def _blas_threads() -> set[int]:
    return {p["num_threads"] for p in threadpoolctl.threadpool_info()
            if p["user_api"] == "blas"}  # fmt: skip


def in_thread(work: Callable[[], Any]) -> Any:
    """``work()`` in a new thread (not the main one), its result here."""
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(work()))
    thread.start()
    thread.join(30)
    return result[0]


def test_a_count_holds_only_inside_the_block_and_one_user_at_a_time() -> None:
    original = in_thread(lambda: threadpoolctl.threadpool_limits(limits=2, user_api="blas"))
    inside: list[set[int]] = []
    entered, release, second_ran = threading.Event(), threading.Event(), threading.Event()

    def first() -> None:
        with blas_threads(1):
            inside.append(_blas_threads())
            entered.set()
            release.wait(10)

    def second() -> None:
        with blas_threads(2):
            second_ran.set()

    try:
        default = in_thread(_blas_threads)
        holder = threading.Thread(target=first)
        holder.start()
        entered.wait(10)
        waiter = threading.Thread(target=second)
        waiter.start()
        overlapped = second_ran.wait(0.2)
        release.set()
        holder.join(10)
        waiter.join(10)
        after = in_thread(_blas_threads)
    finally:
        in_thread(original.restore_original_limits)
    assert default == {2}, "numpy's BLAS was not found, or ignored the count"
    assert not overlapped, "a second user ran while the first held the count"
    assert second_ran.is_set()
    assert inside == [{1}]
    assert after == default
