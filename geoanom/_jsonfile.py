"""Strict JSON result files: written atomically, read with a FormatError naming the line."""

from __future__ import annotations

import json
import os
from pathlib import Path

from geoanom._atomic import atomic_write_text
from geoanom.errors import FormatError


def to_json_text(d: dict) -> str:
    """Strict JSON text (sorted keys, indented; NaN refused)."""
    return json.dumps(d, indent=1, sort_keys=True, allow_nan=False)


def write_json(path: str | os.PathLike, d: dict) -> Path:
    """Write ``d`` as strict JSON atomically (temporary name, then rename)."""
    atomic_write_text(path, to_json_text(d) + "\n")
    return Path(path)


def read_json(path: str | os.PathLike, what: str) -> dict:
    """Read a JSON file; ``what`` names it in the error ("result file")."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise FormatError(f"{what} is not JSON", path=path, line=exc.lineno,
                          found=exc.msg) from exc
