"""The result of ``geoanom test``: one :class:`TestResult`, written as JSON.

Top-level JSON keys are exactly :data:`RESULT_KEYS`; the result's type name and schema
version ride in ``provenance["type"]`` and ``provenance["schema"]`` so that the top level
stays as PROTOCOL.md and the issue list it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from geoanom._jsonfile import json_safe, read_json, to_json_text, write_json
from geoanom.errors import FormatError

RESULT_KEYS = ("protocol", "protocol_hash", "legacy", "primary", "effect_sizes", "baselines",
               "placebos", "multiplicity", "guardrails", "provenance")
RESULT_TYPE = "geoanom.TestResult"
SCHEMA_VERSION = 1


@dataclass
class TestResult:
    """Every statistic of one ``geoanom test`` run (see PROTOCOL.md).

    ``series`` holds per-bin arrays for the figures (alarm, dates, events, null
    distributions); it stays in memory and is not written to JSON.
    """

    __test__ = False  # not a pytest test class

    protocol: dict
    protocol_hash: str
    legacy: dict
    primary: dict
    effect_sizes: dict
    baselines: dict
    placebos: dict
    multiplicity: dict
    guardrails: dict
    provenance: dict
    series: dict = field(default_factory=dict, repr=False, compare=False)

    type = RESULT_TYPE

    def to_dict(self) -> dict:
        """JSON-safe dict with exactly the keys of :data:`RESULT_KEYS` (NaN -> null)."""
        prov = dict(self.provenance)
        prov.setdefault("type", RESULT_TYPE)
        prov.setdefault("schema", SCHEMA_VERSION)
        d = {k: getattr(self, k) for k in RESULT_KEYS}
        d["provenance"] = prov
        return json_safe(d)

    @classmethod
    def from_dict(cls, d: dict) -> TestResult:
        """Rebuild from :meth:`to_dict` output; FormatError on a different layout or type."""
        if not isinstance(d, dict) or set(d) != set(RESULT_KEYS):
            raise FormatError("not a geoanom test result", expected=", ".join(RESULT_KEYS),
                              found=", ".join(map(str, d)) if isinstance(d, dict) else type(d).__name__)
        t = (d.get("provenance") or {}).get("type")
        if t != RESULT_TYPE:
            raise FormatError("not a geoanom test result", expected=RESULT_TYPE, found=str(t))
        return cls(**{k: d[k] for k in RESULT_KEYS})

    def to_json(self) -> str:
        """Strict JSON text (sorted keys, indented)."""
        return to_json_text(self.to_dict())

    def write(self, path: str | os.PathLike) -> Path:
        """Write the JSON atomically (temporary name, then rename)."""
        return write_json(path, self.to_dict())

    @classmethod
    def read(cls, path: str | os.PathLike) -> TestResult:
        """Read a result JSON file."""
        d = read_json(path, "result file")
        return cls.from_dict(d)
