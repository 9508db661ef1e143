"""Strict JSON: THE sanitiser (:func:`json_safe`) and result files written atomically, read
with a FormatError naming the line."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from geoanom._atomic import atomic_write_text
from geoanom.errors import FormatError


def json_safe(o: Any) -> Any:
    """``o`` made fit for strict JSON: non-finite floats become None (strict JSON has no NaN),
    numpy scalars and arrays become Python numbers and lists, tuples become lists, dict keys
    become strings; containers recursively, anything else unchanged."""
    if isinstance(o, dict):
        return {str(k): json_safe(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [json_safe(v) for v in o]
    if isinstance(o, np.ndarray):
        return json_safe(o.tolist())
    if isinstance(o, np.bool_):
        return bool(o)
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, (float, np.floating)):
        f = float(o)
        return f if math.isfinite(f) else None
    return o


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
