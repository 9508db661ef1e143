"""THE TOML reader: every configuration file geoanom reads (protocol, detector, defaults,
station, study, table mapping) goes through :func:`read_toml` or :func:`parse_toml`, so a
syntax error is reported the same way everywhere: a :class:`~geoanom.errors.ConfigError`
naming the file and the line. :func:`toml_value` is the one writer of TOML values (the files
``config suggest``, ``synth`` and the study write)."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from geoanom.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["parse_toml", "read_toml", "toml_value", "line_of", "located"]


def _error_line(exc: Exception) -> int | None:
    line = getattr(exc, "lineno", None)
    if line is None:
        m = re.search(r"line (\d+)", str(exc))
        line = int(m.group(1)) if m else None
    return line


def parse_toml(text: str, *, path: str | os.PathLike | None = None,
               what: str = "TOML file", expected: str | None = None) -> dict[str, Any]:
    """Parse TOML ``text``.

    Parameters
    ----------
    text
        The TOML document.
    path
        The file it came from (named in the error), if any.
    what
        What the file is, for the message (``"protocol file"``: "protocol file is not valid
        TOML").
    expected
        What a valid file looks like, for the message.

    Raises
    ------
    ConfigError
        On a syntax error, with the file and the line.
    """
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{what} is not valid TOML", path=path, line=_error_line(exc),
                          expected=expected, found=str(exc)) from None


def read_toml(path: str | os.PathLike, *, what: str = "TOML file",
              expected: str | None = None) -> dict[str, Any]:
    """Read and parse the TOML file ``path`` (UTF-8).

    Raises
    ------
    ConfigError
        The file cannot be read, or is not valid TOML (with the line).
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the {what}", path=p,
                          expected=expected or "a readable UTF-8 TOML file",
                          found=getattr(exc, "strerror", None) or str(exc)) from None
    return parse_toml(text, path=p, what=what, expected=expected)


def line_of(text: str, name: str) -> int | None:
    """The 1-based line of ``text`` where ``name`` is defined: a table header ``[name]``,
    ``[[name]]`` or ``[... .name]``, or a key ``name = ...`` (also inside an inline table);
    None when it is not there."""
    key = re.escape(name.split(".")[-1])
    head = re.compile(rf"^\s*\[\[?\s*(?:[\w\-\"' ]+\.)*[\"']?{key}[\"']?\s*\]\]?")
    pair = re.compile(rf"(^|[{{,])\s*[\"']?{key}[\"']?\s*=")
    for i, ln in enumerate(text.splitlines(), start=1):
        code = ln.split("#", 1)[0]
        if head.match(code) or pair.search(code):
            return i
    return None


@contextmanager
def located(path: str | os.PathLike | None) -> Iterator[None]:
    """Give a :class:`ConfigError` about file ``path`` the line it is about: when the error
    has no line yet, the line that defines the (first) name it reports as ``found``."""
    try:
        yield
    except ConfigError as exc:
        if path is not None and exc.line is None and exc.found:
            m = re.search(r"[A-Za-z_][\w.\-]*", str(exc.found).split(",")[0])
            name = m.group(0) if m else ""
            try:
                text = Path(path).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                raise exc from None
            if name:
                exc.line = line_of(text, name)
            if exc.path is None:
                exc.path = os.fspath(path)
        raise


def toml_value(v: Any) -> str:
    """One value as TOML text: booleans, integers, floats (always with a point or an
    exponent, so they read back as floats), strings, arrays, and dicts as inline tables."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        r = repr(float(v))
        return r if ("." in r or "e" in r or "inf" in r or "nan" in r) else r + ".0"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")
