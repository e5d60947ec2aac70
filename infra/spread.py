"""Periods that do not fall due together.

Work started in a burst (two hundred sockets opened in a second, the keys or senders a busy
moment looked up) would otherwise fall due again in a burst: every renewal or refetch in
the same second, each on the path of whatever else that process was serving. Measured with
bench/chat.py's latency by second: each such burst held chat delivery up for one to two
seconds (p95 0.2-0.7 s in those seconds, 10-20 ms in the others).
"""

from __future__ import annotations

import random


def spread(period: float) -> float:
    """A random length in the second half of ``period``: never longer than it (a renewal
    stays inside its lease, a cached key inside the time an erasure may take to reach this
    process), and different each time, so work started together drifts apart."""
    return period * random.uniform(0.5, 1.0)
