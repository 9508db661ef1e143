"""One exception family for everything geoanom refuses to do.

Every error a user can cause is a :class:`GeoanomError`. Errors about a file say which
file, which line (1-based), what was expected and what was found, so that the message alone
is enough to fix the input. The CLI turns them into a message and exit code 2.
"""

from __future__ import annotations

import os


class GeoanomError(Exception):
    """Base class of all errors geoanom raises on purpose.

    Parameters
    ----------
    message
        What went wrong, in words a geophysicist understands.
    path
        The file concerned, if any.
    line
        1-based line number in ``path``, if known.
    expected, found
        What the reader expected and what it found instead.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | os.PathLike | None = None,
        line: int | None = None,
        expected: str | None = None,
        found: str | None = None,
    ) -> None:
        self.message = message
        self.path = None if path is None else os.fspath(path)
        self.line = line
        self.expected = expected
        self.found = found
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            where = self.path
            if self.line is not None:
                where += f", line {self.line}"
            where += ": "
        elif self.line is not None:
            where = f"line {self.line}: "
        detail = []
        if self.expected is not None:
            detail.append(f"expected {self.expected}")
        if self.found is not None:
            found = self.found if len(self.found) <= 80 else self.found[:77] + "..."
            detail.append(f"found {found!r}")
        tail = f" ({', '.join(detail)})" if detail else ""
        return f"{where}{self.message}{tail}"


class FormatError(GeoanomError):
    """A file's content does not follow its format."""


class ValidationError(GeoanomError):
    """An in-memory object (record, catalog, window set, config) breaks its contract."""


class NoValidWindowError(ValidationError):
    """A record yields no valid window (too short, or too much of it missing)."""


class ConfigError(GeoanomError):
    """A configuration or protocol file is invalid."""


class MissingDependencyError(GeoanomError):
    """An optional dependency (an extra) is needed but not installed."""


class LeakageError(GeoanomError):
    """A split, window set or fitted transform could let the future leak into training."""


class ModelError(GeoanomError):
    """A model artifact cannot be loaded or is incompatible."""


class GeoanomWarning(UserWarning):
    """Base class of the warnings geoanom gives (data usable, but something looks wrong).
    The CLI prints them as ``geoanom: warning: ...`` lines on stderr."""
