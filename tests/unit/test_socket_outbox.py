"""A socket's outbox (api/socket_limits.py): bounded in bytes, and once a client stops
reading, the session's receive loop is ended instead of frames piling up. The slow reader
itself, over TCP against a real server, is in tests/e2e/test_hostile_sizes.py."""

from __future__ import annotations

import asyncio

import pytest

from api.socket_limits import Outbox


async def _forever() -> None:
    await asyncio.Event().wait()


def test_frames_past_the_limit_end_the_receive_loop_and_are_not_kept() -> None:
    async def scenario() -> tuple[bool, int]:
        outbox = Outbox(limit=100)

        async def deliver() -> None:  # a room busier than its reader
            for _ in range(10):
                outbox.put(b"x" * 40)
                await asyncio.sleep(0)

        delivering = asyncio.create_task(deliver())
        overflowed = await outbox.until_overflow(_forever())
        await delivering
        return overflowed, outbox.queued

    overflowed, queued = asyncio.run(scenario())
    assert overflowed
    assert queued <= 100


def test_a_loop_that_ends_by_itself_is_no_overflow_and_the_frames_go_out_in_order() -> None:
    async def scenario() -> tuple[bool, list[bytes | None]]:
        outbox = Outbox(limit=100)

        async def read_two() -> None:
            outbox.put(b"first")
            outbox.put(b"second")

        overflowed = await outbox.until_overflow(read_two())
        outbox.end()
        return overflowed, [await outbox.get() for _ in range(3)]

    assert asyncio.run(scenario()) == (False, [b"first", b"second", None])


def test_a_cancellation_from_outside_is_not_taken_for_an_overflow() -> None:
    async def scenario() -> None:
        outbox = Outbox(limit=100)
        session = asyncio.create_task(outbox.until_overflow(_forever()))
        await asyncio.sleep(0)
        session.cancel()  # the server stopping
        await session

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(scenario())
