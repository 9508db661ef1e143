"""A tiny progress bar on stderr, shared by every long job (training, scoring, surrogates,
cross-validation, downloads).

It draws only where a person watches: on a terminal, and never after ``geoanom -q``
(:func:`set_quiet`). ``GEOANOM_PROGRESS=1`` forces it on (a log file of a batch job),
``GEOANOM_PROGRESS=0`` off. Results go to stdout; the bar never does, so piping JSON output
stays clean. :func:`bar_or_lines` gives a long job plain lines instead of a bar when stderr is
a log or a pipe (:class:`LineProgress`), and :class:`WeightedProgress` shows tasks that run in
worker processes (each reporting through a queue with :class:`QueueProgress`) on one line.

>>> from geoanom._progress import Progress
>>> with Progress(3, "windows") as bar:
...     for _ in range(3):
...         bar.update(1)
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from queue import Empty
from typing import IO, Any, TypeVar

__all__ = ["LineProgress", "Progress", "QueueProgress", "WeightedProgress", "bar_or_lines",
           "progress", "progress_enabled", "set_quiet"]

T = TypeVar("T")

_state = {"quiet": False}


def set_quiet(quiet: bool) -> None:
    """Silence (True) or allow (False) every progress bar of this process (``geoanom -q``)."""
    _state["quiet"] = bool(quiet)


def progress_enabled(requested: bool | None = None, stream: IO[str] | None = None) -> bool:
    """Whether a bar should be drawn.

    Parameters
    ----------
    requested
        The caller's wish: False never draws; True or None draws when the stream is a
        terminal (or ``GEOANOM_PROGRESS=1``). Quiet mode (:func:`set_quiet`) and
        ``GEOANOM_PROGRESS=0`` always win.
    stream
        Where the bar would go (default ``sys.stderr``).
    """
    if requested is False or _state["quiet"]:
        return False
    env = os.environ.get("GEOANOM_PROGRESS", "").strip()
    if env == "0":
        return False
    if env == "1":
        return True
    s = sys.stderr if stream is None else stream
    try:
        return bool(s.isatty())
    except (AttributeError, ValueError):  # closed or tty-less stream
        return False


def _fmt_eta(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class Progress:
    """One line on stderr, redrawn at most every ``min_interval_s`` seconds.

    Parameters
    ----------
    total
        Number of steps (None: unknown, the bar shows a count only).
    desc
        What is being done ("epoch 3/20", "surrogates").
    enabled
        See :func:`progress_enabled` (None: draw on a terminal).
    width
        Bar width in characters.
    stream
        Text stream (default ``sys.stderr``, looked up when drawing).
    min_interval_s
        Shortest time between redraws (s).
    """

    def __init__(self, total: int | None, desc: str = "", enabled: bool | None = None,
                 width: int = 24, *, stream: IO[str] | None = None,
                 min_interval_s: float = 0.2) -> None:
        self.total = None if total is None else max(int(total), 1)
        self.desc = desc
        self._stream = stream
        self.enabled = progress_enabled(enabled, stream)
        self.width = width
        self.min_interval_s = min_interval_s
        self.n = 0
        self.note = ""
        self.t0 = time.perf_counter()
        self._last = -float("inf")
        self._drawn = False

    @property
    def stream(self) -> IO[str]:
        return sys.stderr if self._stream is None else self._stream

    def update(self, k: int = 1, note: str | None = None) -> None:
        """Advance by ``k`` steps; ``note`` is shown after the counts (e.g. ``loss=0.12``)."""
        self.n += k
        if note is not None:
            self.note = note
        if not self.enabled:
            return
        now = time.perf_counter()
        done = self.total is not None and self.n >= self.total
        if done or now - self._last >= self.min_interval_s:
            self._last = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        elapsed = max(now - self.t0, 1e-9)
        rate = self.n / elapsed
        if self.total is None:
            line = f"{self.desc} {self.n} ({rate:.1f}/s)"
        else:
            frac = min(self.n / self.total, 1.0)
            bar = "#" * int(frac * self.width)
            eta = (self.total - self.n) / rate if 0 < rate and self.n < self.total else 0.0
            line = (f"{self.desc} [{bar:<{self.width}}] {self.n}/{self.total} "
                    f"{rate:.1f}/s eta {_fmt_eta(eta)}")
        if self.note:
            line += f" {self.note}"
        # \r returns to the line start; \033[K clears what a longer previous line left
        self.stream.write(f"\r{line}\033[K")
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        """End the line (only if something was drawn)."""
        if self.enabled and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
        self._drawn = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def progress(items: Iterable[T], desc: str = "", total: int | None = None,
             enabled: bool | None = None) -> Iterator[T]:
    """Yield ``items`` while drawing a bar (``total`` defaults to ``len(items)`` if known)."""
    if total is None:
        try:
            total = len(items)  # type: ignore[arg-type]
        except TypeError:
            total = None
    with Progress(total, desc, enabled) as bar:
        for item in items:
            yield item
            bar.update(1)


class LineProgress:
    """Progress as plain lines on stderr for logs and redirected output (no terminal): one
    line at most every ``interval_s`` seconds and one at the end, e.g.
    ``dlep chrono: 12/65 (18%) 0:41 elapsed, eta 3:05 seed 0 fold 3/5``."""

    def __init__(self, total: int, desc: str, *, interval_s: float = 5.0,
                 stream: IO[str] | None = None) -> None:
        self.total, self.desc, self.n, self.note = max(int(total), 1), desc, 0, ""
        self.interval_s = float(interval_s)
        self._stream = stream
        self.t0 = self._last = time.perf_counter()

    def update(self, k: int = 1, note: str | None = None) -> None:
        """Advance by ``k``; print a line when ``interval_s`` has passed or at the end."""
        self.n += k
        if note is not None:
            self.note = note
        now = time.perf_counter()
        if now - self._last >= self.interval_s or self.n >= self.total:
            self._last = now
            self._line(now)

    def _line(self, now: float) -> None:
        el = now - self.t0
        eta = el / self.n * (self.total - self.n) if self.n else float("nan")

        def fmt(x: float) -> str:
            return f"{int(x) // 60}:{int(x) % 60:02d}" if math.isfinite(x) else "?"

        stream = sys.stderr if self._stream is None else self._stream
        stream.write(f"{self.desc}: {self.n}/{self.total} ({100 * self.n / self.total:.0f}%) "
                     f"{fmt(el)} elapsed, eta {fmt(eta)} {self.note}".rstrip() + "\n")
        stream.flush()

    def close(self) -> None:
        """Nothing to end (lines are complete)."""


def bar_or_lines(total: int, desc: str, enabled: bool = True) -> Progress | LineProgress:
    """Progress of a long job: a bar where :func:`progress_enabled` draws one (a terminal,
    ``GEOANOM_PROGRESS=1``), plain lines on stderr (:class:`LineProgress`) when stderr is
    no terminal (a log, a pipe), and nothing when progress is off (``enabled`` False,
    ``geoanom -q``, ``GEOANOM_PROGRESS=0``)."""
    if not enabled or _state["quiet"] or os.environ.get("GEOANOM_PROGRESS", "") == "0":
        return Progress(total, desc, False)
    if progress_enabled(None):
        return Progress(total, desc, None)
    try:
        tty = sys.stderr.isatty()
    except (AttributeError, ValueError):
        tty = False
    return LineProgress(total, desc) if not tty else Progress(total, desc, None)


class QueueProgress:
    """The progress object of one task that runs in a worker process: each update goes to
    the parent through ``queue`` as ``(task, units)``, where :class:`WeightedProgress`
    shows it. ``total`` is None: the task's size is the parent's to know."""

    total = None

    def __init__(self, queue: Any, task: int) -> None:
        self.queue, self.task = queue, int(task)

    def update(self, k: int = 1, note: str | None = None) -> None:
        """Send ``k`` units done (``note`` is not sent)."""
        self.queue.put((self.task, int(k)))

    def close(self) -> None:
        """Nothing to end."""


class WeightedProgress:
    """One progress line (:func:`bar_or_lines`) over tasks of unequal cost that run
    elsewhere, in thousandths of the total estimated work.

    Task ``i`` reports units done through ``queue`` (:class:`QueueProgress`); it has
    ``units[i]`` units in all, each worth ``1000 * costs[i] / sum(costs) / units[i]``
    thousandths. :meth:`poll` reads what has arrived and advances the line;
    :meth:`finish` ends it at 1000/1000 whatever the rounding left.

    Parameters
    ----------
    costs
        Estimated cost of each task (any unit; only the shares count).
    units
        Progress units of each task (at least 1 is assumed).
    queue
        Where the tasks' ``(task, units)`` pairs arrive (e.g. a ``multiprocessing`` queue).
    desc, enabled
        As for :func:`bar_or_lines`.
    """

    steps = 1000

    def __init__(self, costs: Sequence[float], units: Sequence[int], queue: Any, desc: str,
                 enabled: bool = True) -> None:
        total_cost = sum(costs) or 1.0
        self._per_unit = [float(self.steps) * cost / total_cost / max(1, int(u))
                          for cost, u in zip(costs, units, strict=True)]
        self.queue = queue
        self.bar = bar_or_lines(self.steps, desc, enabled)
        self._done = 0.0
        self._shown = 0

    def poll(self, note: str | None = None) -> None:
        """Read every report that has arrived and advance the line (with ``note``)."""
        while True:
            try:
                task, k = self.queue.get_nowait()
            except Empty:
                break
            self._done += self._per_unit[task] * k
        step = min(self.steps, int(self._done)) - self._shown
        if step > 0:
            self._shown += step
            self.bar.update(step, note=note)

    def finish(self, note: str | None = None) -> None:
        """:meth:`poll`, then end the line at ``steps`` (rounding may leave it short)."""
        self.poll(note)
        if self._shown < self.steps:
            self.bar.update(self.steps - self._shown, note=note)
            self._shown = self.steps

    def close(self) -> None:
        """Close the line."""
        self.bar.close()

    def __enter__(self) -> WeightedProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
