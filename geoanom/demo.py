"""``geoanom demo``: the whole mission on the built-in synthetic world, as a report folder.

One call of :func:`run_demo` does, in order (DESIGN.md "The flow"):

1. **synthesise** a world with known truth (:func:`geoanom.synthetic.make_world`): a near
   station (SYA) and a remote reference (SYC, 475 km away), 1-minute data, an ETAS catalog, the
   shared activity index, and precursor signatures of moderate strength in the ULF band of Z
   before the ``M >= 5`` events each station sees (lead ``lead_days``);
2. **preprocess**: causal despiking and a causal Butterworth band-pass to the precursor's
   band (2-8 mHz) on X, Y, Z (:func:`preprocess`); a detector sees what the filter passes;
3. **window** SYA (:func:`geoanom.windows.build_window_set`): 1-hour windows every 2 hours,
   labels of METHODS.md section 1 with the same lead, chronological 60/10/30 % splits with
   embargo gaps, scaling fitted on the training windows;
4. **train** the negative-learning BiLSTM (hinge, ``lambda = 1``) and the plain autoencoder
   (``lambda = 0``) with the same :func:`geoanom.nn.train.train` and budget;
5. **score** the whole record of SYA with both models, and SYC with the negative-learning
   model (the remote reference), :func:`geoanom.score.score_record`; the scores netCDF carry
   the window set's labels and splits so the test uses the detector's own test period;
6. **test** both detectors (:func:`geoanom.stats.protocol.run_test`): the seed paper's
   window-level Mann-Whitney test (legacy) and the event-level protocol of PROTOCOL.md
   (primary), with the activity and remote-station baselines and all figures;
7. **DLEP** (:mod:`geoanom.dlep`): magnitude classes of the world's catalog, chronological
   protocol, with and without the geomagnetic stream built from the scores (fusion);
8. **report**: ``summary.md``, ``results.json`` (with provenance), ``scores/*.nc``,
   ``figures/*.png``, ``significance/*.json``, ``models/*``.

Everything is deterministic given the seed (CPU). Progress goes to stderr. Outputs are
written atomically (the report files last, so a folder with ``results.json`` is complete).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from geoanom._atomic import atomic_write_text
from geoanom._jsonfile import json_safe
from geoanom.errors import ConfigError, ValidationError

log = logging.getLogger(__name__)

DEMO_RESULT_TYPE = "geoanom.DemoResult"
SCHEMA_VERSION = 1

#: Top-level keys of ``results.json``.
RESULT_KEYS = ("type", "schema", "config", "world", "windows", "detector", "significance",
               "dlep", "files", "timings_s", "provenance")

#: Names of the two detectors in the report (and their ``lambda``).
DETECTORS = {"negative_learning": 1.0, "plain_autoencoder": 0.0}
_SHORT = {"negative_learning": "nl", "plain_autoencoder": "ae"}


@dataclass(frozen=True)
class DemoConfig:
    """Everything that decides a demo run (hashed into the provenance of every output).

    Attributes
    ----------
    seed
        Master seed of the world, the training and the surrogates.
    days, cadence_s, start
        Span of the world (days), sampling period (s), first day (UTC).
    precursor_strength
        Strength of the synthetic precursors (:class:`geoanom.synthetic.PrecursorConfig`;
        0 is the null world). 3 is "moderate": a detector finds it, but not trivially.
    lead_days
        ``(min, max)`` lead window in days, shared by the synthetic precursors, the window
        labels and the significance protocol.
    background_rate_per_day
        ETAS background rate of ``M >= 3`` events in the seismic box (per day).
    band_hz
        Band-pass (Hz) applied before windowing: the precursor's ULF band at 1 minute.
    window_length_s, stride_s
        Detector windows (s).
    split_fractions
        Chronological train / validation / test shares of the span (embargo gaps of
        window + lead max + 2 days are cut between them).
    hidden_size, latent_size, batch_size, max_epochs, patience, ramp_epochs, lr,
    batches_per_epoch
        Training budget (:class:`geoanom.nn.train.TrainConfig`), the same for both detectors.
    surrogates, surrogates_secondary, bootstrap, legacy_catalogs, fake_catalogs
        Surrogate counts of the significance protocol (PROTOCOL.md defaults are larger; the
        demo trades resolution of small p-values for time, and says so in the summary).
    dlep_n_events, dlep_w, dlep_epochs, dlep_seeds, dlep_indim, dlep_hidden
        DLEP segmentation (blocks of ``N`` events, patterns of ``w`` events), epochs,
        number of seeds (the chronological protocol), and the widths of the stream
        projections and of the classifier. The paper's 65 epochs and ``Indim = 600`` cost
        about ten times more and gain nothing on a catalog of about two hundred samples.
    threads
        torch CPU threads (``None``: torch's default).
    quick
        A reduced run (for the tests): shorter world, tiny training, few surrogates.
    """

    seed: int = 0
    days: float = 730.0
    cadence_s: float = 60.0
    start: str = "2020-01-01"
    precursor_strength: float = 3.0
    lead_days: tuple[float, float] = (1.0, 10.0)
    background_rate_per_day: float = 2.0
    band_hz: tuple[float, float] = (2e-3, 8e-3)
    window_length_s: float = 3600.0
    stride_s: float = 7200.0
    split_fractions: tuple[float, float, float] = (0.6, 0.1, 0.3)
    hidden_size: int = 16
    latent_size: int = 8
    batch_size: int = 64
    max_epochs: int = 15
    patience: int = 4
    ramp_epochs: int = 3
    lr: float = 3e-3
    batches_per_epoch: int = 40
    surrogates: int = 1999
    surrogates_secondary: int = 199
    bootstrap: int = 499
    legacy_catalogs: int = 199
    fake_catalogs: int = 10
    dlep_n_events: int = 20
    dlep_w: int = 10
    dlep_epochs: int = 30
    dlep_seeds: int = 2
    dlep_indim: int = 64
    dlep_hidden: int = 64
    threads: int | None = 1
    quick: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "lead_days", tuple(float(v) for v in self.lead_days))
        object.__setattr__(self, "band_hz", tuple(float(v) for v in self.band_hz))
        object.__setattr__(self, "split_fractions",
                           tuple(float(v) for v in self.split_fractions))
        if self.days < 60:
            raise ConfigError("the demo world needs at least 60 days", found=str(self.days))
        if self.precursor_strength < 0:
            raise ConfigError("precursor strength must be >= 0",
                              found=str(self.precursor_strength))
        if not 0 < self.lead_days[0] < self.lead_days[1]:
            raise ConfigError("lead_days must be 0 < min < max", found=str(self.lead_days))

    @classmethod
    def quick_config(cls, seed: int = 0, **kw: Any) -> DemoConfig:
        """The reduced run the tests use (about half a minute on two cores)."""
        d = dict(days=150.0, max_epochs=2, patience=1, ramp_epochs=1, batches_per_epoch=6,
                 surrogates=99, surrogates_secondary=19, bootstrap=99, legacy_catalogs=19,
                 fake_catalogs=2, dlep_epochs=2, dlep_seeds=1, background_rate_per_day=4.0,
                 dlep_n_events=20, dlep_w=8, split_fractions=(0.5, 0.2, 0.3), quick=True)
        d.update(kw)
        return cls(seed=seed, **d)

    def to_dict(self) -> dict:
        """JSON-safe dict of the fields."""
        return json.loads(json.dumps(dataclasses.asdict(self)))


# ----------------------------------------------------------------------------- progress


@dataclass
class _Steps:
    """Progress lines on stderr (``[3/7] train ...``) and the time of each step."""

    n: int
    enabled: bool = True
    k: int = 0
    t0: float = field(default_factory=time.perf_counter)
    timings: dict = field(default_factory=dict)
    cpu: dict = field(default_factory=dict)
    _name: str = ""
    _ts: float = 0.0
    _cs: float = 0.0

    def start(self, name: str, what: str) -> None:
        self.k += 1
        self._name, self._ts, self._cs = name, time.perf_counter(), time.process_time()
        if self.enabled:
            print(f"geoanom demo [{self.k}/{self.n}] {what} ...", file=sys.stderr, flush=True)

    def done(self, note: str = "") -> None:
        dt = time.perf_counter() - self._ts
        self.timings[self._name] = round(dt, 2)
        self.cpu[self._name] = round(time.process_time() - self._cs, 2)
        if self.enabled:
            print(f"geoanom demo [{self.k}/{self.n}]   done in {dt:.1f} s"
                  + (f": {note}" if note else ""), file=sys.stderr, flush=True)

    def note(self, text: str) -> None:
        if self.enabled:
            print(f"geoanom demo [{self.k}/{self.n}]   {text}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- pieces


def _world(cfg: DemoConfig):
    from geoanom.synthetic import DEFAULT_STATIONS, PrecursorConfig, make_world

    near = next(s for s in DEFAULT_STATIONS if s.code == "SYA")
    remote = next(s for s in DEFAULT_STATIONS if s.role == "remote")
    pc = PrecursorConfig(lead_min_days=cfg.lead_days[0], lead_max_days=cfg.lead_days[1],
                         m_min=5.0)
    return make_world(cfg.seed, cfg.days, cadence_s=cfg.cadence_s, n_stations=2,
                      precursor_strength=cfg.precursor_strength, start=cfg.start,
                      stations=[near, remote], precursor=pc,
                      etas={"background_rate_per_day": cfg.background_rate_per_day})


def _window_config(cfg: DemoConfig):
    from geoanom.windows import WindowConfig

    return WindowConfig(window_length_s=cfg.window_length_s, stride_s=cfg.stride_s,
                        max_missing_fraction=0.1, components=("X", "Y", "Z"), m_min=5.0,
                        lead_days=cfg.lead_days, buffer_days=2.0,
                        post_event_exclusion_days=5.0, normal_margin_magnitude=0.0,
                        split_fractions=cfg.split_fractions)


def _train_config(cfg: DemoConfig, lam: float):
    from geoanom.nn.train import TrainConfig

    return TrainConfig(hidden_size=cfg.hidden_size, latent_size=cfg.latent_size,
                       batch_size=cfg.batch_size, max_epochs=cfg.max_epochs,
                       patience=cfg.patience, ramp_epochs=cfg.ramp_epochs, lr=cfg.lr,
                       batches_per_epoch=cfg.batches_per_epoch, lam=lam, seed=cfg.seed)


def preprocess(record: xr.Dataset, cfg: DemoConfig) -> xr.Dataset:
    """The demo's preprocessing of a record: causal despiking of X, Y, Z (Hampel filter
    over 10 samples, :func:`geoanom.preprocess.despike`; one spike would otherwise dominate
    a day's maximum error), then the causal band-pass ``cfg.band_hz``."""
    from geoanom import preprocess as pp

    comps = ["X", "Y", "Z"]
    r = pp.despike(record, window_s=10 * cfg.cadence_s, components=comps)
    return pp.bandpass(r, low_hz=cfg.band_hz[0], high_hz=cfg.band_hz[1], components=comps)


def protocol_for(cfg: DemoConfig):
    """The significance protocol of the demo: PROTOCOL.md defaults with the demo's lead
    window (also used as the post-event exclusion, which PROTOCOL.md sets to its 30-day lead
    maximum) and surrogate counts."""
    from geoanom.stats.protocol import Protocol

    return Protocol().replace(
        lead_min_days=cfg.lead_days[0], lead_max_days=cfg.lead_days[1],
        lead_post_event_exclusion_days=cfg.lead_days[1],
        grid_lead_windows=(tuple(cfg.lead_days),), surrogates_n=cfg.surrogates,
        surrogates_n_secondary=cfg.surrogates_secondary, surrogates_n_bootstrap=cfg.bootstrap,
        surrogates_n_legacy=cfg.legacy_catalogs, surrogates_n_fake_catalogs=cfg.fake_catalogs)


def attach_labels(scores: xr.Dataset, ws: xr.Dataset) -> xr.Dataset:
    """Copy ``label``, ``split`` and ``event_id`` of a window set onto a scores dataset of
    the same record and window grid (matched by window start). Windows the window set dropped (too many
    missing samples) get label -1 and split ``"gap"`` (``"test"`` when they fall in the
    test period, so the test period stays one contiguous span)."""
    s_start = scores["start"].values.astype("datetime64[ns]")
    w_start = ws["start"].values.astype("datetime64[ns]")
    pos = np.searchsorted(s_start, w_start)
    if np.any(pos >= s_start.size) or np.any(s_start[np.minimum(pos, s_start.size - 1)]
                                             != w_start):
        raise ValidationError("window set and scores are not on the same window grid",
                              expected="equal window starts", found="unmatched starts")
    label = np.full(s_start.size, -1, np.int8)
    split = np.full(s_start.size, "gap", dtype=object)
    event = np.full(s_start.size, "", dtype=object)
    label[pos] = ws["label"].values
    split[pos] = ws["split"].values.astype(str)
    event[pos] = ws["event_id"].values.astype(str)
    test = ws["split"].values.astype(str) == "test"
    if test.any():
        split[(s_start >= w_start[test].min()) & (split == "gap")] = "test"
    out = scores.copy()
    out["label"] = ("window", label, {"long_name": "window label (1 seismic, 0 normal, "
                                                   "-1 excluded)", "units": "1"})
    out["split"] = ("window", split.astype(str), {"long_name": "chronological split"})
    out["event_id"] = ("window", event.astype(str),
                       {"long_name": "target event of a seismic window ('' if none)"})
    return out


def heldout_auc(scores: xr.Dataset, variable: str = "rmse") -> dict:
    """AUC of seismic against normal windows of the *test* split of a labelled scores
    dataset (window level; windows overlap in time, so this is a description of
    separation, not a test)."""
    from geoanom.nn.train import rank_auc

    lab = scores["label"].values
    test = scores["split"].values.astype(str) == "test"
    r = scores[variable].values
    pos, neg = r[test & (lab == 1)], r[test & (lab == 0)]
    pos, neg = pos[np.isfinite(pos)], neg[np.isfinite(neg)]
    ev = scores["event_id"].values[test & (lab == 1)] if "event_id" in scores else []
    return {"auc": rank_auc(pos, neg) if pos.size and neg.size else float("nan"),
            "n_seismic": int(pos.size), "n_normal": int(neg.size),
            "n_events": len(set(map(str, ev)) - {""})}


def _f(x: Any, fmt: str = ".3f") -> str:
    if x is None:
        return "n/a"
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    return "n/a" if not math.isfinite(v) else format(v, fmt)


# ----------------------------------------------------------------------------- DLEP step


def dlep_step(catalog: pd.DataFrame, score_paths: list[Path], cfg: DemoConfig, *,
              region_box: tuple[float, float, float, float], trained_until: object,
              progress: bool = False) -> dict:
    """DLEP on the world's catalog, chronological protocol, with and without the
    geomagnetic stream built from ``score_paths`` (:func:`geoanom.dlep.fusion.stream_from_scores`).

    Parameters
    ----------
    catalog
        The world's catalog.
    score_paths
        Scores netCDF files of the detector.
    cfg
        Demo configuration (``dlep_*`` fields).
    region_box
        ``(lat_min, lat_max, lon_min, lon_max)`` of the seismic box (degrees); class edges
        are training-set quintiles of the main-shock magnitudes.
    trained_until
        End (UTC) of the data the detector saw (training and validation windows). Only
        samples whose geomagnetic window (``L`` = the lead maximum, in days, before the last
        pattern event) starts after it are tested, so no test sample's geomagnetic features
        come from data the detector was fitted on; the stream checks this per fold.
    progress
        Progress bars of :func:`geoanom.dlep.evaluate.evaluate`.

    Returns
    -------
    dict
        JSON-safe: ``status`` ("ok", or "unavailable" with ``reason`` when
        :mod:`geoanom.dlep` is missing), ``region``, ``n_samples``, ``class_counts``,
        ``n_test``, ``geomag_coverage``, and per variant (``dlep``, ``dlep+geomag``,
        ``geomag-only``) ``acc_mean``, ``acc_std``, ``mauc_mean``, ``mauc_std`` over seeds,
        per-seed values and the pooled confusion matrix of the first seed.
    """
    try:
        from geoanom.dlep import evaluate as dev
        from geoanom.dlep import fusion, segment
    except ImportError as exc:
        return {"status": "unavailable", "reason": f"geoanom.dlep is not complete: {exc}"}
    lat0, lat1, lon0, lon1 = region_box
    region = segment.custom_region((lon0, lon1, lat0, lat1), "quantiles", name="synthetic")
    samples = segment.segment_catalog(catalog, region, n_events=cfg.dlep_n_events,
                                      w=cfg.dlep_w)
    n = len(samples)
    n_days = int(math.ceil(cfg.lead_days[1]))
    t_until = np.datetime64(pd.Timestamp(trained_until).to_datetime64(), "ns")
    win_start = samples.pattern_end_time - np.timedelta64(n_days * 86_400, "s")
    k = int(np.sum(win_start >= t_until))
    out: dict = {"status": "ok", "protocol": "chrono", "region": region.to_dict(),
                 "n_samples": int(n), "class_counts": samples.class_counts().tolist(),
                 "n_test": k, "geomag_days": n_days, "trained_until": str(t_until),
                 "variants": {}}
    if k < 2 or n - k < 4:
        return {**out, "status": "skipped",
                "reason": f"{k} samples after the detector's training period and {n - k} "
                          "before it: too few for the chronological protocol"}
    provider = fusion.stream_from_scores([str(p) for p in score_paths], samples, region,
                                         n_days=n_days, trained_until=t_until)
    out["geomag_coverage"] = provider.coverage(samples)
    dcfg = dev.DLEPConfig(epochs=cfg.dlep_epochs, indim=cfg.dlep_indim,
                          hidden=cfg.dlep_hidden, chrono_test_fraction=(k - 0.4) / n,
                          chrono_folds=min(5, k))
    seeds = list(range(cfg.seed, cfg.seed + cfg.dlep_seeds))
    for name in ("dlep", "dlep+geomag", "geomag-only"):
        extra = None if name == "dlep" else {"GF": provider}
        r = dev.evaluate(samples, name, "chrono", seeds=seeds, extra_streams=extra,
                         config=dcfg, progress=progress)
        d = r.to_dict()
        out["variants"][name] = {
            "acc_mean": d["acc_mean"], "acc_std": d["acc_std"], "mauc_mean": d["mauc_mean"],
            "mauc_std": d["mauc_std"], "acc": r.acc, "mauc": r.mauc,
            "confusion": r.confusion[0], "n_folds": len(r.per_seed[0]["folds"])}
    out["config"] = dcfg.to_dict()
    out["note"] = dev.CHRONO_NOTE
    return json_safe(out)


# ----------------------------------------------------------------------------- the run


def run_demo(output: str | os.PathLike, config: DemoConfig | None = None, *,
             progress: bool = True) -> dict:
    """Run the whole demo and write the report folder ``output``.

    Parameters
    ----------
    output
        Report folder (created; existing demo files in it are replaced).
    config
        :class:`DemoConfig` (default: the full demo, about two to three minutes on two
        CPU cores).
    progress
        Progress lines on stderr.

    Returns
    -------
    dict
        The content of ``results.json`` (keys :data:`RESULT_KEYS`).
    """
    import torch

    from geoanom.nn.train import train
    from geoanom.plot import (
        daily_max,
        plot_components,
        plot_roc,
        plot_score_series,
        plot_test_figures,
        save_figure,
    )
    from geoanom.provenance import provenance
    from geoanom.score import score_record, write_scores
    from geoanom.stats.protocol import protocol_hash, run_test
    from geoanom.windows import label_counts

    cfg = config or DemoConfig()
    out = Path(output)
    for sub in ("figures", "scores", "significance", "models"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    steps = _Steps(n=7, enabled=progress)  # synthesise windows train score test dlep report
    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    files: dict[str, str] = {}

    def rel(p: Path) -> str:
        return str(Path(p).relative_to(out))

    # 1. world
    steps.start("synthesise", f"synthesising a {cfg.days:g}-day world (seed {cfg.seed}, "
                f"precursor strength {cfg.precursor_strength:g})")
    world = _world(cfg)
    cat = world.catalog
    prec = world.precursors
    prec_sya = prec[prec["station"] == "SYA"]
    world_info = {
        "seed": cfg.seed, "days": cfg.days, "cadence_s": cfg.cadence_s,
        "start": cfg.start, "stations": list(world.records),
        "precursor_strength": cfg.precursor_strength,
        "signal_added": bool(world.truth["signal_added"]),
        "ulf_band_hz": world.truth["ulf_band_hz"],
        "lead_days": list(cfg.lead_days),
        "n_events": int(len(cat)),
        "n_events_m5": int((cat["magnitude"] >= 5.0).sum()),
        "max_magnitude": float(cat["magnitude"].max()),
        "n_precursor_windows_SYA": int(len(prec_sya)),
        "precursor_amplitude_nT_SYA": {
            "median": float(prec_sya["amplitude_nT"].median()) if len(prec_sya) else None,
            "max": float(prec_sya["amplitude_nT"].max()) if len(prec_sya) else None},
        "n_storms": int(len(world.truth["storms"])),
    }
    steps.done(f"{len(cat)} events, {len(prec_sya)} precursor windows at SYA")

    # 2. preprocess + 3. windows
    steps.start("windows", "despiking, band-passing and windowing SYA")
    recs = {c: preprocess(r, cfg) for c, r in world.records.items()}
    ws = _build_ws(recs["SYA"], cat, cfg)
    sp = ws["split"].values.astype(str)
    lab = ws["label"].values
    windows_info = {"counts": label_counts(ws),
                    "by_split": {s: {"seismic": int(np.sum((sp == s) & (lab == 1))),
                                     "normal": int(np.sum((sp == s) & (lab == 0)))}
                                 for s in ("train", "val", "test")},
                    "window_length_s": cfg.window_length_s, "stride_s": cfg.stride_s,
                    "test_start": str(pd.Timestamp(ws["start"].values[sp == "test"].min()))
                    if (sp == "test").any() else None}
    steps.done(json.dumps(windows_info["counts"]))

    # 4. train
    steps.start("train", "training the negative-learning detector and the plain autoencoder")
    det: dict = {}
    models = {}
    for name, lam in DETECTORS.items():
        res = train(ws, _train_config(cfg, lam), out_dir=out / "models" / _SHORT[name],
                    device="cpu", resume=False, progress=progress and sys.stderr.isatty())
        models[name] = res.model
        det[name] = {"lambda": lam, "epochs_run": res.epochs_run, "best_epoch": res.best_epoch,
                     "val_metric": res.metric_name, "val_best": res.best_metric,
                     "model": rel(out / "models" / _SHORT[name])}
        steps.note(f"{name}: {res.epochs_run} epochs, best {res.metric_name} "
                   f"{_f(res.best_metric)}")
    steps.done()

    # 5. score
    steps.start("score", "scoring the record with both detectors")
    scores = {}
    for name in DETECTORS:
        mdir = out / "models" / _SHORT[name]
        ds = score_record(mdir, recs["SYA"], residuals=(name == "negative_learning"),
                          device="cpu")
        ds = attach_labels(ds, ws)
        path = write_scores(ds, out / "scores" / f"SYA_{_SHORT[name]}.nc")
        scores[name] = ds
        files[f"scores_SYA_{_SHORT[name]}"] = rel(path)
        det[name]["heldout"] = heldout_auc(ds)
    remote = score_record(out / "models" / "nl", recs["SYC"], device="cpu")
    rpath = write_scores(remote, out / "scores" / "SYC_nl.nc")
    files["scores_SYC_nl"] = rel(rpath)
    steps.done("held-out AUC NL " + _f(det["negative_learning"]["heldout"]["auc"])
               + ", AE " + _f(det["plain_autoencoder"]["heldout"]["auc"]))

    # 6. significance
    steps.start("test", "significance tests (legacy and protocol)")
    proto = protocol_for(cfg)
    act = pd.DataFrame({"time": world.activity["time"].values,
                        "kp": world.activity["kp"].values})
    sig: dict = {"protocol_hash": protocol_hash(proto), "surrogates": cfg.surrogates}
    results = {}
    for name in DETECTORS:
        r = run_test(scores[name], cat, proto, activity=act, remote_scores=remote,
                     seed=cfg.seed)
        rp = r.write(out / "significance" / f"SYA_{_SHORT[name]}.json")
        files[f"significance_{_SHORT[name]}"] = rel(rp)
        figs = plot_test_figures(r, out / "figures" / f"significance_{_SHORT[name]}")
        for f in figs:
            files[f"figure_{_SHORT[name]}_{f.stem}"] = rel(f)
        results[name] = r
        pr, lg = r.primary, r.legacy
        sig[name] = {
            "primary": {"auc": pr["auc"], "p_value": pr["p_value"],
                        "n_independent_events": pr["n_independent_events"],
                        "n_bins": pr["n_bins"], "verdict": pr["verdict"],
                        "significant": pr.get("significant"),
                        "auc_ci95": r.effect_sizes.get("auc_ci95"),
                        "test_period": pr["test_period"]},
            "legacy": {"auc": lg.get("auc"), "p_value": lg.get("p_value"),
                       "calibrated_p_value": lg.get("calibrated_p_value"),
                       "n_seismic": lg.get("n_seismic"), "n_normal": lg.get("n_normal"),
                       "test_windows_only": lg.get("test_windows_only")},
            "baselines": {k: (None if v is None else {"ass": v.get("ass"),
                                                        "p_value": v.get("p_value")})
                          for k, v in r.baselines.items()},
            "warnings": list(r.guardrails["warnings"]),
            "result": rel(rp),
        }
    steps.done("primary p NL " + _f(sig["negative_learning"]["primary"]["p_value"], ".4f")
               + ", legacy naive p NL "
               + _f(sig["negative_learning"]["legacy"]["p_value"], ".2g"))

    # 7. DLEP
    steps.start("dlep", "DLEP magnitude classes with and without the geomagnetic stream")
    try:
        sp_s = scores["negative_learning"]["split"].values.astype(str)
        fitted = np.isin(sp_s, ("train", "val"))
        until = scores["negative_learning"]["end"].values[fitted].max()
        dl = dlep_step(cat, [out / "scores" / "SYA_nl.nc"], cfg,
                       region_box=tuple(world.config["region"]), trained_until=until,
                       progress=progress)
    except Exception as exc:  # noqa: BLE001 - the rest of the report stands without DLEP
        log.exception("DLEP step failed")
        dl = {"status": "failed", "reason": f"{type(exc).__name__}: {exc}"}
    steps.done(dl["status"] + (f" ({dl.get('reason')})" if dl["status"] != "ok" else ""))

    # 8. figures + report
    steps.start("report", "figures and report")
    mains = _mainshock_flags(cat)
    seen = _seen_by(cat, world.records["SYA"])
    ev_t, ev_m, ev_ms = (cat["time"].to_numpy()[seen], cat["magnitude"].to_numpy()[seen],
                         mains[seen])
    # a month around the largest seen event: raw components with events and gaps
    big = np.flatnonzero(seen)[np.argmax(cat["magnitude"].to_numpy()[seen])] if seen.any() \
        else None
    t_c = cat["time"].to_numpy()[big] if big is not None else \
        world.records["SYA"]["time"].values[0] + np.timedelta64(15, "D")
    span = (t_c - np.timedelta64(20, "D"), t_c + np.timedelta64(5, "D"))
    axes = plot_components(world.records["SYA"], time_range=span, events_time=ev_t,
                           events_mag=ev_m, events_mainshock=ev_ms,
                           title="SYA raw record (synthetic), 20 days before to 5 days after "
                                 "its largest seen event")
    files["figure_components"] = rel(save_figure(axes, out / "figures" / "components.png"))
    axes = plot_components(recs["SYA"], ["X", "Y", "Z"], time_range=span, events_time=ev_t,
                           events_mag=ev_m, events_mainshock=ev_ms,
                           title="SYA band-passed 2-8 mHz (what the detector sees); "
                                 "precursors ride in Z")
    files["figure_components_bandpassed"] = rel(save_figure(
        axes, out / "figures" / "components_bandpassed.png"))
    sc = scores["negative_learning"]
    res_vars = [v for v in ("residual_X", "residual_Y", "residual_Z") if v in sc]
    if res_vars:
        axes = plot_components(sc, res_vars, time_range=span, events_time=ev_t,
                               events_mag=ev_m, events_mainshock=ev_ms, mark_gaps=False,
                               title="SYA residuals of the negative-learning detector "
                                     "(measured minus reconstructed)")
        files["figure_residuals"] = rel(save_figure(axes, out / "figures" / "residuals.png"))
    dt_, dv = daily_max(sc["end"].values, sc["rmse"].values)
    tw = [(a, b) for a, b in zip(prec_sya["start"].to_numpy(), prec_sya["end"].to_numpy(),
                                 strict=True)] if cfg.precursor_strength > 0 else []
    ax = plot_score_series(dt_, dv, events_time=ev_t, events_mag=ev_m, events_mainshock=ev_ms,
                           activity_time=act["time"].to_numpy(), activity=act["kp"].to_numpy(),
                           test_start=windows_info["test_start"], truth_windows=tw,
                           title="SYA negative-learning score, seen events of M >= 4.5, "
                                 "Kp and the train/test boundary")
    files["figure_score_series"] = rel(save_figure(ax, out / "figures" / "score_series.png"))
    ax = None
    for name in DETECTORS:
        d = scores[name]
        m = d["split"].values.astype(str) == "test"
        ax = plot_roc(d["rmse"].values[m & (d["label"].values == 1)],
                      d["rmse"].values[m & (d["label"].values == 0)],
                      label=name.replace("_", " "), ax=ax,
                      title="Held-out test windows: seismic vs normal")
    files["figure_roc"] = rel(save_figure(ax, out / "figures" / "heldout_roc.png"))
    files.update(_dlep_figures(dl, out / "figures", rel))

    result = {
        "type": DEMO_RESULT_TYPE, "schema": SCHEMA_VERSION, "config": cfg.to_dict(),
        "world": world_info, "windows": windows_info, "detector": det, "significance": sig,
        "dlep": dl, "files": {}, "timings_s": {}, "provenance": {},
    }
    files["summary"] = "summary.md"
    files["results"] = "results.json"
    result["files"] = dict(sorted(files.items()))
    steps.done()
    result["timings_s"] = {**steps.timings, "cpu": dict(steps.cpu),
                           "total": round(time.perf_counter() - steps.t0, 2),
                           "cpu_total": round(sum(steps.cpu.values()), 2)}
    result["provenance"] = provenance(config=cfg.to_dict(), seeds={"seed": cfg.seed},
                                      extra={"type": DEMO_RESULT_TYPE, "schema": SCHEMA_VERSION,
                                             "protocol_hash": sig["protocol_hash"]})
    result = json_safe(result)
    summary = summary_markdown(result)
    atomic_write_text(out / "summary.md", summary)
    atomic_write_text(out / "results.json", json.dumps(result, indent=1, sort_keys=False) + "\n")
    if progress:
        print(f"geoanom demo: report in {out} ({result['timings_s']['total']:.0f} s)",
              file=sys.stderr, flush=True)
    return result


def _mainshock_flags(catalog: pd.DataFrame) -> np.ndarray:
    from geoanom.labels import mainshock_flags

    return np.asarray(mainshock_flags(catalog, "gardner_knopoff", 4.5), bool)


def _seen_by(catalog: pd.DataFrame, record: xr.Dataset, m_min: float = 4.5) -> np.ndarray:
    """Events of ``M >= m_min`` within the Dobrovolsky radius of the record's station."""
    from geoanom.labels import seen_by_station

    return seen_by_station(catalog, float(record.attrs["latitude_deg"]),
                           float(record.attrs["longitude_deg"]), min_magnitude=m_min)


def _dlep_figures(dl: dict, figdir: Path, rel) -> dict:
    """The DLEP table and the confusion matrices as figures (when DLEP ran)."""
    from geoanom.plot import plot_confusion, plot_table, save_figure

    if dl.get("status") != "ok":
        return {}
    files = {}
    rows = []
    for name, v in dl["variants"].items():
        rows.append({"variant": name, "ACC": (v.get("acc_mean"), v.get("acc_std")),
                     "MAUC": (v.get("mauc_mean"), v.get("mauc_std"))})
    ax = plot_table(rows, columns=["variant", "ACC", "MAUC"], highlight_best=["ACC", "MAUC"],
                    title=f"DLEP on the synthetic catalog ({dl['protocol']} protocol, "
                          f"{dl['n_samples']} samples; mean ± std over seeds)")
    files["figure_dlep_table"] = rel(save_figure(ax, figdir / "dlep_table.png"))
    for name, v in dl["variants"].items():
        cm = v.get("confusion")
        if cm is None:
            continue
        ax = plot_confusion(cm, class_labels=["0\nsmallest", "1", "2", "3", "4\nlargest"],
                            title=f"{name}: held-out confusion (first seed)")
        key = name.replace("+", "_").replace("-", "_")
        files[f"figure_confusion_{key}"] = rel(save_figure(ax, figdir / f"confusion_{key}.png"))
    return files


# ----------------------------------------------------------------------------- summary


def summary_markdown(r: dict) -> str:
    """``summary.md``: the key numbers of a demo result and what they mean."""
    w, win, det, sig, dl = r["world"], r["windows"], r["detector"], r["significance"], r["dlep"]
    nl, ae = det["negative_learning"], det["plain_autoencoder"]
    snl, sae = sig["negative_learning"], sig["plain_autoencoder"]
    lines = [
        "# geoanom demo report",
        "",
        "Everything below comes from a **synthetic world with known truth** (seed "
        f"{w['seed']}), so each number can be checked against what was put in.",
        "",
        "## The world (the truth)",
        "",
        f"- {w['days']:g} days of {w['cadence_s']:g}-s data at stations "
        f"{', '.join(w['stations'])} (SYC is a remote reference, 475 km from SYA).",
        f"- {w['n_events']} catalog events (ETAS, clustered), {w['n_events_m5']} of "
        f"M >= 5; largest M {w['max_magnitude']:.1f}; {w['n_storms']} geomagnetic storms.",
        f"- Precursor strength {w['precursor_strength']:g}: "
        + (f"band-limited noise in {w['ulf_band_hz'][0] * 1e3:.1f}-"
           f"{w['ulf_band_hz'][1] * 1e3:.1f} mHz, mostly in Z, added "
           f"{w['lead_days'][0]:g}-{w['lead_days'][1]:g} days before each of the "
           f"{w['n_precursor_windows_SYA']} M >= 5 events SYA sees (median RMS amplitude "
           f"{_f(w['precursor_amplitude_nT_SYA']['median'], '.2f')} nT in Z)."
           if w["signal_added"] else "no precursor was added (the null world): every "
           "detection below is a false alarm."),
        "",
        "## Detector: negative learning vs plain autoencoder (held-out test windows)",
        "",
        f"Windows: {win['counts']['seismic']} seismic, {win['counts']['normal']} normal, "
        f"{win['counts']['excluded']} excluded; test period from "
        f"{str(win['test_start'])[:10]} (the last 30 %, after an embargo gap).",
        "",
        "| detector | lambda | epochs | held-out AUC | test seismic / normal windows | "
        "test events |",
        "|---|---|---|---|---|---|",
    ]
    for name, d in (("negative learning", nl), ("plain autoencoder", ae)):
        h = d["heldout"]
        lines.append(f"| {name} | {d['lambda']:g} | {d['epochs_run']} | {_f(h['auc'])} | "
                     f"{h['n_seismic']} / {h['n_normal']} | {h['n_events']} |")
    diff = None
    if nl["heldout"]["auc"] is not None and ae["heldout"]["auc"] is not None:
        diff = nl["heldout"]["auc"] - ae["heldout"]["auc"]
    lines += [
        "",
        "AUC 0.5 is no separation. Windows overlap and follow a few events, so these AUCs "
        "describe, they do not test; one seed says little about which detector is better "
        + (f"(difference NL - AE here: {diff:+.3f})." if diff is not None else "."),
        "",
        "## Significance: the seed paper's test vs the event-level protocol",
        "",
        "| detector | legacy window-level Mann-Whitney p (naive) | legacy calibrated p | "
        "primary event-level AUC (= ASS) | primary p | independent events | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, s in (("negative learning", snl), ("plain autoencoder", sae)):
        p, lg = s["primary"], s["legacy"]
        naive = "< 1e-300 (underflow)" if lg["p_value"] == 0 else _f(lg["p_value"], ".2g")
        lines.append(f"| {name} | {naive} | "
                     f"{_f(lg['calibrated_p_value'], '.3f')} | {_f(p['auc'])} | "
                     f"{_f(p['p_value'], '.4f')} | {p['n_independent_events']} | "
                     f"{p['verdict']} |")
    lines += [
        "",
        "The legacy p treats overlapping, autocorrelated windows as independent samples; its "
        "calibrated p asks how often shifted catalogs give a naive p as small. The primary "
        "test gives one value per independent event and compares it with circularly shifted "
        f"catalogs ({sig['surrogates']} surrogates, protocol hash "
        f"`{sig['protocol_hash']}`); with fewer than 10 independent events it gives no "
        "verdict. The protocol document (`geoanom docs protocol`) explains why only the "
        "primary p can carry weight. The "
        f"calibrated p cannot go below 1 / ({r['config']['legacy_catalogs']} + 1) = "
        f"{1 / (r['config']['legacy_catalogs'] + 1):.3f}, the primary p not below "
        f"1 / ({sig['surrogates']} + 1).",
        "",
    ]
    b = snl["baselines"]
    lines += [
        "Baselines on the same test bins (ASS = AUC of the same event-level statistic): "
        f"activity index only {_f((b.get('activity') or {}).get('ass'))}, remote station "
        f"SYC's score {_f((b.get('remote_station') or {}).get('ass'))}, seismicity only "
        f"{_f((b.get('seismicity') or {}).get('ass'))}, random 0.5. A detector that beats "
        "no baseline has found geomagnetic activity, not precursors. (SYC sees the largest "
        "events too, the Dobrovolsky radius is 380 km at M6 and 565 km at M6.4, so it is not a "
        "pure activity reference.)",
        "",
    ]
    warns = sorted(set(snl["warnings"]))
    if warns:
        lines += ["Warnings of the protocol (negative-learning scores):", ""]
        lines += [f"- {x}" for x in warns]
        lines.append("")
    lines += ["## DLEP: magnitude classes with and without the geomagnetic stream", ""]
    if dl.get("status") == "ok":
        lines += [f"{dl['n_samples']} samples from the world's catalog (class counts "
                  f"{dl['class_counts']}), chronological protocol (train on the past, test "
                  "on the future).", "",
                  "| variant | ACC | MAUC |", "|---|---|---|"]
        for name, v in dl["variants"].items():
            lines.append(f"| {name} | {_f(v.get('acc_mean'))} ± {_f(v.get('acc_std'))} | "
                         f"{_f(v.get('mauc_mean'))} ± {_f(v.get('mauc_std'))} |")
        cov = dl.get("geomag_coverage") or {}
        lines += ["", f"Test samples: the {dl['n_test']} latest, whose {dl['geomag_days']}-day "
                  "geomagnetic window starts after the last window the detector was fitted "
                  f"on ({str(dl['trained_until'])[:10]}); "
                  f"{cov.get('n_with_any_data', 'n/a')} of {dl['n_samples']} samples have "
                  "scores. Classes are quintiles of the training main-shock magnitudes "
                  "(chance: ACC 0.2, MAUC 0.5).", "",
                  "What the truth says: in an ETAS catalog magnitudes are independent draws "
                  "from the Gutenberg-Richter law, so no catalog feature can predict the "
                  "class, and catalog-only DLEP should sit at chance. The geomagnetic stream "
                  "carries the injected precursors, but only before the few M >= 5 main "
                  "shocks SYA sees, so a real gain can only come from the top classes. A "
                  "difference between variants is evidence only if it clearly exceeds the "
                  "spread over seeds."]
    else:
        lines.append(f"DLEP did not run ({dl.get('status')}): {dl.get('reason', '')}.")
    lines += ["", "## Files", ""]
    lines += [f"- `{v}`" for k, v in sorted(r["files"].items()) if not k.startswith("figure_")
              or k in ("figure_score_series", "figure_roc", "figure_components")]
    lines.append(f"- figures: `figures/` ({sum(k.startswith('figure_') for k in r['files'])} "
                 "PNG files)")
    t = r.get("timings_s") or {}
    if t:
        lines += ["", "Run time: " + ", ".join(f"{k} {v:.0f} s" for k, v in t.items()
                                                if k not in ("total", "cpu_total", "cpu"))
                  + (f"; total {t['total']:.0f} s." if "total" in t else ".")]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- examples
# Small, fast end-to-end runs for the notebooks and the documentation figures: the same steps
# as the demo, at a size that runs in seconds.


@dataclass
class Example:
    """A small worked example: a record, its catalog, a trained detector's scores.

    Attributes
    ----------
    name
        ``"synthetic"`` or ``"mmb"``.
    record, clean
        The raw and the preprocessed station record.
    catalog
        The earthquake catalog (validated frame).
    window_set
        The labelled window set the detector was trained on.
    scores, scores_path
        Scores of the whole record (with ``label``, ``split``, ``event_id`` and the residual
        series) and the netCDF file they were written to.
    activity
        Activity index frame (``time`` and a value column), or None.
    activity_name
        What the activity column is (``"Kp"``, or a local proxy for real data).
    truth
        Synthetic precursor windows at the station (frame), or None for real data.
    note
        What the example can and cannot show.
    """

    name: str
    record: xr.Dataset
    clean: xr.Dataset
    catalog: pd.DataFrame
    window_set: xr.Dataset
    scores: xr.Dataset
    scores_path: Path
    activity: pd.DataFrame | None
    activity_name: str
    truth: pd.DataFrame | None
    note: str


def _train_and_score(ws: xr.Dataset, clean: xr.Dataset, workdir: Path, *, lam: float,
                     epochs: int, seed: int, key: dict, inputs=()) -> tuple[xr.Dataset, Path]:
    """Train a small detector on ``ws`` and score ``clean``; reuse ``workdir/scores.nc``
    when ``workdir/example.json`` says it was made from the same ``key`` (notebooks that
    share a work folder then train once)."""
    from geoanom.nn.train import TrainConfig, train
    from geoanom.provenance import config_hash
    from geoanom.score import read_scores, score_record, write_scores

    tc = TrainConfig(hidden_size=16, latent_size=8, batch_size=64, max_epochs=epochs,
                     patience=max(1, epochs), ramp_epochs=1, lr=3e-3, batches_per_epoch=20,
                     lam=lam, seed=seed)
    stamp = workdir / "example.json"
    h = config_hash({"example": key, "train": tc.to_dict(), "ws": ws.attrs.get("config_hash")})
    path = workdir / "scores.nc"
    if path.is_file() and stamp.is_file() and json.loads(stamp.read_text()).get("hash") == h:
        return read_scores(path), path
    train(ws, tc, out_dir=workdir / "model", device="cpu", resume=False, progress=False)
    sc = score_record(workdir / "model", clean, residuals=True, device="cpu", inputs=inputs)
    sc = attach_labels(sc, ws)
    write_scores(sc, path)
    atomic_write_text(stamp, json.dumps({"hash": h, "key": key}) + "\n")
    return sc, path


def synthetic_example(workdir: str | os.PathLike, *, seed: int = 0, days: float = 150.0,
                      strength: float = 3.0, epochs: int = 3, lam: float = 1.0) -> Example:
    """The demo's steps on a short synthetic world (about ten seconds on one core).

    Parameters
    ----------
    workdir
        Folder for the model and ``scores.nc``.
    seed, days, strength
        World seed, span (days) and precursor strength.
    epochs, lam
        Training epochs and the negative-learning ``lambda`` (0: plain autoencoder).
    """
    import torch

    torch.set_num_threads(1)
    cfg = DemoConfig(seed=seed, days=days, precursor_strength=strength,
                     background_rate_per_day=4.0, split_fractions=(0.5, 0.2, 0.3))
    world = _world(cfg)
    clean = preprocess(world.records["SYA"], cfg)
    ws = _build_ws(clean, world.catalog, cfg)
    work = Path(workdir)
    sc, path = _train_and_score(ws, clean, work, lam=lam, epochs=epochs, seed=seed,
                                key={"name": "synthetic", "seed": seed, "days": days,
                                     "strength": strength})
    act = pd.DataFrame({"time": world.activity["time"].values, "kp": world.activity["kp"].values})
    prec = world.precursors
    return Example(name="synthetic", record=world.records["SYA"], clean=clean,
                   catalog=world.catalog, window_set=ws, scores=sc, scores_path=path,
                   activity=act, activity_name="Kp", truth=prec[prec["station"] == "SYA"],
                   note=f"synthetic world, seed {seed}, {days:g} days, precursor strength "
                        f"{strength:g} (truth known)")


def _build_ws(clean: xr.Dataset, catalog: pd.DataFrame, cfg: DemoConfig) -> xr.Dataset:
    from geoanom.windows import build_window_set

    return build_window_set(clean, catalog, _window_config(cfg))


#: Window labels for the 31-day MMB record (the METHODS defaults, lead 1-30 days, would label
#: nothing): 1-hour windows every 30 min, seismic = ending 6 h to 1 day before a seen M >= 5
#: event, no declustering (after 2011-03-11 every seen event is a Tohoku aftershock).
MMB_WINDOWS = dict(window_length_s=3600.0, stride_s=1800.0, max_missing_fraction=0.1,
                   components=("H", "D", "Z"), m_min=5.0, lead_days=(0.25, 1.0),
                   buffer_days=0.5, normal_margin_magnitude=0.5, post_event_exclusion_days=1.0,
                   split_fractions=(0.45, 0.2, 0.35), decluster="none")


def mmb_example(data_dir: str | os.PathLike, workdir: str | os.PathLike, *, seed: int = 0,
                epochs: int = 2, lam: float = 1.0, radius_km: float = 1000.0) -> Example:
    """Real data: Memambetsu (MMB, JMA) 1-minute record of March 2011 with the USGS Japan
    catalog (EarthquakeNPP extract), events within ``radius_km`` of the station.

    The record is one month with the 2011-03-11 Tohoku M9.0 in the middle: the example shows
    the steps on real data; its held-out numbers rest on one or two aftershocks and mean
    nothing. The activity column is a local proxy (daily range of H, nT), not Kp.

    Parameters
    ----------
    data_dir
        The shared real-data folder (``../shared/data``): ``geomag/japan_MMB_2011-03`` and
        ``catalogs/japan_usgs_1990_2019_EarthquakeNPP.csv``.
    workdir
        Folder for the model and ``scores.nc``.
    """
    import torch

    from geoanom.catalog_frame import great_circle_km
    from geoanom.io import read_record
    from geoanom.io.catalog import read_catalog
    from geoanom.windows import WindowConfig, build_window_set

    torch.set_num_threads(1)
    d = Path(data_dir)
    rec_path = d / "geomag" / "japan_MMB_2011-03" / "mmb_2011_march.txt"
    cat_path = d / "catalogs" / "japan_usgs_1990_2019_EarthquakeNPP.csv"
    rec = read_record(rec_path)
    cat = read_catalog(cat_path)
    t0, t1 = rec["time"].values[0], rec["time"].values[-1]
    dist = great_circle_km(float(rec.attrs["latitude_deg"]), float(rec.attrs["longitude_deg"]),
                           cat["latitude_deg"].to_numpy(float),
                           cat["longitude_deg"].to_numpy(float))
    tt = cat["time"].to_numpy()
    near = (dist <= radius_km) & (tt >= t0 - np.timedelta64(60, "D")) \
        & (tt <= t1 + np.timedelta64(5, "D"))
    cat = cat.loc[near].reset_index(drop=True)
    from geoanom import preprocess as pp

    clean = pp.despike(rec, window_s=600.0, components=["H", "D", "Z"])
    ws = build_window_set(clean, cat, WindowConfig(**MMB_WINDOWS))
    work = Path(workdir)
    sc, path = _train_and_score(ws, clean, work, lam=lam, epochs=epochs, seed=seed,
                                key={"name": "mmb", "seed": seed, "radius_km": radius_km},
                                inputs=[rec_path])
    h = pd.Series(rec["H"].values, index=pd.DatetimeIndex(rec["time"].values))
    rng = (h.resample("1D").max() - h.resample("1D").min())
    act = pd.DataFrame({"time": rng.index.values, "h_range_nT": rng.to_numpy(float)})
    return Example(name="mmb", record=rec, clean=clean, catalog=cat, window_set=ws,
                   scores=sc, scores_path=path, activity=act,
                   activity_name="daily range of H at MMB (nT)", truth=None,
                   note="MMB (JMA, via WDC Kyoto) March 2011 with the USGS catalog: one "
                        "month, Tohoku in the middle; held-out numbers rest on one or two "
                        "aftershocks")


def example_protocol(example: Example, *, surrogates: int = 199):
    """The significance protocol that fits an :class:`Example`: the demo's (lead 1-10 days,
    one-day bins, season-keeping shifts when the record allows) for synthetic worlds; for
    the one-month MMB record, 6-hour bins, lead 6 h to 1 day, uniform circular shifts and no
    declustering (every seen event after 2011-03-11 is a Tohoku aftershock). Surrogate
    counts are small (fast notebooks); PROTOCOL.md's defaults are 9,999."""
    from geoanom.stats.protocol import Protocol

    n = int(surrogates)
    small = dict(surrogates_n=n, surrogates_n_secondary=max(19, n // 10),
                 surrogates_n_bootstrap=n, surrogates_n_legacy=max(19, n // 4),
                 surrogates_n_fake_catalogs=5)
    if example.name == "mmb":
        return Protocol().replace(
            target_declustering="none", lead_min_days=0.25, lead_max_days=1.0,
            lead_post_event_exclusion_days=1.0, binning_bin_days=0.25,
            split_test_fraction=0.35, surrogates_method="uniform",
            surrogates_block_mean_days=1.0, baselines_seismicity_days=1.0,
            grid_lead_windows=((0.25, 1.0),), **small)
    cfg = DemoConfig()
    return protocol_for(cfg).replace(**small)
