"""The registration of a prospective test (:class:`Registration`), its hash, the criteria
it states (:class:`Criteria`), and :func:`freeze` / :func:`amend`, which make one.

A registration is written before the test period and holds everything that decides the
verdict: the detector (the SHA-256 of ``weights.pt`` and ``model.json``, and
:meth:`~geoanom.detector.api.Detector.hash`), the protocol (file SHA-256, settings and
:func:`~geoanom.stats.protocol.protocol_hash`), the package version and the digest of its own
source (:func:`source_digest`), a manifest (path, size, SHA-256, time span) of every input the
detector was built from and of the record and catalog given at freezing, the test period, the
pass criteria, and the alarm thresholds: quantiles of the detector's validation-period bin
alarms, resolved to absolute score values when freezing. Its ``hash`` is the SHA-256 of the
canonical JSON (:func:`geoanom.provenance.canonical_json`) of every other field, so anyone
can recompute it; reading a registration checks it.

Freezing refuses (:class:`~geoanom.errors.LeakageError`) when a record or the catalog given
reaches into the test period, or when the detector's own training data do (``model.json``:
``split_periods`` and the preprocessing's ``train_end``).

The criteria file (TOML)::

    [primary]
    max_p_value = 0.01            # PASS needs the primary p-value at or below this ...
    min_independent_events = 10   # ... with at least this many independent target events ...
    min_ass = 0.5                 # ... and ASS (= AUC) above this (0.5 is no skill)
    seed = 0                      # the seed of the test's surrogates

    [alarms]
    quantiles = [0.9, 0.95]       # alarm thresholds: quantiles of the validation-period
                                  # bin alarms (each becomes one alarm level)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from geoanom._jsonfile import json_safe, read_json, write_json
from geoanom._toml import read_toml
from geoanom._version import __version__
from geoanom.detector.api import Detector, load_detector
from geoanom.detector.nn.artifact import MODEL_JSON, WEIGHTS
from geoanom.errors import ConfigError, FormatError, GeoanomError, LeakageError, ValidationError
from geoanom.prereg.protocol import (
    Protocol,
    bin_alarms,
    bin_length_ns,
    iso,
    load_protocol,
    protocol_hash,
)
from geoanom.provenance import file_sha256, object_sha256

REGISTRATION_TYPE = "geoanom.Registration"
SCHEMA_VERSION = 1
PACKAGE_ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------- criteria

@dataclass(frozen=True)
class Criteria:
    """The pre-stated pass criteria of a prospective test (see the module docstring).

    PASS needs all three: primary ``p <= max_p_value``, at least ``min_events`` independent
    target events, and ``ASS > min_ass``. ``alarm_quantiles`` are the alarm thresholds as
    quantiles of the validation-period bin alarms; ``seed`` seeds the test's surrogates.
    """

    max_p_value: float = 0.01
    min_events: int = 10
    min_ass: float = 0.5
    alarm_quantiles: tuple[float, ...] = (0.9,)
    seed: int = 0

    def to_dict(self) -> dict:
        """The TOML layout: ``{"primary": {...}, "alarms": {"quantiles": [...]}}``."""
        return {"primary": {"max_p_value": self.max_p_value,
                            "min_independent_events": self.min_events,
                            "min_ass": self.min_ass, "seed": self.seed},
                "alarms": {"quantiles": list(self.alarm_quantiles)}}

    @classmethod
    def from_dict(cls, d: dict, *, path=None) -> Criteria:
        """Validate the TOML layout; ConfigError names the field (and ``path``)."""
        known = {"primary": {"max_p_value", "min_independent_events", "min_ass", "seed"},
                 "alarms": {"quantiles"}}
        for sec, val in d.items():
            if sec not in known or not isinstance(val, dict):
                raise ConfigError(f"unknown criteria table [{sec}]", path=path,
                                  expected="[primary] and [alarms]", found=sec)
            for k in val:
                if k not in known[sec]:
                    raise ConfigError(f"unknown criteria field [{sec}] {k}", path=path,
                                      expected=", ".join(sorted(known[sec])), found=k)
        p, a = dict(d.get("primary", {})), dict(d.get("alarms", {}))
        dflt = cls()
        out = cls(max_p_value=p.get("max_p_value", dflt.max_p_value),
                  min_events=p.get("min_independent_events", dflt.min_events),
                  min_ass=p.get("min_ass", dflt.min_ass),
                  alarm_quantiles=tuple(a.get("quantiles", dflt.alarm_quantiles)),
                  seed=p.get("seed", dflt.seed))
        checks = [
            (_number(out.max_p_value) and 0 < out.max_p_value < 1, "primary", "max_p_value",
             "0 < max_p_value < 1", out.max_p_value),
            (_whole(out.min_events) and out.min_events >= 1, "primary",
             "min_independent_events", "a whole number >= 1", out.min_events),
            (_number(out.min_ass) and 0 <= out.min_ass < 1, "primary", "min_ass",
             "0 <= min_ass < 1", out.min_ass),
            (_whole(out.seed) and out.seed >= 0, "primary", "seed", "a whole number >= 0",
             out.seed),
            (len(out.alarm_quantiles) > 0
             and all(_number(q) and 0 < q < 1 for q in out.alarm_quantiles)
             and list(out.alarm_quantiles) == sorted(set(out.alarm_quantiles)),
             "alarms", "quantiles", "ascending distinct fractions in (0, 1)",
             list(out.alarm_quantiles)),
        ]
        for ok, sec, key, expected, found in checks:
            if not ok:
                raise ConfigError(f"invalid criteria value [{sec}] {key}", path=path,
                                  expected=expected, found=repr(found))
        return dataclasses.replace(out, max_p_value=float(out.max_p_value),
                                   min_ass=float(out.min_ass),
                                   alarm_quantiles=tuple(float(q) for q in out.alarm_quantiles))

    @classmethod
    def from_toml(cls, path: str | os.PathLike) -> Criteria:
        """Read and validate a criteria TOML file."""
        return cls.from_dict(read_toml(path, what="criteria file"), path=path)


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _whole(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


# ------------------------------------------------------------------------ the manifest

def source_digest(root: str | os.PathLike = PACKAGE_ROOT) -> str:
    """SHA-256 of the package's own source: the canonical JSON of ``[[path, sha256], ...]``
    over every ``.py`` file under ``root`` (paths relative to it, POSIX form, sorted)."""
    root = Path(root)
    files = sorted((p.relative_to(root).as_posix(), p) for p in root.rglob("*.py")
                   if "__pycache__" not in p.parts)
    return object_sha256([[rel, file_sha256(p)] for rel, p in files])


def record_span(record: xr.Dataset) -> tuple[np.datetime64, np.datetime64]:
    """First sample time and end of the last sample (a sample stands for ``[t, t + period)``)."""
    t = record["time"].values.astype("datetime64[ns]")
    period = np.timedelta64(int(round(float(record.attrs["sampling_period_s"]) * 1e9)), "ns")
    return t[0], t[-1] + period


def file_entry(path: str | os.PathLike, role: str, span=None) -> dict:
    """One manifest row: role, path, size (bytes), SHA-256 and time span (ISO, or None)."""
    p = Path(path)
    if not p.is_file():
        raise GeoanomError(f"the {role} file does not exist", path=p)
    start, end = span if span is not None else (None, None)
    return {"role": role, "path": str(path), "size": p.stat().st_size,
            "sha256": file_sha256(p), "start": iso(start) if start is not None else None,
            "end": iso(end) if end is not None else None}


def _to_time(t, what: str) -> np.datetime64:
    try:
        ts = pd.Timestamp(t)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"cannot read the {what}", expected="a UTC date such as 2014-01-01",
                          found=str(t)) from exc
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return np.datetime64(ts.as_unit("ns").to_datetime64(), "ns")


# ---------------------------------------------------------------------- the registration

@dataclass(frozen=True)
class Registration:
    """A frozen prospective test (see the module docstring for what each block holds).

    Attributes
    ----------
    created_utc
        When it was frozen (ISO, UTC).
    station
        ``iaga_code``, ``latitude_deg``, ``longitude_deg`` of the record.
    test_period
        ``start`` (a UTC midnight: bin 0 starts there) and ``end`` (None: open).
    detector, protocol, criteria
        Paths, file hashes and settings of the frozen detector, protocol and criteria.
    thresholds
        One ``{"quantile", "score", "n_validation_bins"}`` per alarm level, ascending.
    training
        The detector's ``split_periods``, preprocessing ``train_end`` and data end.
    manifest
        One row per input (:func:`file_entry`).
    package
        ``geoanom_version`` and ``source_digest``.
    amends
        ``{"hash", "reason"}`` of the registration this one replaces, or None.
    """

    created_utc: str
    station: dict
    test_period: dict
    detector: dict
    protocol: dict
    criteria: dict
    thresholds: list
    training: dict
    manifest: list
    package: dict
    amends: dict | None = None
    hash: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "hash", object_sha256(self.body()))

    def body(self) -> dict:
        """Everything the hash covers (all fields but ``hash``), JSON-ready."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "hash"}
        return json_safe({"type": REGISTRATION_TYPE, "schema": SCHEMA_VERSION, **d})

    def to_dict(self) -> dict:
        """The JSON document: :meth:`body` and ``hash``."""
        return {**self.body(), "hash": self.hash}

    @classmethod
    def from_dict(cls, d: dict, *, path=None) -> Registration:
        """Rebuild and check: a wrong type, a missing field or a hash that does not match
        the content (an edit after freezing) is an error naming ``path``."""
        if not isinstance(d, dict) or d.get("type") != REGISTRATION_TYPE:
            raise FormatError("not a geoanom registration", path=path,
                              expected=REGISTRATION_TYPE,
                              found=str(d.get("type")) if isinstance(d, dict) else type(d).__name__)
        names = [f.name for f in dataclasses.fields(cls) if f.name != "hash"]
        missing = [n for n in names if n not in d and n != "amends"]
        if missing:
            raise FormatError("the registration lacks fields", path=path,
                              expected=", ".join(names), found="missing " + ", ".join(missing))
        reg = cls(**{n: d.get(n) for n in names})
        if reg.body() != {k: v for k, v in d.items() if k != "hash"} or reg.hash != d.get("hash"):
            raise GeoanomError("the registration's content does not match its hash (it was "
                               "edited after freezing)", path=path,
                               expected=f"hash {reg.hash}", found=str(d.get("hash")))
        return reg

    def write(self, path: str | os.PathLike) -> Path:
        """Write the JSON atomically."""
        return write_json(path, self.to_dict())

    @classmethod
    def read(cls, path: str | os.PathLike) -> Registration:
        """Read a registration file and check its hash."""
        return cls.from_dict(read_json(path, "registration file"), path=path)

    @property
    def test_start(self) -> np.datetime64:
        return np.datetime64(self.test_period["start"], "ns")

    @property
    def test_end(self) -> np.datetime64 | None:
        e = self.test_period.get("end")
        return None if e is None else np.datetime64(e, "ns")

    @property
    def frozen_protocol(self) -> Protocol:
        """The registered protocol settings."""
        return Protocol.from_dict(self.protocol["settings"])

    @property
    def frozen_criteria(self) -> Criteria:
        """The registered criteria."""
        return Criteria.from_dict(self.criteria["settings"])

    @property
    def threshold_scores(self) -> list[float]:
        """The alarm thresholds (absolute score values), ascending."""
        return [float(t["score"]) for t in self.thresholds]

    def check_detector(self, detector: Detector) -> None:
        """Refuse a detector other than the registered one (weights, model.json, hash)."""
        d = self.detector
        now = detector_block(detector)
        for key, what in (("weights_sha256", WEIGHTS), ("model_json_sha256", MODEL_JSON),
                          ("hash", "detector hash")):
            if now[key] != d[key]:
                raise GeoanomError(f"the model differs from the registration: {what} changed",
                                   path=detector.path, expected=f"{key} {d[key]}",
                                   found=now[key])

    def check_protocol(self, path: str | os.PathLike) -> Protocol:
        """Refuse a protocol file other than the registered one (file SHA-256 and settings
        hash); return it."""
        sha = file_sha256(path)
        proto = load_protocol(path)
        if protocol_hash(proto) != self.protocol["hash"]:
            raise GeoanomError("the protocol differs from the registration: its settings "
                               "changed", path=path, expected=f"hash {self.protocol['hash']}",
                               found=protocol_hash(proto))
        if sha != self.protocol["sha256"]:
            raise GeoanomError("the protocol file differs from the registration", path=path,
                               expected=f"sha256 {self.protocol['sha256']}", found=sha)
        return proto


def detector_block(detector: Detector) -> dict:
    """The registration's ``detector`` block of a detector."""
    return {"path": str(detector.path), "hash": detector.hash(),
            "config_hash": detector.config.hash(),
            "weights_sha256": file_sha256(detector.path / WEIGHTS),
            "model_json_sha256": file_sha256(detector.path / MODEL_JSON)}


# ------------------------------------------------------------------------ freezing

def training_period(detector: Detector) -> dict:
    """Where the detector's data lie: its ``split_periods``, the preprocessing's
    ``train_end`` and ``data_end``, the latest of them (LeakageError when the model records
    no split periods, since nothing then shows where its data end)."""
    periods = detector.model.meta.get("split_periods") or {}
    if not periods:
        raise LeakageError("the model records no split periods (model.json split_periods): "
                           "nothing shows that its data end before the test period",
                           path=detector.path / MODEL_JSON)
    ends = [np.datetime64(p["last_end"], "ns") for p in periods.values()]
    train_end = detector.preprocess.train_end or None
    if train_end:
        ends.append(np.datetime64(pd.Timestamp(train_end).to_datetime64(), "ns"))
    return {"split_periods": periods, "preprocess_train_end": train_end,
            "data_end": iso(max(ends))}


def check_before_test(t_start: np.datetime64, detector: Detector, record: xr.Dataset,
                      catalog: pd.DataFrame, *, record_file=None, catalog_file=None) -> dict:
    """Refuse (LeakageError) anything that reaches into the test period starting at
    ``t_start``: the record (a sample ending after it), the catalog (an event at or after
    it), the detector's training data (:func:`training_period`). Returns the training
    period."""
    _, rec_end = record_span(record)
    if rec_end > t_start:
        raise LeakageError("the record reaches into the test period", path=record_file,
                           expected=f"samples ending by the test start {iso(t_start)}",
                           found=f"samples up to {iso(rec_end)}")
    t = catalog["time"].to_numpy().astype("datetime64[ns]")
    if t.size and t.max() >= t_start:
        raise LeakageError("the catalog reaches into the test period", path=catalog_file,
                           expected=f"events before the test start {iso(t_start)}",
                           found=f"{int((t >= t_start).sum())} events from {iso(t[t >= t_start].min())}")
    tp = training_period(detector)
    if np.datetime64(tp["data_end"], "ns") > t_start:
        raise LeakageError("the model's training data reach into the test period "
                           "(model.json split_periods / preprocessing train_end)",
                           path=detector.path / MODEL_JSON,
                           expected=f"data ending by the test start {iso(t_start)}",
                           found=f"data up to {tp['data_end']}")
    return tp


def validation_thresholds(detector: Detector, record: xr.Dataset, protocol: Protocol,
                          quantiles, t_start: np.datetime64, *, activity=None,
                          reference: xr.Dataset | None = None) -> list[dict]:
    """The alarm thresholds: ``quantiles`` of the bin alarms of the detector's
    validation-period windows of ``record`` (bins aligned with the test start)."""
    scores = detector.score(record, activity=activity, reference=reference)
    if "split" not in scores:
        raise ValidationError("the scores carry no split: the model records no validation "
                              "period to take the alarm thresholds from")
    val = scores.isel(window=np.flatnonzero(scores["split"].values.astype(str) == "val"))
    bd_ns = bin_length_ns(protocol.binning_bin_days)
    if val.sizes["window"] == 0:
        raise ValidationError("the record holds no window of the model's validation period "
                              "(the alarm thresholds are quantiles of its scores)",
                              expected="the record the model was trained on")
    first = val["end"].values.astype("datetime64[ns]").min()
    back = -(-int((t_start - first) / np.timedelta64(1, "ns")) // bd_ns)
    t0 = t_start - np.timedelta64(max(back, 0) * bd_ns, "ns")
    v = bin_alarms(val, protocol, t0).value
    v = v[np.isfinite(v)]
    if v.size == 0:
        raise ValidationError("no validation-period window has a finite score")
    return [{"quantile": float(q), "score": float(np.quantile(v, q)),
             "n_validation_bins": int(v.size)} for q in quantiles]


def training_inputs(detector: Detector, given: list[dict]) -> list[dict]:
    """Manifest rows of the inputs ``model.json`` lists (path and SHA-256 from its
    provenance; size and span from the given file of the same SHA-256, where there is one)."""
    rows = []
    by_sha = {g["sha256"]: g for g in given}
    for path, sha in sorted(((detector.model.meta.get("provenance") or {})
                             .get("inputs") or {}).items()):
        g = by_sha.get(sha)
        rows.append({"role": "training input", "path": path, "sha256": sha,
                     "size": g["size"] if g else None, "start": g["start"] if g else None,
                     "end": g["end"] if g else None})
    return rows


def freeze(detector_dir: str | os.PathLike, protocol_path: str | os.PathLike,
           criteria_path: str | os.PathLike, record: xr.Dataset, catalog: pd.DataFrame, *,
           test_start, test_end=None, record_files=(), catalog_file=None, other_files=(),
           activity=None, reference: xr.Dataset | None = None, amends: dict | None = None,
           now: dt.datetime | None = None) -> Registration:
    """Freeze a prospective test.

    Parameters
    ----------
    detector_dir
        The detector's folder (``weights.pt``, ``model.json``).
    protocol_path, criteria_path
        The protocol TOML and the criteria TOML (module docstring).
    record, catalog
        The station record and catalog in hand (both must end before the test start); the
        record's validation-period windows give the alarm thresholds.
    test_start, test_end
        The test period (UTC; the start a midnight, the end optional).
    record_files, catalog_file, other_files
        The files ``record`` and ``catalog`` were read from, and others used (activity
        index, reference record: ``(path, role)`` pairs), for the manifest.
    activity, reference
        What the detector's preprocessing regresses on, if anything.
    amends
        ``{"hash", "reason"}`` of the registration this one replaces (:func:`amend`).
    now
        The freeze time (default: the clock).

    Raises
    ------
    LeakageError
        A record, the catalog or the detector's training data reach into the test period.
    """
    t_start = _to_time(test_start, "test start")
    if t_start != t_start.astype("datetime64[D]"):
        raise ConfigError("the test start must be a UTC midnight (the protocol's bins count "
                          "from it)", expected="a date such as 2014-01-01",
                          found=iso(t_start))
    t_end = None if test_end is None else _to_time(test_end, "test end")
    if t_end is not None and t_end <= t_start:
        raise ConfigError("the test end must be after the test start",
                          expected=f"after {iso(t_start)}", found=iso(t_end))
    det = load_detector(detector_dir, device="cpu")
    proto = load_protocol(protocol_path)
    crit = Criteria.from_toml(criteria_path)
    files = list(record_files)
    tp = check_before_test(t_start, det, record, catalog,
                           record_file=files[0] if len(files) == 1 else None,
                           catalog_file=catalog_file)
    thresholds = validation_thresholds(det, record, proto, crit.alarm_quantiles, t_start,
                                       activity=activity, reference=reference)
    cat_t = catalog["time"].to_numpy().astype("datetime64[ns]")
    given = [file_entry(p, "record", record_span(record)) for p in files]
    if catalog_file is not None:
        given.append(file_entry(catalog_file, "catalog",
                                (cat_t.min(), cat_t.max()) if cat_t.size else None))
    given += [file_entry(p, role) for p, role in other_files]
    manifest = [file_entry(det.path / WEIGHTS, "model weights"),
                file_entry(det.path / MODEL_JSON, "model.json"), *given,
                *training_inputs(det, given)]
    created = (now or dt.datetime.now(dt.timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return Registration(
        created_utc=created,
        station={k: record.attrs.get(k) for k in ("iaga_code", "latitude_deg",
                                                  "longitude_deg")},
        test_period={"start": iso(t_start), "end": iso(t_end) if t_end is not None else None},
        detector=detector_block(det),
        protocol={"path": str(protocol_path), "sha256": file_sha256(protocol_path),
                  "hash": protocol_hash(proto), "settings": proto.to_dict()},
        criteria={"path": str(criteria_path), "sha256": file_sha256(criteria_path),
                  "settings": crit.to_dict()},
        thresholds=thresholds, training=tp, manifest=manifest,
        package={"geoanom_version": __version__, "source_digest": source_digest()},
        amends=amends)


def amend(previous: Registration, reason: str, *, now: dt.datetime | None = None,
          **freeze_args) -> Registration:
    """A new registration that replaces ``previous``, with ``reason`` and the old hash in
    its ``amends`` block; refused once the test period has begun (by the clock, or ``now``).

    ``freeze_args`` are those of :func:`freeze` (the caller passes the previous
    registration's files for what does not change).
    """
    now = now or dt.datetime.now(dt.timezone.utc)
    t_now = np.datetime64(now.astimezone(dt.timezone.utc).replace(tzinfo=None), "ns")
    if t_now >= previous.test_start:
        raise GeoanomError("the test period has begun: a registration can be amended only "
                           "before its test start",
                           expected=f"before {iso(previous.test_start)}", found=iso(t_now))
    if not reason.strip():
        raise ConfigError("an amendment needs a reason", expected="--reason TEXT", found="")
    return freeze(**freeze_args, amends={"hash": previous.hash, "reason": reason}, now=now)
