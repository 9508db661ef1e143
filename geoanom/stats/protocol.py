"""The settings of the significance protocol of PROTOCOL.md: the validated TOML file
(:class:`Protocol`, :func:`load_protocol`) and its hash (:func:`protocol_hash`). The steps that
use them are run in order by :func:`geoanom.stats.test.run_test`.

Validation is table-driven: every setting is checked by the rule of :data:`_VALUE_RULES`
(settings with a rule of their own) or :data:`_TYPE_RULES` (the others, by the type of their
default), in the order of the file; then the rules across settings of :data:`_CROSS_RULES`, in
their order. The first broken rule is the error, naming the setting and its line.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from geoanom._toml import parse_toml
from geoanom.decluster import METHODS as DECLUSTER_METHODS
from geoanom.errors import ConfigError
from geoanom.labels import DETECTABILITY, LabelRule
from geoanom.provenance import config_hash

DEFAULT_PROTOCOL_PATH = Path(__file__).with_name("default_protocol.toml")

#: The label-rule fields the protocol file has no key for: they keep the LabelRule defaults.
_RULE_FIELDS_NOT_IN_FILE = ("buffer_days", "normal_margin_magnitude", "normal_rule",
                            "require_catalog_coverage")


# ----------------------------------------------------------------------------- the protocol

@dataclass(frozen=True)
class Protocol:
    """The protocol of PROTOCOL.md.

    ``target`` is its label rule (:class:`geoanom.labels.LabelRule`), read from the file's
    ``[target]`` keys ``min_magnitude``, ``max_depth_km``, ``radius``, ``detectability``,
    ``ks_threshold``, ``declustering``, ``declustering_foreshocks`` and ``[lead]`` keys
    ``min_days``, ``max_days``, ``post_event_exclusion_days``; its ``buffer_days``,
    ``normal_margin_magnitude``, ``normal_rule`` and ``require_catalog_coverage`` (which
    only normal windows use) are the LabelRule defaults. The other field names follow
    ``<section>_<key>`` of the TOML file (units in the names: days, km, fractions);
    ``sensitivity_radius_cap_km`` is the capped radius of the target-rule sensitivity
    (:mod:`geoanom.stats.sensitivity`).
    """

    alpha: float = 0.05
    target: LabelRule = field(default_factory=LabelRule)
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
    sensitivity_radius_cap_km: float = 1000.0
    grid_stations: tuple[str, ...] = ("*",)
    grid_lead_windows: tuple[tuple[float, float], ...] = ((1.0, 30.0),)
    grid_thresholds: tuple[float, ...] = (0.05, 0.1, 0.2)

    def __post_init__(self) -> None:
        # the hash covers the file's settings only, so the target may hold nothing else
        fixed = LabelRule()
        for name in _RULE_FIELDS_NOT_IN_FILE:
            if getattr(self.target, name) != getattr(fixed, name):
                raise ConfigError(f"the protocol's target has no setting {name}",
                                  expected=f"{getattr(fixed, name)!r} (the LabelRule default)",
                                  found=repr(getattr(self.target, name)))

    def to_dict(self) -> dict:
        """Nested JSON-safe dict in the layout of the TOML file."""
        return _nested(_settings(self))

    @classmethod
    def from_dict(cls, d: dict, *, path=None, text: str | None = None) -> Protocol:
        """Validate a nested dict (the parsed TOML); ConfigError names the field and line."""
        return _from_nested(d, path=path, text=text)

    def replace(self, **kw) -> Protocol:
        """A copy with some settings changed (validated), named ``<section>_<key>`` as in the
        TOML file (``alpha``, ``target_declustering``, ``lead_max_days``, ``surrogates_n``...)."""
        values = _settings(self)
        unknown = sorted(set(kw) - set(values))
        if unknown:
            raise TypeError("unknown protocol settings: " + ", ".join(unknown)
                            + " (expected " + ", ".join(values) + ")")
        return _from_nested(_nested({**values, **kw}))


def protocol_hash(protocol: Protocol) -> str:
    """16-hex-digit SHA-256 of the protocol's canonical JSON (``provenance.config_hash``)."""
    return config_hash(protocol.to_dict())


# --------------------------------------------------- the file's flat settings <-> Protocol

def _target_settings(rule: LabelRule) -> dict[str, Any]:
    """The label rule as the file's settings."""
    return {"target_min_magnitude": rule.m_min, "target_max_depth_km": rule.max_depth_km,
            "target_radius": rule.radius, "target_detectability": rule.detectability,
            "target_ks_threshold": rule.ks_threshold, "target_declustering": rule.decluster,
            "target_declustering_foreshocks": rule.decluster_foreshocks,
            "lead_min_days": rule.lead_days[0], "lead_max_days": rule.lead_days[1],
            "lead_post_event_exclusion_days": rule.post_event_exclusion_days}


def _settings(p: Protocol) -> dict[str, Any]:
    """Every setting by its flat name ``<section>_<key>`` (``alpha`` alone), in file order."""
    out: dict[str, Any] = {}
    for f in fields(p):
        if f.name == "target":
            out.update(_target_settings(p.target))
        else:
            out[f.name] = getattr(p, f.name)
    return out


def _from_settings(v: dict[str, Any]) -> Protocol:
    """The Protocol of validated flat settings (the inverse of :func:`_settings`)."""
    target = LabelRule(m_min=v["target_min_magnitude"], max_depth_km=v["target_max_depth_km"],
                       radius=v["target_radius"], detectability=v["target_detectability"],
                       ks_threshold=v["target_ks_threshold"],
                       decluster=v["target_declustering"],
                       decluster_foreshocks=v["target_declustering_foreshocks"],
                       lead_days=(v["lead_min_days"], v["lead_max_days"]),
                       post_event_exclusion_days=v["lead_post_event_exclusion_days"])
    keys = _target_settings(target)
    return Protocol(target=target, **{k: x for k, x in v.items() if k not in keys})


def _split(name: str) -> tuple[str | None, str]:
    """Section and key of a flat setting name (``alpha`` has no section)."""
    if name == "alpha":
        return None, "alpha"
    sec, key = name.split("_", 1)
    return sec, key


def _nested(values: dict[str, Any]) -> dict:
    """Flat settings in the nested layout of the TOML file (tuples become lists)."""
    out: dict = {}
    for name, v in values.items():
        if isinstance(v, tuple):
            v = [list(x) if isinstance(x, tuple) else x for x in v]
        sec, key = _split(name)
        if sec is None:
            out[key] = v
        else:
            out.setdefault(sec, {})[key] = v
    return out


# ---------------------------------------------------------------------------- validation

class _Invalid(ValueError):
    """A value that converts but breaks its rule; the error shows it converted."""

    def __init__(self, converted: object) -> None:
        super().__init__()
        self.converted = converted


def _require(ok: bool) -> None:
    if not ok:
        raise ValueError


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _as_bool(v):
    _require(isinstance(v, bool))
    return v


def _as_count(v):
    _require(isinstance(v, int) and not isinstance(v, bool) and v >= 0)
    return v


def _as_float(v):
    _require(_is_number(v) and math.isfinite(v))
    return float(v)


def _as_str(v):
    _require(isinstance(v, str))
    return v


def _word_or_number(word: str, low: float, *, strict: bool) -> Callable:
    """``word`` itself, or a number above ``low`` (``>= low`` unless ``strict``) as float."""
    def check(v):
        if isinstance(v, str):
            _require(v == word)
            return v
        _require(_is_number(v) and (v > low if strict else v >= low))
        return float(v)
    return check


def _one_of(words: tuple[str, ...]) -> Callable:
    """One of ``words``."""
    def check(v):
        _require(isinstance(v, str) and v in words)
        return v
    return check


def _positive(v):
    _require(_is_number(v) and math.isfinite(v) and v > 0)
    return float(v)


def _night_hours(v):
    h = tuple(float(x) for x in v)
    if len(h) != 2 or not all(0 <= x <= 24 for x in h):
        raise _Invalid(h)
    return h


def _stations(v):
    _require(isinstance(v, list) and all(isinstance(x, str) for x in v) and bool(v))
    return tuple(v)


def _lead_windows(v):
    w = tuple((float(a), float(b)) for a, b in v)
    if not w or any(not (0 < a <= b) for a, b in w):
        raise _Invalid(w)
    return w


def _thresholds(v):
    t = tuple(float(x) for x in v)
    if any(not (0 < x < 1) for x in t):
        raise _Invalid(t)
    return t


#: Settings with a rule of their own: the check (returns the value converted, raises
#: ValueError or TypeError) and what the error says is expected.
_VALUE_RULES: dict[str, tuple[Callable, str]] = {
    "target_radius": (_word_or_number("dobrovolsky", 0.0, strict=True),
                      '"dobrovolsky" or a radius in km > 0'),
    "target_detectability": (_one_of(DETECTABILITY), " or ".join(DETECTABILITY)),
    "target_ks_threshold": (_positive, "a number > 0"),
    "sensitivity_radius_cap_km": (_positive, "a radius in km > 0"),
    "binning_night_hours": (_night_hours, "[start_hour, end_hour] in 0..24"),
    "split_gap_days": (_word_or_number("auto", 0.0, strict=False), '"auto" or days >= 0'),
    "grid_stations": (_stations, 'a non-empty list of station codes (or "*")'),
    "grid_lead_windows": (_lead_windows,
                          "a list of [min_days, max_days] pairs with 0 < min <= max"),
    "grid_thresholds": (_thresholds, "a list of fractions of time in (0, 1)"),
}

#: The other settings, by the type of their default.
_TYPE_RULES: dict[type, tuple[Callable, str]] = {
    bool: (_as_bool, "bool"), int: (_as_count, "int >= 0"), float: (_as_float, "float"),
    str: (_as_str, "str"),
}

#: Rules across settings, checked in this order once every value is valid: whether it holds,
#: the setting the error names, and what is expected.
_CROSS_RULES: tuple[tuple[Callable[[dict], bool], str, str], ...] = (
    (lambda v: 0 < v["alpha"] < 1, "alpha", "0 < alpha < 1"),
    (lambda v: 0 < v["lead_min_days"] <= v["lead_max_days"], "lead_min_days",
     "0 < min_days <= max_days"),
    (lambda v: v["lead_post_event_exclusion_days"] >= 0, "lead_post_event_exclusion_days",
     ">= 0"),
    (lambda v: 0 < v["binning_bin_days"] <= v["lead_min_days"], "binning_bin_days",
     "0 < bin_days <= lead min_days"),
    (lambda v: 0 < v["split_test_fraction"] <= 1, "split_test_fraction", "0 < fraction <= 1"),
    (lambda v: v["surrogates_method"] in ("season_keeping", "uniform"), "surrogates_method",
     "season_keeping or uniform"),
    (lambda v: v["surrogates_n"] >= 19, "surrogates_n", "at least 19 surrogates"),
    (lambda v: v["target_declustering"] in DECLUSTER_METHODS, "target_declustering",
     " or ".join(DECLUSTER_METHODS)),
    (lambda v: v["target_detectability"] == "dobrovolsky" or v["target_radius"] == "dobrovolsky",
     "target_radius", '"dobrovolsky" (a fixed radius needs detectability = "dobrovolsky")'),
    (lambda v: v["surrogates_block_mean_days"] >= v["binning_bin_days"],
     "surrogates_block_mean_days", ">= bin_days"),
)


def _line_of(text: str | None, section: str | None, key: str | None) -> int | None:
    """1-based line of ``key =`` inside ``[section]`` of a TOML text, or of the
    ``[section]`` header itself when ``key`` is None (best effort)."""
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
        if key is not None and cur == section and re.match(rf"^{re.escape(key)}\s*=", s):
            return i
    return None


def _from_nested(d: dict, *, path=None, text: str | None = None) -> Protocol:
    """Validate a nested dict (the parsed TOML) into a Protocol: unknown sections and keys,
    then every value by its rule, then the rules across settings."""
    defaults = _settings(Protocol())
    known: dict[str, dict[str, str]] = {}
    for name in defaults:
        sec, key = _split(name)
        if sec is not None:
            known.setdefault(sec, {})[key] = name

    def err(msg, section, key, expected, found):
        raise ConfigError(msg + f" [{section + '.' if section else ''}{key}]", path=path,
                          line=_line_of(text, section, key), expected=expected, found=found)

    given: dict = {}
    for top, val in d.items():
        if top == "alpha":
            given["alpha"] = val
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
            given[known[top][k]] = v
    values: dict[str, Any] = {}
    for name, dflt in defaults.items():
        if name not in given:
            values[name] = dflt
            continue
        check, expected = _VALUE_RULES.get(name) or _TYPE_RULES[type(dflt)]
        v = given[name]
        try:
            values[name] = check(v)
        except _Invalid as exc:
            err("invalid protocol value", *_split(name), expected, repr(exc.converted))
        except (ValueError, TypeError):
            err("invalid protocol value", *_split(name), expected, repr(v))
    for holds, name, expected in _CROSS_RULES:
        if not holds(values):
            err("invalid protocol value", *_split(name), expected, repr(values[name]))
    return _from_settings(values)


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
