"""The result of ``geoanom test``: one :class:`TestResult`, written as JSON.

Top-level JSON keys are exactly :data:`RESULT_KEYS`; the result's type name and schema
version ride in ``provenance["type"]`` and ``provenance["schema"]`` so that the top level
stays as PROTOCOL.md and the issue list it.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from geoanom._jsonfile import json_safe, read_json, to_json_text, write_json
from geoanom.errors import FormatError
from geoanom.stats.sensitivity import sensitivity_lines
from geoanom.stats.targets import listing_text

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


def summary_text(result: TestResult) -> str:
    """A short human summary of a :class:`TestResult` (for the CLI)."""
    pr, lg, ef, g = result.primary, result.legacy, result.effect_sizes, result.guardrails

    def f(x, fmt=".3f"):
        return ("n/a" if x is None or (isinstance(x, float) and not math.isfinite(x))
            else format(x, fmt))

    ci = ef.get("auc_ci95") or [None, None]
    lines = [
        f"station {pr.get('station')}: {pr['n_independent_events']} independent events, "
        f"{pr['n_bins']} test bins ({pr['test_period']['start'][:10]} .. "
        f"{pr['test_period']['end'][:10]})",
        f"primary  ASS = AUC = {f(pr['auc'])} (95% CI over events {f(ci[0])}..{f(ci[1])}), "
        f"p = {f(pr['p_value'], '.4f')} ({pr['n_surrogates']} surrogates: {pr['null']})",
        f"         -> {pr['verdict']}",
        f"scope    {pr['scope']}" if pr.get("scope") else "",
        f"legacy   window-level Mann-Whitney U = {f(lg.get('u'), '.1f')}, "
        f"naive p = {f(lg.get('p_value'), '.2g')}, AUC = {f(lg.get('auc'))}, "
        f"calibrated p = {f(lg.get('calibrated_p_value'), '.3f')} "
        "(naive p assumes independent windows: it does not hold)",
        f"grid     max-statistic p = {f(result.multiplicity.get('max_statistic_p_value'), '.4f')}"
        f" over {result.multiplicity['n_cells']} cells",
    ]
    tg, sens = pr.get("targets"), pr.get("sensitivity")
    if tg is not None:
        lines.append(f"targets  {listing_text(tg)}")
    if sens is not None:
        lines += [f"{'rules' if i == 0 else '':<8} {x}"
                  for i, x in enumerate(sensitivity_lines(sens))]
    for w in g["warnings"]:
        lines.append("warning: " + w)
    return "\n".join(x for x in lines if x)
