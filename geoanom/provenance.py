"""Provenance: what every output records so that it can be reproduced.

``provenance(config=..., inputs=[...], seeds={...})`` returns a flat dict of JSON-safe values:
package version, python/numpy/torch versions, config and its hash, input checksums, seeds,
creation time. Writers put it in netCDF attrs (as ``geoanom_provenance`` JSON), in model.json,
and in result JSON.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

from geoanom._version import __version__


def canonical_json(obj: object) -> str:
    """JSON with sorted keys and no whitespace: the form hashes are taken of."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_default)


def _default(o: object) -> object:
    import numpy as np

    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (Path,)):
        return str(o)
    if isinstance(o, (_dt.datetime, _dt.date)):
        return o.isoformat()
    return str(o)


def config_hash(config: object) -> str:
    """SHA-256 (hex, first 16 characters) of the canonical JSON of ``config``."""
    return object_sha256(config)[:16]


def object_sha256(obj: object) -> str:
    """SHA-256 (hex, all 64 characters) of the canonical JSON of ``obj``: the hash of a
    frozen object (a detector, a registration) that a third party recomputes."""
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            b = fh.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def provenance(
    *,
    config: object | None = None,
    inputs: Iterable[str | os.PathLike] = (),
    seeds: Mapping[str, int] | None = None,
    extra: Mapping[str, object] | None = None,
) -> dict:
    """The provenance block of an output (see module docstring)."""
    # importlib.metadata, not ``import torch``: importing torch costs seconds
    from importlib import metadata

    import numpy as np

    try:
        torch_version = metadata.version("torch")
    except metadata.PackageNotFoundError:  # pragma: no cover - torch is a hard dependency
        torch_version = None
    out = {
        "geoanom_version": __version__,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "torch": torch_version,
        "platform": platform.platform(),
        "created_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "config": config,
        "config_hash": config_hash(config) if config is not None else None,
        "inputs": {str(p): file_sha256(p) for p in inputs if Path(p).is_file()},
        "seeds": dict(seeds or {}),
    }
    if extra:
        out.update(extra)
    return json.loads(canonical_json(out))
