"""numpy's BLAS thread count is the process's: a user sets it only while it runs.

The counts here are set from threads other than the main one, as the workers' jobs set
them: a count the main thread set and left would make OpenBLAS ignore the others
(workers/blas.py)."""

from __future__ import annotations

import threading

import pytest

from tests.support import blas_count_set_by_a_job, blas_counts, in_thread
from workers.blas import blas_threads

pytest.importorskip("threadpoolctl", reason="no extra with numpy installed")
pytest.importorskip("numpy", reason="no extra with numpy installed")


def test_a_count_holds_only_inside_the_block_and_one_user_at_a_time() -> None:
    inside: list[set[int]] = []
    entered, release, second_ran = threading.Event(), threading.Event(), threading.Event()

    def first() -> None:
        with blas_threads(1):
            inside.append(blas_counts())
            entered.set()
            release.wait(10)

    def second() -> None:
        with blas_threads(2):
            second_ran.set()

    with blas_count_set_by_a_job(2):
        default = in_thread(blas_counts)
        holder = threading.Thread(target=first)
        holder.start()
        entered.wait(10)
        waiter = threading.Thread(target=second)
        waiter.start()
        overlapped = second_ran.wait(0.2)
        release.set()
        holder.join(10)
        waiter.join(10)
        after = in_thread(blas_counts)
    assert default == {2}, "numpy's BLAS was not found, or ignored the count"
    assert not overlapped, "a second user ran while the first held the count"
    assert second_ran.is_set()
    assert inside == [{1}]
    assert after == default
