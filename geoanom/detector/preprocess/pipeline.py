"""The ``[preprocess]`` table of a detector config: one chain of steps, fitted on the training
period, stored in ``model.json`` and re-applied identically by ``geoanom score``.

:class:`PreprocessConfig` says which steps run (:data:`PREPROCESS_STEPS` fixes their order);
:func:`fit_preprocess` fits the steps that learn from data (the regression and the scaler) on
the samples before ``train_end`` into a :class:`FittedPreprocess`; :func:`apply_preprocess`
runs the whole chain on a record.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import xarray as xr

from geoanom.detector.preprocess._record_ops import select_components, to_ns
from geoanom.detector.preprocess.regression import (
    RemoteReference,
    apply_activity_regression,
    fit_activity_regression,
)
from geoanom.detector.preprocess.scaler import RobustScaler, apply_scaler, fit_scaler
from geoanom.detector.preprocess.steps import (
    INTERP_SUFFIX,
    ULF_BANDS,
    bandpass,
    despike,
    mask_gaps,
    resample,
    select_local_night,
)
from geoanom.errors import ConfigError, LeakageError, ValidationError
from geoanom.record import component_names, record_source, validate_record

#: Order in which :func:`apply_preprocess` runs the steps (a step absent from the config is
#: skipped). Stateless steps first; the two steps fitted on the training period last.
PREPROCESS_STEPS = ("despike", "gaps", "filter", "resample", "night", "regression", "scale")

_STEP_KEYS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "despike": {"window_s": (int, float), "threshold": (int, float), "causal": bool,
                "min_scale": (int, float), "jumps": bool},
    "gaps": {"max_interp_samples": int},
    "filter": {"low_hz": (int, float), "high_hz": (int, float), "band": str,
               "order": int, "causal": bool},
    "resample": {"period_s": (int, float), "how": str, "min_valid": (int, float),
                 "label": str},
    "night": {"start_hour": (int, float), "end_hour": (int, float)},
    "regression": {"on": str, "index": str, "fit": str},
    "scale": {"enabled": bool},
}


@dataclass(frozen=True)
class PreprocessConfig:
    """The ``[preprocess]`` table of a detector TOML: which steps run, with which settings.

    Each step is a sub-table; a step that is absent does not run. Steps run in the order of
    :data:`PREPROCESS_STEPS` whatever their order in the file::

        [preprocess]
        components = ["X", "Y", "Z"]          # default: every component of the record
        despike = { window_s = 600.0 }         # despike(); causal Hampel filter
        gaps = { max_interp_samples = 3 }      # mask_gaps(); 0 keeps the chain causal
        filter = { low_hz = 0.002, high_hz = 0.008 }   # bandpass(); only low_hz: high-pass
        resample = { period_s = 3600.0, how = "mean", label = "right" }  # resample()
        night = { start_hour = 0.0, end_hour = 4.0 }   # select_local_night()
        regression = { on = "activity" }       # or on = "reference" (a remote station)
        scale = true                           # RobustScaler fitted on the training period

    ``regression`` subtracts the part of each component explained by an activity index
    (``on = "activity"``: ``y - (a + b * index)``, Huber fit; ``index`` names the index
    column, default the first one) or by the same component of a remote reference station
    (``on = "reference"``; ``fit = "differences"`` or ``"levels"``, see
    :class:`RemoteReference`). Both fits, and ``scale``, use the training period only.

    Parameters
    ----------
    components
        Components treated by every step (``None``: all the record has).
    steps
        Step name -> settings dict (keyword arguments of the step function).
    """

    components: tuple[str, ...] | None = None
    steps: tuple[tuple[str, tuple[tuple[str, object], ...]], ...] = ()

    @property
    def empty(self) -> bool:
        """True when nothing runs (no step, no component selection)."""
        return not self.steps and self.components is None

    def step(self, name: str) -> dict | None:
        """Settings of step ``name`` (a dict), or None when the step does not run."""
        for n, kv in self.steps:
            if n == name:
                return dict(kv)
        return None

    @classmethod
    def from_dict(cls, d: dict | None, *, path=None) -> PreprocessConfig:
        """Build from the ``[preprocess]`` table; unknown steps or keys raise ConfigError.

        Parameters
        ----------
        d
            The table (``None`` or ``{}``: no preprocessing).
        path
            The config file, named in errors.
        """
        d = dict(d or {})
        comps = d.pop("components", None)
        if comps is not None:
            if isinstance(comps, str):
                comps = [comps]
            if not isinstance(comps, (list, tuple)) or not all(isinstance(c, str) for c in comps):
                raise ConfigError("[preprocess] components must be a list of names", path=path,
                                  expected='e.g. ["X", "Y", "Z"]', found=repr(comps))
            comps = tuple(comps)
        unknown = sorted(set(d) - set(PREPROCESS_STEPS))
        if unknown:
            raise ConfigError("unknown step(s) in [preprocess]: " + ", ".join(unknown),
                              path=path, expected="components, " + ", ".join(PREPROCESS_STEPS),
                              found=", ".join(unknown))
        steps = []
        for name in PREPROCESS_STEPS:
            if name not in d:
                continue
            v = d[name]
            if isinstance(v, bool):
                if not v:
                    continue
                v = {}
            if not isinstance(v, dict):
                raise ConfigError(f"[preprocess] {name} must be a table or true", path=path,
                                  expected=f"{name} = {{ ... }} or [preprocess.{name}]",
                                  found=repr(v))
            allowed = _STEP_KEYS[name]
            for k, val in v.items():
                if k not in allowed:
                    raise ConfigError(f"[preprocess.{name}] has no setting '{k}'", path=path,
                                      expected="one of " + ", ".join(allowed), found=k)
                typ = allowed[k]
                if isinstance(val, bool) and typ is not bool:
                    ok = False
                else:
                    ok = isinstance(val, typ)
                if not ok:
                    raise ConfigError(f"[preprocess.{name}] {k} has the wrong type", path=path,
                                      expected=getattr(typ, "__name__", "a number"),
                                      found=repr(val))
            if name == "scale" and v.get("enabled", True) is False:
                continue
            v = {k: val for k, val in v.items() if not (name == "scale" and k == "enabled")}
            _check_step(name, v, path)
            steps.append((name, tuple(sorted(v.items()))))
        return cls(components=comps, steps=tuple(steps))

    def to_dict(self) -> dict:
        """The ``[preprocess]`` table (JSON/TOML-ready)."""
        out: dict = {}
        if self.components is not None:
            out["components"] = list(self.components)
        for name, kv in self.steps:
            out[name] = dict(kv)
        return out


def _check_step(name: str, v: dict, path) -> None:
    """Settings checks that do not need the record."""

    def bad(msg: str, expected: str, found: object) -> None:
        raise ConfigError(f"[preprocess.{name}] {msg}", path=path, expected=expected,
                          found=repr(found))

    if name == "despike" and "window_s" not in v:
        bad("needs window_s", "window_s = seconds, e.g. 600.0", v)
    if name == "despike" and v.get("window_s", 1) <= 0:
        bad("window_s must be positive", "> 0", v["window_s"])
    if name == "gaps" and v.get("max_interp_samples", 0) < 0:
        bad("max_interp_samples must be >= 0", ">= 0", v["max_interp_samples"])
    if name == "filter":
        if not ({"low_hz", "high_hz", "band"} & set(v)):
            bad("needs low_hz, high_hz or band", "e.g. low_hz = 0.002, high_hz = 0.008", v)
        if "band" in v and v["band"] not in ULF_BANDS:
            bad("unknown band", ", ".join(ULF_BANDS), v["band"])
    if name == "resample":
        if "period_s" not in v or v["period_s"] <= 0:
            bad("needs a positive period_s", "period_s = seconds, e.g. 3600.0",
                v.get("period_s"))
        if v.get("how", "mean") not in ("mean", "median", "min", "max"):
            bad("unknown how", "mean, median, min or max", v["how"])
        if v.get("label", "right") not in ("left", "right"):
            bad("unknown label", "left or right", v["label"])
    if name == "night":
        for k in ("start_hour", "end_hour"):
            if not 0 <= v.get(k, 0) <= 24:
                bad(f"{k} must lie in 0..24", "0 <= hour <= 24", v[k])
    if name == "regression":
        if v.get("on") not in ("activity", "reference"):
            bad("needs on = \"activity\" or \"reference\"", "activity or reference",
                v.get("on"))
        if v.get("fit", "differences") not in ("differences", "levels"):
            bad("unknown fit", "differences or levels", v["fit"])


@dataclass
class FittedPreprocess:
    """A :class:`PreprocessConfig` with everything fitted on the training period.

    Stored under ``"preprocess"`` in ``model.json`` (:meth:`to_dict`) so that
    ``geoanom score`` re-applies exactly the same chain (:func:`apply_preprocess`).

    Attributes
    ----------
    config
        The steps.
    train_end
        End (UTC, exclusive) of the period the fitted steps used.
    activity
        Activity regression: ``{"index": name, "intercept": {c: a}, "slope": {c: b},
        "n_train": {c: n}}`` (``None`` when the step does not run).
    reference
        :meth:`RemoteReference.to_dict` output (``None`` when the step does not run).
    scaler
        :meth:`RobustScaler.to_dict` output (``None`` when ``scale`` does not run).
    source
        What the raw record was: ``iaga_code``, ``sampling_period_s``, ``components``
        (compared with the record given to ``score``).
    """

    config: PreprocessConfig
    train_end: str = ""
    activity: dict | None = None
    reference: dict | None = None
    scaler: dict | None = None
    source: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-ready dict (see :meth:`from_dict`)."""
        return {"type": "FittedPreprocess", "config": self.config.to_dict(),
                "order": list(PREPROCESS_STEPS), "train_end": self.train_end,
                "activity": self.activity, "reference": self.reference,
                "scaler": self.scaler, "source": dict(self.source)}

    @classmethod
    def from_dict(cls, d: dict) -> FittedPreprocess:
        """Rebuild from :meth:`to_dict` output."""
        if not isinstance(d, dict) or d.get("type") != "FittedPreprocess":
            raise ValidationError("not a FittedPreprocess dict", expected="type FittedPreprocess",
                                  found=str(d.get("type") if isinstance(d, dict) else type(d)))
        return cls(config=PreprocessConfig.from_dict(d.get("config")),
                   train_end=str(d.get("train_end", "")), activity=d.get("activity"),
                   reference=d.get("reference"), scaler=d.get("scaler"),
                   source=dict(d.get("source") or {}))


def _by_end(cfg: PreprocessConfig) -> bool:
    s = cfg.step("resample")
    return s is not None and s.get("label", "right") == "right"


def _stateless(record: xr.Dataset, cfg: PreprocessConfig) -> xr.Dataset:
    comps = list(cfg.components) if cfg.components is not None else None
    r = record
    if comps is not None:
        select_components(r, comps)
        drop = [v for c in component_names(r) if c not in comps
                for v in (c, f"{c}_flag", f"{c}{INTERP_SUFFIX}") if v in r]
        r = r.drop_vars(drop)
    s = cfg.step("despike")
    if s is not None:
        r = despike(r, **s)
    s = cfg.step("gaps")
    if s is not None:
        r = mask_gaps(r, **s)
    s = cfg.step("filter")
    if s is not None:
        r = bandpass(r, **s)
    s = cfg.step("resample")
    if s is not None:
        s = {"how": "mean", "label": "right", **s}
        r = resample(r, s.pop("period_s"), **s)
    s = cfg.step("night")
    if s is not None:
        r = select_local_night(r, **s)
    return r


def _need(what: str, given) -> None:
    if given is None:
        raise ValidationError(f"the [preprocess] regression needs {what}",
                              expected=f"{what} (--{'activity' if 'activity' in what else 'reference'}"
                                       " FILE on the command line)", found="none given")


def fit_preprocess(record: xr.Dataset, config: PreprocessConfig, train_end, activity=None,
                   *, reference: xr.Dataset | None = None) -> FittedPreprocess:
    """Fit the steps of ``config`` that learn from data, on samples before ``train_end`` only.

    Parameters
    ----------
    record
        The raw station record (the same one training reads).
    config
        The ``[preprocess]`` steps.
    train_end
        End (UTC, exclusive) of the training period; the regression and the scaler see no
        sample at or after it. ``None`` raises :class:`~geoanom.errors.LeakageError` when a
        fitted step runs.
    activity
        Activity index (see :func:`~geoanom.detector.preprocess.regression.as_activity_index`);
        needed by ``regression.on = "activity"``.
    reference
        Raw record of a remote reference station; needed by ``regression.on = "reference"``.

    Returns
    -------
    FittedPreprocess
    """
    validate_record(record)
    fitted = FittedPreprocess(config=config, source=record_source(record))
    reg = config.step("regression")
    if reg is None and config.step("scale") is None:
        return fitted
    if train_end is None:
        raise LeakageError("fit_preprocess needs train_end: its regression and scaling are "
                           "fitted on training data only", expected="a UTC time", found="None")
    fitted.train_end = str(pd.Timestamp(to_ns(train_end)))
    r = _stateless(record, config)
    if reg is not None:
        if reg["on"] == "activity":
            _need("an activity index", activity)
            fitted.activity = fit_activity_regression(r, activity, train_end,
                                                      index=reg.get("index"),
                                                      by_end=_by_end(config))
        else:
            _need("a reference record", reference)
            ref = _stateless(reference, config)
            rr = RemoteReference.fit(r, ref, train_end=train_end,
                                     on=reg.get("fit", "differences"))
            fitted.reference = rr.to_dict()
        r = _regress(r, fitted, activity, reference)
    if config.step("scale") is not None:
        fitted.scaler = fit_scaler(r, train_end).to_dict()
    return fitted


def _regress(r: xr.Dataset, fitted: FittedPreprocess, activity, reference) -> xr.Dataset:
    reg = fitted.config.step("regression")
    if reg is None:
        return r
    if reg["on"] == "activity":
        _need("an activity index", activity)
        return apply_activity_regression(r, fitted.activity or {}, activity,
                                         by_end=_by_end(fitted.config),
                                         train_end=fitted.train_end)
    _need("a reference record", reference)
    rr = RemoteReference.from_dict(fitted.reference)
    return rr.apply(r, _stateless(reference, fitted.config))


def apply_stateless(record: xr.Dataset, config: PreprocessConfig) -> xr.Dataset:
    """The steps of ``config`` that fit nothing (component selection, despiking, gaps,
    filtering, resampling, local night) on ``record``: what decides validity and cadence
    before anything is fitted. The fitted steps (regression, scaling) are left out."""
    validate_record(record)
    return _stateless(record, config)


def apply_preprocess(record: xr.Dataset, fitted: FittedPreprocess, *, activity=None,
                     reference: xr.Dataset | None = None) -> xr.Dataset:
    """Run the chain of ``fitted`` on ``record`` (a new record; the input is not modified).

    The same function serves ``geoanom train`` (after :func:`fit_preprocess`) and
    ``geoanom score`` (with the ``FittedPreprocess`` read back from ``model.json``), so both
    see identical samples.

    Parameters
    ----------
    record
        Raw station record.
    fitted
        From :func:`fit_preprocess` or :meth:`FittedPreprocess.from_dict`.
    activity, reference
        The activity index or remote record when the regression step uses one.
    """
    validate_record(record)
    r = _stateless(record, fitted.config)
    r = _regress(r, fitted, activity, reference)
    if fitted.scaler is not None:
        r = apply_scaler(r, RobustScaler.from_dict(fitted.scaler))
    return r
