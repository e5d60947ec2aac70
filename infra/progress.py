"""Progress of long command-line work: a bar on a terminal, silence in a pipe, and always
a one-line summary at the end.

The history tools (``events export|import|replay``, ``projections rebuild``, ``audit
verify``) can run for minutes over a large log; an operator at a terminal should see that
they move, how fast and how long is left. When they run in a script or a pipe, that bar
would be noise in captured output, so it is drawn only when standard error is a terminal,
and always on standard error: exported data on standard output stays clean. Every command
then ends with one JSON line of counts, seconds and rate, on a terminal or not, which
scripts can parse and people can read.

The bar is tqdm's: it already computes a smoothed rate and the time left and redraws at
most ten times a second, so a bar costs next to nothing per event.

Usage::

    with progress("exporting", total=head - after) as bar:
        for event in events:
            bar.reach(event.position - after)
            ...
        bar.finish(count, err=True, exported=count)
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

import click
from tqdm import tqdm


def _significant(value: float) -> float:
    """Three significant digits: ``77012.4 -> 77000``, ``0.0312 -> 0.0312``."""
    return float(f"{value:.3g}")


def _size(stream: IO[str]) -> tuple[int, int]:
    """The terminal's columns and lines; 80x24 where it reports none (a pseudo-terminal
    nobody sized, on which tqdm would otherwise draw nothing)."""
    try:
        size = os.get_terminal_size(stream.fileno())
    except (OSError, ValueError):
        return 80, 24
    return size.columns or 80, size.lines or 24


class Progress:
    """One piece of long work: ``advance``/``reach`` move the bar, ``finish`` ends it with
    the summary line. The bar is drawn only when ``stream`` is a terminal."""

    def __init__(self, label: str, total: int | None, unit: str, stream: IO[str]) -> None:
        self.started = time.perf_counter()
        self.done = 0
        self.shown = stream.isatty()
        columns, lines = _size(stream) if self.shown else (None, None)
        self._bar = tqdm(
            total=total,
            desc=label,
            unit=f" {unit}" if len(unit) > 2 else unit,  # "3.1k events/s", "17MB/s"
            unit_scale=total is None or total >= 10_000,  # 1.2M, but 12 stays 12
            ncols=columns,
            nrows=lines,
            file=stream,
            disable=not self.shown,
        )

    def advance(self, amount: int = 1) -> None:
        """``amount`` more units are done."""
        self.reach(self.done + amount)

    def reach(self, done: int) -> None:
        """``done`` units are done in all (a position reached, bytes read so far)."""
        if done > self.done:
            self._bar.update(done - self.done)
            self.done = done

    def note(self, text: str) -> None:
        """A short word after the bar (which projection finished last, say)."""
        self._bar.set_postfix_str(text, refresh=False)

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started

    def summary(self, rate_of: int, **fields: Any) -> dict[str, Any]:
        """``fields``, then the seconds since the start and ``rate``: ``rate_of`` (what the
        summary counts, which need not be what the bar counted) per second."""
        seconds = self.seconds
        rate = _significant(rate_of / seconds) if seconds > 0 else 0.0
        return {**fields, "seconds": round(seconds, 2), "rate": rate}

    def finish(self, rate_of: int, *, err: bool = False, **fields: Any) -> None:
        """Close the bar and print the summary as one JSON line (on standard error with
        ``err``, for commands whose standard output is data). Work that skipped what it
        did not select (a topic filter) still ends at 100 %."""
        total = self._bar.total
        if total is not None and self.done < total:
            self.reach(int(total))
        self.close()
        click.echo(json.dumps(self.summary(rate_of, **fields), ensure_ascii=False), err=err)

    def close(self) -> None:
        self._bar.close()


@contextmanager
def progress(
    label: str, total: int | None = None, *, unit: str = "events", stream: IO[str] | None = None
) -> Iterator[Progress]:
    """A :class:`Progress` over ``total`` units (``None``: unknown, no time left shown),
    drawn on ``stream`` (standard error) when that is a terminal, closed on the way out."""
    bar = Progress(label, total, unit, stream if stream is not None else sys.stderr)
    try:
        yield bar
    finally:
        bar.close()
