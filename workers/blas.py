"""numpy's BLAS thread count, set by the users it matters to for as long as they run.

numpy's OpenBLAS (a pthreads build) has one thread count for the whole process, and
Whisper's features are computed with it, so its scores move with it in the last digits.
With the repetition penalty Whisper once ran with (workers/speech.py), that was enough to
change whole transcripts: the same 60 s recording gave 163 words with two threads and 105
with one. The sentence encoder, whose small matrices run faster on one thread, used to set
one for the whole process as it loaded (issue 19), so from the first profile embedding on
every level test in that process was transcribed the other way. Now each sets the count it
needs while it runs, under one lock, so a transcript is the same whatever the process ran
before it: a transcription and an encoding do not overlap (an encoding, ~40 ms, waits for
a transcription, seconds, in a background job). Other numpy work (the scorer's features, a
relevance dot product) runs on whatever count is set at that moment: its matrices are too
small for BLAS to split, so results do not change.

Never set it for good, least of all from the main thread: a count the main thread set and
left makes OpenBLAS (0.3.x, as numpy ships it) ignore what other threads set afterwards
(measured by CPU over wall time of a large product: 2.0 whatever a thread asked for), and a
count a job left would decide every later transcription, as the encoder's did.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from threadpoolctl import ThreadpoolController

_lock = threading.Lock()


@cache
def _controller() -> ThreadpoolController:
    """The process's thread pools, found once (numpy's OpenBLAS is loaded with numpy, which
    every caller has imported by then). threadpoolctl comes with the extras that use numpy."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


@contextmanager
def blas_threads(count: int) -> Iterator[None]:
    """Run the block with numpy's BLAS on ``count`` threads, and no other user meanwhile."""
    with _lock, _controller().limit(limits=count, user_api="blas"):
        yield
