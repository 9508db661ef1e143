"""A tiny progress bar on stderr, shared by every long job (training, scoring, surrogates,
cross-validation, downloads).

It draws only where a person watches: on a terminal, and never after ``geoanom -q``
(:func:`set_quiet`). ``GEOANOM_PROGRESS=1`` forces it on (a log file of a batch job),
``GEOANOM_PROGRESS=0`` off. Results go to stdout; the bar never does, so piping JSON output
stays clean.

>>> from geoanom._progress import Progress
>>> with Progress(3, "windows") as bar:
...     for _ in range(3):
...         bar.update(1)
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Iterator
from typing import IO, TypeVar

__all__ = ["Progress", "progress", "progress_enabled", "set_quiet"]

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
