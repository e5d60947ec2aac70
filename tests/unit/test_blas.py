"""numpy's BLAS thread count is the process's: a user sets it only while it runs."""

from __future__ import annotations

import threading

import pytest

from workers.blas import blas_threads

threadpoolctl = pytest.importorskip("threadpoolctl", reason="no extra with numpy installed")
pytest.importorskip("numpy", reason="no extra with numpy installed")


def _blas_threads() -> set[int]:
    return {p["num_threads"] for p in threadpoolctl.threadpool_info()
            if p["user_api"] == "blas"}  # fmt: skip


def test_a_count_holds_only_inside_the_block_and_one_user_at_a_time() -> None:
    default = _blas_threads()
    inside: list[set[int]] = []
    entered, release = threading.Event(), threading.Event()

    def first() -> None:
        with blas_threads(1):
            inside.append(_blas_threads())
            entered.set()
            release.wait(10)

    holder = threading.Thread(target=first)
    holder.start()
    entered.wait(10)
    second_ran = threading.Event()

    def second() -> None:
        with blas_threads(2):
            second_ran.set()

    waiter = threading.Thread(target=second)
    waiter.start()
    assert not second_ran.wait(0.2), "a second user ran while the first held the count"
    release.set()
    holder.join(10)
    waiter.join(10)
    assert second_ran.is_set()
    assert inside == [{1}]
    assert _blas_threads() == default
