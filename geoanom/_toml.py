"""THE TOML reader: every configuration file geoanom reads (protocol, detector, defaults,
station, study, table mapping) goes through :func:`read_toml` or :func:`parse_toml`, so a
syntax error is reported the same way everywhere: a :class:`~geoanom.errors.ConfigError`
naming the file and the line. :func:`toml_value` is the one writer of TOML values (the files
``config suggest``, ``synth`` and the study write)."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np

from geoanom.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["parse_toml", "read_toml", "toml_value"]


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
