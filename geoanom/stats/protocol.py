"""The settings of the significance protocol of PROTOCOL.md: the validated TOML file
(:class:`Protocol`, :func:`load_protocol`) and its hash (:func:`protocol_hash`). The steps that
use them are run in order by :func:`geoanom.stats.test.run_test`.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from pathlib import Path

from geoanom._toml import parse_toml
from geoanom.decluster import METHODS as DECLUSTER_METHODS
from geoanom.errors import ConfigError
from geoanom.provenance import config_hash

DEFAULT_PROTOCOL_PATH = Path(__file__).with_name("default_protocol.toml")


# ----------------------------------------------------------------------------- the protocol

@dataclass(frozen=True)
class Protocol:
    """The protocol of PROTOCOL.md; field names follow ``<section>_<key>`` of the TOML file
    (units in the names: days, km, fractions)."""

    alpha: float = 0.05
    target_min_magnitude: float = 5.0
    target_max_depth_km: float = 100.0
    target_radius: str | float = "dobrovolsky"
    target_declustering: str = "gardner_knopoff"
    lead_min_days: float = 1.0
    lead_max_days: float = 30.0
    lead_post_event_exclusion_days: float = 30.0
    binning_bin_days: float = 1.0
    binning_score_variable: str = "rmse"
    binning_local_night: bool = False
    binning_night_hours: tuple[float, float] = (0.0, 4.0)
    split_test_fraction: float = 0.3
    split_gap_days: str | float = "auto"
    surrogates_n: int = 9999
    surrogates_method: str = "season_keeping"
    surrogates_jitter_days: float = 30.0
    surrogates_n_secondary: int = 999
    surrogates_block_mean_days: float = 10.0
    surrogates_n_bootstrap: int = 1999
    surrogates_n_legacy: int = 499
    surrogates_n_fake_catalogs: int = 20
    baselines_seismicity_min_magnitude: float = 4.0
    baselines_seismicity_days: float = 30.0
    placebos_far_factor: float = 5.0
    grid_stations: tuple[str, ...] = ("*",)
    grid_lead_windows: tuple[tuple[float, float], ...] = ((1.0, 30.0),)
    grid_thresholds: tuple[float, ...] = (0.05, 0.1, 0.2)

    def to_dict(self) -> dict:
        """Nested JSON-safe dict in the layout of the TOML file."""
        out: dict = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, tuple):
                v = [list(x) if isinstance(x, tuple) else x for x in v]
            if f.name == "alpha":
                out["alpha"] = v
                continue
            sec, key = f.name.split("_", 1)
            out.setdefault(sec, {})[key] = v
        return out

    @classmethod
    def from_dict(cls, d: dict, *, path=None, text: str | None = None) -> Protocol:
        """Validate a nested dict (the parsed TOML); ConfigError names the field and line."""
        return _from_nested(d, path=path, text=text)

    def replace(self, **kw) -> Protocol:
        """A copy with some fields changed (validated)."""
        p = dataclasses.replace(self, **kw)
        return _from_nested(p.to_dict())


def protocol_hash(protocol: Protocol) -> str:
    """16-hex-digit SHA-256 of the protocol's canonical JSON (``provenance.config_hash``)."""
    return config_hash(protocol.to_dict())


def _line_of(text: str | None, section: str | None, key: str) -> int | None:
    """1-based line of ``key =`` inside ``[section]`` of a TOML text (best effort)."""
    if not text:
        return None
    cur = None
    for i, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        m = re.match(r"^\[([^\]]+)\]", s)
        if m:
            cur = m.group(1).strip()
            if section is not None and key is None and cur == section:
                return i
            continue
        if re.match(rf"^{re.escape(key)}\s*=", s) and cur == section:
            return i
    return None


def _from_nested(d: dict, *, path=None, text: str | None = None) -> Protocol:
    defaults = Protocol()
    known: dict[str, dict[str, str]] = {}
    for f in dataclasses.fields(Protocol):
        if f.name == "alpha":
            continue
        sec, key = f.name.split("_", 1)
        known.setdefault(sec, {})[key] = f.name
    kw: dict = {}

    def err(msg, section, key, expected, found):
        raise ConfigError(msg + f" [{section + '.' if section else ''}{key}]", path=path,
                          line=_line_of(text, section, key), expected=expected, found=found)

    for top, val in d.items():
        if top == "alpha":
            kw["alpha"] = val
            continue
        if top not in known:
            raise ConfigError(f"unknown protocol section or field [{top}]", path=path,
                              line=_line_of(text, None, top) or _line_of(text, top, None),
                              expected="one of alpha, " + ", ".join(known), found=top)
        if not isinstance(val, dict):
            err("a protocol section must be a table", None, top, f"[{top}]", repr(val))
        for k, v in val.items():
            if k not in known[top]:
                err("unknown protocol field", top, k, ", ".join(known[top]), k)
            kw[known[top][k]] = v
    # type checks and conversions
    out = {}
    for f in dataclasses.fields(Protocol):
        name = f.name
        sec, key = ("", "alpha") if name == "alpha" else name.split("_", 1)
        if name not in kw:
            out[name] = getattr(defaults, name)
            continue
        v = kw[name]
        dflt = getattr(defaults, name)
        try:
            if name in ("target_radius",):
                if isinstance(v, str):
                    if v != "dobrovolsky":
                        raise ValueError
                elif isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0:
                    v = float(v)
                else:
                    raise ValueError
            elif name == "split_gap_days":
                if isinstance(v, str):
                    if v != "auto":
                        raise ValueError
                elif isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0:
                    v = float(v)
                else:
                    raise ValueError
            elif isinstance(dflt, bool):
                if not isinstance(v, bool):
                    raise ValueError
            elif isinstance(dflt, int):
                if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                    raise ValueError
            elif isinstance(dflt, float):
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                    raise ValueError
                v = float(v)
            elif isinstance(dflt, str):
                if not isinstance(v, str):
                    raise ValueError
            elif name == "binning_night_hours":
                v = tuple(float(x) for x in v)
                if len(v) != 2 or not all(0 <= x <= 24 for x in v):
                    raise ValueError
            elif name == "grid_stations":
                if not isinstance(v, list) or not all(isinstance(x, str) for x in v) or not v:
                    raise ValueError
                v = tuple(v)
            elif name == "grid_lead_windows":
                v = tuple((float(a), float(b)) for a, b in v)
                if not v or any(not (0 < a <= b) for a, b in v):
                    raise ValueError
            elif name == "grid_thresholds":
                v = tuple(float(x) for x in v)
                if any(not (0 < x < 1) for x in v):
                    raise ValueError
        except (ValueError, TypeError):
            err("invalid protocol value", sec or None, key, _expected(name, dflt), repr(v))
        out[name] = v
    p = Protocol(**out)
    checks = [
        (0 < p.alpha < 1, "alpha", None, "0 < alpha < 1"),
        (0 < p.lead_min_days <= p.lead_max_days, "min_days", "lead", "0 < min_days <= max_days"),
        (p.lead_post_event_exclusion_days >= 0, "post_event_exclusion_days", "lead", ">= 0"),
        (p.binning_bin_days > 0 and p.binning_bin_days <= p.lead_min_days, "bin_days",
         "binning", "0 < bin_days <= lead min_days"),
        (0 < p.split_test_fraction <= 1, "test_fraction", "split", "0 < fraction <= 1"),
        (p.surrogates_method in ("season_keeping", "uniform"), "method", "surrogates",
         "season_keeping or uniform"),
        (p.surrogates_n >= 19, "n", "surrogates", "at least 19 surrogates"),
        (p.target_declustering in DECLUSTER_METHODS, "declustering", "target",
         " or ".join(DECLUSTER_METHODS)),
        (p.surrogates_block_mean_days >= p.binning_bin_days, "block_mean_days", "surrogates",
         ">= bin_days"),
    ]
    for ok, key, sec, expected in checks:
        if not ok:
            val = out[key if sec is None else f"{sec}_{key}"]
            err("invalid protocol value", sec, key, expected, repr(val))
    return p


def _expected(name: str, dflt) -> str:
    if name == "target_radius":
        return '"dobrovolsky" or a radius in km > 0'
    if name == "split_gap_days":
        return '"auto" or days >= 0'
    if name == "grid_lead_windows":
        return "a list of [min_days, max_days] pairs with 0 < min <= max"
    if name == "grid_thresholds":
        return "a list of fractions of time in (0, 1)"
    if name == "grid_stations":
        return "a non-empty list of station codes (or \"*\")"
    if name == "binning_night_hours":
        return "[start_hour, end_hour] in 0..24"
    return type(dflt).__name__ + (" >= 0" if isinstance(dflt, int) and not isinstance(dflt, bool)
                                  else "")


def load_protocol(path=None) -> Protocol:
    """Read and validate a protocol TOML file (``None``: the packaged defaults).

    Raises
    ------
    ConfigError
        With file, line and field for a syntax error, an unknown field or a bad value.
    """
    if path is None and not DEFAULT_PROTOCOL_PATH.is_file():
        return Protocol()   # the packaged file mirrors these defaults (tested)
    p = DEFAULT_PROTOCOL_PATH if path is None else Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError("cannot read the protocol file", path=p, found=str(exc)) from exc
    d = parse_toml(text, path=p, what="protocol file")
    return _from_nested(d, path=p, text=text)
