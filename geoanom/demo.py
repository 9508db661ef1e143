"""``geoanom demo``: a study (:mod:`geoanom.study`) on the built-in synthetic world.

:func:`run_demo` synthesises a world with known truth, writes its files and a study
configuration into the report folder, and runs :func:`geoanom.study.run_study` on it: the
same code path as a real study (rolling-origin negative-learning detector, plain
autoencoder and activity-only score; the event-level test per station and pooled with
joint catalog shifts; multiplicity; figures; resumable units). The world has two stations
that see the same earthquakes: SYA carries precursors of moderate strength in Z before the
``M >= 5`` events it sees; SYB is the same kind of station without any (its record comes
from the strength-0 world of the same seed). The report says whether the study found the
one and not the other, next to the truth. Everything is deterministic given the seed.

The rest of the module holds the single-station examples the notebooks use
(:func:`synthetic_example`, :func:`mmb_example`, :func:`example_protocol`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from geoanom._atomic import atomic_write_text
from geoanom.detector.api import fit_detector
from geoanom.detector.config import DetectorConfig
from geoanom.detector.nn.train import TrainConfig
from geoanom.detector.preprocess import PreprocessConfig, apply_stateless
from geoanom.detector.score import read_scores, write_scores
from geoanom.detector.windows import WindowConfig, build_window_set
from geoanom.errors import ConfigError, ValidationError
from geoanom.labels import LabelRule
from geoanom.provenance import config_hash


@dataclass(frozen=True)
class ExampleConfig:
    """The single-station synthetic example of the notebooks (:func:`synthetic_example`).

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


# ----------------------------------------------------------------------------- pieces


def _world(cfg: ExampleConfig):
    from geoanom.synthetic import DEFAULT_STATIONS, PrecursorConfig, make_world

    near = next(s for s in DEFAULT_STATIONS if s.code == "SYA")
    remote = next(s for s in DEFAULT_STATIONS if s.role == "remote")
    pc = PrecursorConfig(lead_min_days=cfg.lead_days[0], lead_max_days=cfg.lead_days[1],
                         m_min=5.0)
    return make_world(cfg.seed, cfg.days, cadence_s=cfg.cadence_s, n_stations=2,
                      precursor_strength=cfg.precursor_strength, start=cfg.start,
                      stations=[near, remote], precursor=pc,
                      etas={"background_rate_per_day": cfg.background_rate_per_day})


def _window_config(cfg: ExampleConfig) -> WindowConfig:
    return WindowConfig(window_length_s=cfg.window_length_s, stride_s=cfg.stride_s,
                        max_missing_fraction=0.1, components=("X", "Y", "Z"),
                        label_rule=LabelRule(m_min=5.0, lead_days=cfg.lead_days,
                                             buffer_days=2.0, post_event_exclusion_days=5.0,
                                             normal_margin_magnitude=0.0),
                        split_fractions=cfg.split_fractions)


def preprocess_config(cfg: ExampleConfig) -> PreprocessConfig:
    """The demo's preprocessing of a record: causal despiking of X, Y, Z (Hampel filter
    over 10 samples, :func:`geoanom.detector.preprocess.despike`; one spike would otherwise
    dominate a day's maximum error), then the causal band-pass ``cfg.band_hz``."""
    return PreprocessConfig.from_dict({
        "components": ["X", "Y", "Z"], "despike": {"window_s": 10 * cfg.cadence_s},
        "filter": {"low_hz": cfg.band_hz[0], "high_hz": cfg.band_hz[1], "causal": True}})


def _example_train_config(*, lam: float, epochs: int, seed: int) -> TrainConfig:
    """The examples' small, quick network."""
    return TrainConfig(hidden_size=16, latent_size=8, batch_size=64, max_epochs=epochs,
                       patience=max(1, epochs), ramp_epochs=1, lr=3e-3, batches_per_epoch=20,
                       lam=lam, seed=seed)


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


# ----------------------------------------------------------------------------- catalog rules


def _mainshock_flags(catalog: pd.DataFrame) -> np.ndarray:
    from geoanom.labels import mainshock_flags

    return np.asarray(mainshock_flags(catalog, "gardner_knopoff", 4.5), bool)


def _seen_by(catalog: pd.DataFrame, record: xr.Dataset, m_min: float = 4.5) -> np.ndarray:
    """Events of ``M >= m_min`` within the Dobrovolsky radius of the record's station."""
    from geoanom.labels import seen_by_station

    return seen_by_station(catalog, float(record.attrs["latitude_deg"]),
                           float(record.attrs["longitude_deg"]), min_magnitude=m_min)


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


def _fit_and_score(record: xr.Dataset, catalog: pd.DataFrame, config: DetectorConfig,
                   ws: xr.Dataset, workdir: Path, *, key: dict,
                   inputs=()) -> tuple[xr.Dataset, Path]:
    """Fit the example's detector on ``record`` and score it; reuse ``workdir/scores.nc``
    when ``workdir/example.json`` says it was made from the same ``key`` and config
    (notebooks that share a work folder then train once). ``ws`` (the detector's window
    set) gives the scores their labels."""
    stamp = workdir / "example.json"
    h = config_hash({"example": key, "detector": config.hash()})
    path = workdir / "scores.nc"
    if path.is_file() and stamp.is_file() and json.loads(stamp.read_text()).get("hash") == h:
        return read_scores(path), path
    det = fit_detector(record, catalog, config, out_dir=workdir / "model", device="cpu",
                       resume=False, progress=False, inputs=inputs)
    sc = attach_labels(det.score(record, residuals=True, inputs=inputs), ws)
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
    cfg = ExampleConfig(seed=seed, days=days, precursor_strength=strength,
                     background_rate_per_day=4.0, split_fractions=(0.5, 0.2, 0.3))
    world = _world(cfg)
    config = DetectorConfig(windows=_window_config(cfg), preprocess=preprocess_config(cfg),
                            train=_example_train_config(lam=lam, epochs=epochs, seed=seed))
    clean = apply_stateless(world.records["SYA"], config.preprocess)
    ws = build_window_set(clean, world.catalog, config.windows)
    sc, path = _fit_and_score(world.records["SYA"], world.catalog, config, ws, Path(workdir),
                              key={"name": "synthetic", "seed": seed, "days": days,
                                   "strength": strength})
    act = pd.DataFrame({"time": world.activity["time"].values, "kp": world.activity["kp"].values})
    prec = world.precursors
    return Example(name="synthetic", record=world.records["SYA"], clean=clean,
                   catalog=world.catalog, window_set=ws, scores=sc, scores_path=path,
                   activity=act, activity_name="Kp", truth=prec[prec["station"] == "SYA"],
                   note=f"synthetic world, seed {seed}, {days:g} days, precursor strength "
                        f"{strength:g} (truth known)")


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
    from geoanom.io import read_catalog, read_record

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
    near = ((dist <= radius_km) & (tt >= t0 - np.timedelta64(60, "D"))
        & (tt <= t1 + np.timedelta64(5, "D")))
    cat = cat.loc[near].reset_index(drop=True)
    config = DetectorConfig(
        windows=WindowConfig.from_dict(MMB_WINDOWS),
        preprocess=PreprocessConfig.from_dict({"components": ["H", "D", "Z"],
                                               "despike": {"window_s": 600.0}}),
        train=_example_train_config(lam=lam, epochs=epochs, seed=seed))
    clean = apply_stateless(rec, config.preprocess)
    ws = build_window_set(clean, cat, config.windows)
    sc, path = _fit_and_score(rec, cat, config, ws, Path(workdir),
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
    lead = ExampleConfig().lead_days
    # the lead window doubles as the post-event exclusion (PROTOCOL.md: its 30-day lead max)
    return Protocol().replace(lead_min_days=lead[0], lead_max_days=lead[1],
                              lead_post_event_exclusion_days=lead[1],
                              grid_lead_windows=(tuple(lead),), **small)


# ============================================================================ the demo study

@dataclass(frozen=True)
class DemoConfig:
    """Everything that decides a demo run (hashed into the study's provenance).

    Attributes
    ----------
    seed
        Master seed of the world, the training and the surrogates.
    years, start, cadence_s
        Span of the world (whole years from ``start``, a 1 January) and sampling period (s).
    test_years
        How many of the last years are test years (rolling origin).
    precursor_strength
        Strength of SYA's precursors (:class:`geoanom.synthetic.PrecursorConfig`).
    lead_days
        Lead window (days) of the precursors, the window labels and the test.
    background_rate_per_day
        ETAS background rate of ``M >= 3`` events in the seismic box.
    storm_rate_per_day, recurrence_persistence
        Storms of the activity index (:func:`geoanom.synthetic.activity_index`; these are its
        defaults: a storm every 12 days and the 27-day recurrence).
    band_hz
        Causal band-pass of Z before windowing (the ``[preprocess]`` table, after a causal
        despike: one spike would otherwise dominate the lead-window maximum of the score):
        the precursor band of the synthetic generator at this cadence.
    window_length_s, stride_s, hidden_size, latent_size, max_epochs, patience, batches_per_epoch
        Detector windows and training budget.
    surrogates
        Surrogates of the primary null (PROTOCOL.md's default is 9,999).
    threads
        torch CPU threads.
    quick
        The reduced run of the tests.
    """

    seed: int = 0
    years: int = 5
    start: str = "2019-01-01"
    cadence_s: float = 1800.0
    test_years: int = 3
    precursor_strength: float = 8.0
    lead_days: tuple[float, float] = (1.0, 10.0)
    background_rate_per_day: float = 3.0
    storm_rate_per_day: float = 1.0 / 12.0
    recurrence_persistence: float = 0.75
    band_hz: tuple[float, float] = (7e-5, 2.2e-4)
    window_length_s: float = 43200.0
    stride_s: float = 43200.0
    hidden_size: int = 16
    latent_size: int = 8
    max_epochs: int = 6
    patience: int = 3
    batches_per_epoch: int = 20
    surrogates: int = 999
    threads: int | None = 1
    quick: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "lead_days", tuple(float(v) for v in self.lead_days))
        object.__setattr__(self, "band_hz", tuple(float(v) for v in self.band_hz))
        if self.years < 3 or not 1 <= self.test_years <= self.years - 2:
            raise ConfigError("the demo needs at least 3 years and 1 <= test_years <= "
                              "years - 2 (a year to train and one to validate before the "
                              "first test year)", found=f"{self.years}, {self.test_years}")
        if self.precursor_strength < 0:
            raise ConfigError("precursor strength must be >= 0",
                              found=str(self.precursor_strength))
        if not str(self.start).endswith("-01-01"):
            raise ConfigError("the demo world starts on 1 January", found=str(self.start))

    @classmethod
    def quick_config(cls, seed: int = 0, **kw: Any) -> DemoConfig:
        """The reduced run the tests use (3 years of hourly data, one test year, tiny
        training): it checks the installation; its verdicts rest on too few events."""
        d = dict(years=3, test_years=1, cadence_s=3600.0, band_hz=(3.5e-5, 1.1e-4),
                 max_epochs=3, patience=1, batches_per_epoch=10, surrogates=199, quick=True)
        d.update(kw)
        return cls(seed=seed, **d)

    def to_dict(self) -> dict:
        """JSON-safe dict of the fields."""
        return json.loads(json.dumps(dataclasses.asdict(self)))


#: The demo's stations: SYA carries precursors, SYB does not.
DEMO_PRECURSOR_STATION, DEMO_NULL_STATION = "SYA", "SYB"


def demo_world(cfg: DemoConfig, folder: str | os.PathLike) -> dict:
    """Synthesise the demo world and write it to ``folder``: ``SYA.nc`` (with precursors),
    ``SYB.nc`` (none), ``catalog.csv``, ``activity.csv``, ``truth.json``. Returns facts."""
    from geoanom.io.netcdf import write_netcdf
    from geoanom.synthetic import DEFAULT_STATIONS, PrecursorConfig, make_world

    out = Path(folder)
    sts = [s for s in DEFAULT_STATIONS if s.code in (DEMO_PRECURSOR_STATION, DEMO_NULL_STATION)]
    days = (np.datetime64(f"{int(cfg.start[:4]) + cfg.years:04d}-01-01")
            - np.datetime64(cfg.start)) / np.timedelta64(1, "D")
    pc = PrecursorConfig(lead_min_days=cfg.lead_days[0], lead_max_days=cfg.lead_days[1],
                         m_min=5.0)
    kw = dict(cadence_s=cfg.cadence_s, n_stations=2, start=cfg.start, stations=sts,
              precursor=pc, etas={"background_rate_per_day": cfg.background_rate_per_day},
              activity_options={"storm_rate_per_day": cfg.storm_rate_per_day,
                                "recurrence_persistence": cfg.recurrence_persistence})
    world = make_world(cfg.seed, float(days), precursor_strength=cfg.precursor_strength, **kw)
    null = make_world(cfg.seed, float(days), precursor_strength=0.0, **kw)
    world.records[DEMO_NULL_STATION] = null.records[DEMO_NULL_STATION]
    world.save(out)
    # SYB.nc from the null world (save() wrote the precursor world's SYB)
    write_netcdf(null.records[DEMO_NULL_STATION], out / f"{DEMO_NULL_STATION}.nc",
                 config=null.config, seeds={"seed": cfg.seed})
    prec = world.precursors
    pa = prec[prec["station"] == DEMO_PRECURSOR_STATION]
    return {"seed": cfg.seed, "days": float(days), "start": cfg.start,
            "cadence_s": cfg.cadence_s, "n_events": int(len(world.catalog)),
            "n_events_m5": int((world.catalog["magnitude"] >= 5.0).sum()),
            "precursor_strength": cfg.precursor_strength,
            "precursor_station": DEMO_PRECURSOR_STATION, "null_station": DEMO_NULL_STATION,
            "n_precursor_windows": int(len(pa)),
            "precursor_rms_nT": {"median": float(pa["amplitude_nT"].median()) if len(pa)
                                 else None,
                                 "max": float(pa["amplitude_nT"].max()) if len(pa) else None},
            "stations": {s.code: {"latitude_deg": s.latitude_deg,
                                  "longitude_deg": s.longitude_deg} for s in sts}}


def demo_study_dict(cfg: DemoConfig, world: dict, world_dir: str = "world") -> dict:
    """The demo's study configuration (written to ``demo_study.toml`` in the report)."""
    y0 = int(cfg.start[:4])
    lead = list(cfg.lead_days)
    return {
        "study": {"name": "geoanom-demo", "seed": cfg.seed,
                  "description": "the built-in synthetic world: SYA carries precursors, SYB "
                                 "does not",
                  "detectors": ["negative_learning", "plain_autoencoder", "activity"],
                  "test_years": [y0 + cfg.years - cfg.test_years, y0 + cfg.years - 1],
                  "min_train_days": 180.0, "data_root": "."},
        "station": [{"code": c, "latitude_deg": v["latitude_deg"],
                     "longitude_deg": v["longitude_deg"]} for c, v in world["stations"].items()],
        "records": {"files": [f"{world_dir}/{c}.nc" for c in world["stations"]]},
        "catalog": {"file": f"{world_dir}/catalog.csv"},
        "activity": {"kp": f"{world_dir}/activity.csv", "baseline": "kp", "score": "kp"},
        "preprocess": {"components": ["Z"],
                       "despike": {"window_s": 10 * cfg.cadence_s},
                       "filter": {"low_hz": cfg.band_hz[0], "high_hz": cfg.band_hz[1]}},
        "windows": {"window_length_s": cfg.window_length_s, "stride_s": cfg.stride_s,
                    "max_missing_fraction": 0.1, "components": ["Z"], "m_min": 5.0,
                    "lead_days": lead, "buffer_days": 2.0, "post_event_exclusion_days": lead[1],
                    "normal_margin_magnitude": 0.0},
        "train": {"hidden_size": cfg.hidden_size, "latent_size": cfg.latent_size,
                  "batch_size": 64, "max_epochs": cfg.max_epochs, "patience": cfg.patience,
                  "ramp_epochs": 1, "lr": 0.003, "batches_per_epoch": cfg.batches_per_epoch},
        "protocol": {"alpha": 0.05,
                     "lead": {"min_days": lead[0], "max_days": lead[1],
                              "post_event_exclusion_days": lead[1]},
                     "surrogates": {"n": cfg.surrogates, "method": "uniform",
                                    "n_secondary": 99, "n_bootstrap": 499, "n_legacy": 49,
                                    "n_fake_catalogs": 5},
                     "grid": {"lead_windows": [lead]}},
    }


def run_demo(output: str | os.PathLike, config: DemoConfig | None = None, *,
             progress: bool = True) -> dict:
    """Run the demo study and write the report folder ``output``.

    Parameters
    ----------
    output
        Report folder: ``world/`` (the synthetic inputs), ``demo_study.toml`` (rerun it with
        ``geoanom study --config OUTPUT/demo_study.toml -o OUTPUT``), and the study's report
        (``summary.md``, ``results.json``, ``figures/``, ``stations/``, ``units/``).
    config
        :class:`DemoConfig` (default: the full demo, under three minutes on two cores).
    progress
        Progress lines on stderr.

    Returns
    -------
    dict
        The content of ``results.json``: the study's result plus ``demo`` (world facts and
        the verdict next to the truth).
    """
    import torch

    from geoanom.study.config import study_from_dict, study_toml
    from geoanom.study.report import finish_report
    from geoanom.study.runner import run_study

    cfg = config or DemoConfig()
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    t0 = time.perf_counter()
    if progress:
        print(f"geoanom demo: synthesising a {cfg.years}-year world (seed {cfg.seed}, "
              f"precursor strength {cfg.precursor_strength:g} at SYA, none at SYB)",
              file=sys.stderr, flush=True)
    world = demo_world(cfg, out / "world")
    t_world = time.perf_counter() - t0
    d = demo_study_dict(cfg, world)
    text = study_toml(d, header="geoanom demo study (written by geoanom demo; rerun with\n"
                                "geoanom study --config demo_study.toml -o . from this folder)")
    atomic_write_text(out / "demo_study.toml", text)
    scfg = study_from_dict(d, path=out / "demo_study.toml", data_root=out)
    res = run_study(scfg, out, progress=progress)
    res["demo"] = {"config": cfg.to_dict(), "world": world,
                   "truth_vs_verdict": truth_vs_verdict(res, world),
                   "seconds_world": round(t_world, 2),
                   "seconds_total": round(time.perf_counter() - t0, 2)}
    res["files"]["study_config"] = "demo_study.toml"
    res["files"]["world"] = "world/"
    res["timings_s"]["world"] = round(t_world, 2)
    res["timings_s"]["total"] = round(time.perf_counter() - t0, 2)
    return finish_report(res, out, (lambda s: print(f"geoanom demo: {s}", file=sys.stderr,
                                                    flush=True)) if progress
                         else (lambda s: None), extra_summary=demo_summary(res))


def truth_vs_verdict(res: dict, world: dict) -> dict:
    """For each station and detector: whether the station carries precursors, whether the
    detector should find them (the activity-only score knows no earthquakes: it never
    should), the verdict, and whether the two agree."""
    out = {}
    for code, st in res["stations"].items():
        carries = code == world["precursor_station"] and world["precursor_strength"] > 0
        for det, d in st["detectors"].items():
            te = d.get("test") or {}
            sig = te.get("significant")
            should = carries and det != "activity"
            out[f"{code}/{det}"] = {
                "carries_precursors": carries, "should_be_found": should,
                "verdict": te.get("verdict"),
                "n_independent_events": te.get("n_independent_events"),
                "auc": te.get("auc"), "p_value": te.get("p_value"),
                "agrees_with_truth": None if sig is None else bool(sig) == should}
    return out


def demo_summary(res: dict) -> str:
    """The demo's section of ``summary.md``: the truth next to the verdicts."""
    from geoanom.study.report import fmt_number

    dm = res["demo"]
    w = dm["world"]
    L = ["## The synthetic world and its truth", "",
         f"Seed {w['seed']}, {w['days']:g} days from {w['start']} at {w['cadence_s']:g} s, "
         f"{w['n_events']} events ({w['n_events_m5']} of M >= 5). Precursor strength "
         f"{w['precursor_strength']:g} at {w['precursor_station']} ({w['n_precursor_windows']} "
         f"precursor windows, median RMS "
         f"{fmt_number(w['precursor_rms_nT']['median'], '.2f')} nT in "
         f"Z); {w['null_station']} sees the same events and carries none.", "",
         "| station / detector | carries precursors | should be found | events | AUC | p | "
         "verdict | agrees with truth |", "|---|---|---|---:|---:|---:|---|---|"]
    for k, v in dm["truth_vs_verdict"].items():
        L.append(f"| {k} | {v['carries_precursors']} | {v['should_be_found']} | "
                 f"{v['n_independent_events']} | "
                 f"{fmt_number(v['auc'])} | {fmt_number(v['p_value'], '.4f')} | {v['verdict']} | "
                 f"{'n/a' if v['agrees_with_truth'] is None else v['agrees_with_truth']} |")
    L += ["", "The activity-only score (Kp) knows no earthquakes: it should find nothing at "
          "either station.", ""]
    return "\n".join(L) + "\n"
