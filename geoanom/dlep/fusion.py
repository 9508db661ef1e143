"""Fusion: anomaly scores as DLEP's third implicit stream ``GF`` (METHODS.md section 6).

For each DLEP sample the geomagnetic stream is a ``stations x days`` matrix of daily score
aggregates (max and mean of the detector's ``rmse`` by default) over the ``L`` days (default
30) that end at the last event of the sample's pattern (``pattern_end_time``), which is
strictly before the main shock. A small CNN (:class:`GFEncoder`) turns the matrix into the
vector ``GF`` that :class:`geoanom.dlep.model.FusionNet` gates beside ``EF`` and ``IF``.

Choices made here (each a parameter):

* **Days are anchored at the pattern end, not at midnight.** Day ``k`` (``k = 0..L-1``) of a
  sample holds the score windows whose *end* (exclusive end of the window's data) lies in
  ``(t_end - (L - k) days, t_end - (L - k - 1) days]``. So every sample gets exactly ``L``
  full days, and no window that holds a single sample at or after ``t_end`` enters, whatever
  the time of day of the main shock. (Calendar days would put the part of the main-shock day
  that precedes ``t_end`` into a half-filled bin.)
* **Missing data are masked, never zero-filled.** A (station, day) with no scored window is
  masked; a station with no training-fold statistics is masked for the whole fold. The CNN
  sees the mask as an input channel and pools only over observed days and stations.
* **Normalisation uses training-fold statistics only**: per station and aggregate, the mean
  and standard deviation of ``log(score)`` over the observed entries of the training
  samples' matrices.
* **Rolling origin** (:class:`RollingOriginStream`): for each fold, the test period starts at
  ``min(pattern_end_time[test]) - L days`` (the first day any test sample's matrix covers).
  The detector of that fold is trained on the station record and the catalog cut strictly
  before that instant, then scores the whole record; so the matrices of the test samples come
  from a detector that never saw their data nor their events. Training samples' scores are
  in-sample for the detector (it was trained on their period): this is allowed (it is the
  training period), but it makes the training matrices more separable than the test ones.
* **Precomputed scores** (:func:`stream_from_scores`) cannot be checked: the files do not say
  on which period their detector was trained. Pass ``trained_until`` if you know it; a fold
  whose test period starts before it raises :class:`~geoanom.errors.LeakageError`.

The provider interface (the DLEP evaluation calls it once per fold): ``encoder()`` returns a
fresh :class:`GFEncoder`, ``dim`` its output width, and ``features(samples, train_idx,
test_idx, fold)`` returns ``(x, mask)`` for *all* samples: ``x`` float32 of shape
``(n_samples, n_aggregates + 1, n_stations, L)`` (the last channel repeats the mask as 0/1, so
the encoder works whether or not the mask is passed separately) and ``mask`` bool
``(n_samples, n_stations, L)``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import xarray as xr
from torch import nn

from geoanom._time import NS_PER_DAY
from geoanom.catalog_frame import great_circle_km
from geoanom.detector.nn.train import TrainConfig, train
from geoanom.detector.score import read_scores, score_record
from geoanom.detector.windows import WindowConfig, build_window_set
from geoanom.dlep.evaluate import evaluate
from geoanom.errors import GeoanomError, LeakageError, ValidationError

__all__ = [
    "AGGREGATES", "DAY_NS", "StationScores", "station_scores", "load_station_scores",
    "shift_scores", "daily_aggregates", "normalise", "GFEncoder", "ScoreStream",
    "RollingOriginStream", "stream_from_scores", "sample_times",
]

#: Aggregates of the scores per day, in channel order.
AGGREGATES = ("max", "mean")
DAY_NS = NS_PER_DAY
#: Clip of normalised aggregates: one absurd window must not dominate the CNN.
Z_CLIP = 10.0


@dataclass(frozen=True)
class StationScores:
    """One station's window scores, ready for aggregation.

    Attributes
    ----------
    code
        Station code (``iaga_code`` of the scores file).
    end_ns
        Window ends (exclusive, UTC) as int64 nanoseconds, sorted, only windows with a
        finite score.
    value
        The score of each window (``rmse`` by default: normalised units, > 0).
    latitude_deg, longitude_deg
        Station position (deg; NaN when unknown).
    source
        Where the scores came from (paths or a description), for provenance.
    """

    code: str
    end_ns: np.ndarray
    value: np.ndarray
    latitude_deg: float = float("nan")
    longitude_deg: float = float("nan")
    source: tuple[str, ...] = field(default_factory=tuple)


def station_scores(ds: xr.Dataset, *, variable: str = "rmse", code: str | None = None,
                   source: Sequence[str] = ()) -> StationScores:
    """A scores dataset (:func:`geoanom.detector.score.score_record` or a baseline) as
    :class:`StationScores`.

    Parameters
    ----------
    ds
        Scores dataset with ``end`` and ``variable`` (dim ``window``).
    variable
        Score variable; if absent, ``score`` is used (baselines store theirs there).
    code
        Station code (default: the ``iaga_code`` attr).
    """
    var = variable if variable in ds else "score"
    if var not in ds or "end" not in ds:
        raise ValidationError("scores dataset lacks the score or the window ends",
                              expected=f"variables 'end' and {variable!r}",
                              found=", ".join(map(str, ds.data_vars)))
    end = np.asarray(ds["end"].values, dtype="datetime64[ns]").astype(np.int64)
    val = np.asarray(ds[var].values, dtype=np.float64)
    ok = np.isfinite(val) & (end != np.iinfo(np.int64).min)
    end, val = end[ok], val[ok]
    order = np.argsort(end, kind="stable")
    return StationScores(code=str(code or ds.attrs.get("iaga_code", "UNK")),
                         end_ns=end[order], value=val[order],
                         latitude_deg=float(ds.attrs.get("latitude_deg", np.nan)),
                         longitude_deg=float(ds.attrs.get("longitude_deg", np.nan)),
                         source=tuple(str(s) for s in source))


def _merge(parts: Sequence[StationScores]) -> StationScores:
    end = np.concatenate([p.end_ns for p in parts])
    val = np.concatenate([p.value for p in parts])
    order = np.argsort(end, kind="stable")
    end, val = end[order], val[order]
    # the same window scored twice (overlapping files) counts once: keep the first file's
    keep = np.ones(end.size, bool)
    keep[1:] = end[1:] != end[:-1]
    p0 = parts[0]
    return replace(p0, end_ns=end[keep], value=val[keep],
                   source=tuple(s for p in parts for s in p.source))


def load_station_scores(paths: Iterable[str | os.PathLike], *,
                        variable: str = "rmse") -> list[StationScores]:
    """Read score files (:func:`geoanom.detector.score.write_scores`) and group them by station.

    Files of the same station (same ``iaga_code``), e.g. one per month, are joined in time.
    Stations come out sorted by code.
    """
    by_code: dict[str, list[StationScores]] = {}
    for p in paths:
        s = station_scores(read_scores(p), variable=variable, source=[str(p)])
        by_code.setdefault(s.code, []).append(s)
    if not by_code:
        raise ValidationError("no score files given", expected="at least one SCORES.nc")
    return [_merge(by_code[c]) for c in sorted(by_code)]


def shift_scores(stations: Sequence[StationScores], days: float) -> list[StationScores]:
    """The same scores moved ``days`` later in time (a negative value moves them earlier).

    A control for leakage: scores moved a year against the catalog must carry no
    information about its main shocks.
    """
    dt = int(round(days * DAY_NS))
    return [replace(s, end_ns=s.end_ns + dt) for s in stations]


def sample_times(samples: object) -> tuple[np.ndarray, np.ndarray]:
    """``(pattern_end_ns, mainshock_ns)`` of DLEP samples as int64 ns; checks the order.

    Raises
    ------
    LeakageError
        If a pattern does not end strictly before its main shock.
    """
    end = np.asarray(samples.pattern_end_time, dtype="datetime64[ns]").astype(np.int64)
    ms = np.asarray(samples.mainshock_time, dtype="datetime64[ns]").astype(np.int64)
    bad = ~(end < ms)
    if bad.any():
        i = int(np.argmax(bad))
        raise LeakageError("a DLEP pattern does not end strictly before its main shock",
                           expected="pattern_end_time < mainshock_time",
                           found=f"sample {i}: {np.datetime64(int(end[i]), 'ns')} >= "
                                 f"{np.datetime64(int(ms[i]), 'ns')}")
    return end, ms


def daily_aggregates(stations: Sequence[StationScores], anchor_ns: np.ndarray,
                     n_days: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Daily max and mean of each station's scores over the ``n_days`` before each anchor.

    Parameters
    ----------
    stations
        Station scores (:class:`StationScores`).
    anchor_ns
        One anchor per sample (int64 ns or datetime64): the pattern end times.
    n_days
        ``L``, days per sample.

    Returns
    -------
    values : numpy.ndarray
        float64 ``(n_samples, 2, n_stations, n_days)``: channel 0 the max, 1 the mean of the
        scores of the windows whose end lies in day ``k``'s interval
        ``(a - (L - k) d, a - (L - k - 1) d]``; NaN where no window.
    mask : numpy.ndarray
        bool ``(n_samples, n_stations, n_days)``: True where the day holds a window.
    """
    a = np.asarray(anchor_ns)
    a = (a.astype("datetime64[ns]").astype(np.int64) if a.dtype.kind == "M"
         else a.astype(np.int64))
    n, S, L = a.size, len(stations), int(n_days)
    if L < 1:
        raise ValidationError("the aggregate window needs at least one day",
                              expected="n_days >= 1", found=str(n_days))
    values = np.full((n, len(AGGREGATES), S, L), np.nan)
    mask = np.zeros((n, S, L), bool)
    # bin edges (n, L + 1): edge k = a - (L - k) days; bin k = (edge k, edge k+1]
    edges = a[:, None] - (L - np.arange(L + 1, dtype=np.int64))[None, :] * DAY_NS
    for j, st in enumerate(stations):
        if st.value.size == 0:
            continue
        # number of windows with end <= edge: bin k holds windows idx[k] .. idx[k+1] - 1
        idx = np.searchsorted(st.end_ns, edges, side="right")
        lo, hi = idx[:, :-1], idx[:, 1:]
        cnt = hi - lo
        csum = np.concatenate([[0.0], np.cumsum(st.value)])
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = (csum[hi] - csum[lo]) / cnt
        # range max by reduceat over interleaved (lo, hi) pairs; a -inf sentinel at the end
        # keeps every index in range; empty bins are masked below
        padded = np.concatenate([st.value, [-np.inf]])
        pairs = np.stack([lo.ravel(), hi.ravel()], axis=1).ravel()
        mx = np.maximum.reduceat(padded, pairs)[::2].reshape(n, L)
        has = cnt > 0
        values[:, 0, j] = np.where(has, mx, np.nan)
        values[:, 1, j] = np.where(has, mean, np.nan)
        mask[:, j] = has
    return values, mask


def _transform(values: np.ndarray, kind: str) -> np.ndarray:
    if kind == "log":
        # reconstruction errors and band-power ratios are positive and heavy-tailed
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.log(np.maximum(values, 1e-12))
    if kind == "none":
        return values
    raise ValidationError("unknown score transform", expected="'log' or 'none'", found=kind)


def normalise(values: np.ndarray, mask: np.ndarray, train_idx: np.ndarray, *,
              transform: str = "log") -> tuple[np.ndarray, np.ndarray, dict]:
    """Z-score the aggregates with statistics of the training samples only.

    Parameters
    ----------
    values, mask
        From :func:`daily_aggregates`.
    train_idx
        Indices of the training samples of the fold.
    transform
        ``"log"`` (default) or ``"none"``, applied before the z-score.

    Returns
    -------
    x : numpy.ndarray
        float32 ``(n, A + 1, S, L)``: z-scored aggregates (clipped to +-10, 0 where masked)
        and, as the last channel, the mask as 0/1.
    mask : numpy.ndarray
        The mask, with stations that have no observed training entry masked throughout.
    stats : dict
        ``mean`` and ``std`` (A x S) and the stations masked for lack of training data.
    """
    t = _transform(values, transform)
    tr = np.asarray(train_idx, dtype=np.int64)
    m_tr = mask[tr][:, None, :, :]                     # (ntr, 1, S, L)
    w = np.broadcast_to(m_tr, t[tr].shape)
    cnt = w.sum(axis=(0, 3))                           # (A, S)
    v = np.where(w, t[tr], 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mu = v.sum(axis=(0, 3)) / cnt
        var = (np.where(w, (t[tr] - mu[None, :, :, None]) ** 2, 0.0)).sum(axis=(0, 3)) / cnt
    sd = np.sqrt(var)
    no_train = cnt[0] == 0
    sd = np.where(~np.isfinite(sd) | (sd <= 1e-12), 1.0, sd)
    mu = np.where(np.isfinite(mu), mu, 0.0)
    mask = mask & ~no_train[None, :, None]
    z = (t - mu[None, :, :, None]) / sd[None, :, :, None]
    z = np.where(mask[:, None], np.clip(z, -Z_CLIP, Z_CLIP), 0.0)
    x = np.concatenate([z, mask[:, None].astype(np.float64)], axis=1).astype(np.float32)
    stats = {"mean": mu.tolist(), "std": sd.tolist(),
             "stations_without_training_data": np.nonzero(no_train)[0].tolist()}
    return x, mask, stats


class GFEncoder(nn.Module):
    """A small CNN from the ``aggregates x stations x days`` matrix to the vector ``GF``.

    Two convolutions along days (kernel ``1 x k``, weights shared by the stations, so any
    number of stations works), then a masked mean and max over the observed days of each
    station, a masked mean over the observed stations, the observed share of their days, and
    one linear layer with ReLU, batch normalisation and dropout (as DLEP's EF and IF).

    Parameters
    ----------
    n_aggregates
        Aggregate channels (2: max, mean).
    out_dim
        Width of ``GF``.
    hidden
        Convolution channels.
    kernel_days
        Convolution kernel along days.
    dropout
        Dropout on the output.
    """

    def __init__(self, n_aggregates: int = len(AGGREGATES), out_dim: int = 32, hidden: int = 16,
                 kernel_days: int = 5, dropout: float = 0.1) -> None:
        super().__init__()
        self.n_aggregates = int(n_aggregates)
        k = int(kernel_days)
        self.conv1 = nn.Conv2d(self.n_aggregates + 1, hidden, (1, k), padding=(0, k // 2))
        self.conv2 = nn.Conv2d(hidden, hidden, (1, k), padding=(0, k // 2))
        # same output block as DLEP's EF and IF encoders, so the three streams enter the
        # gates on a comparable scale
        self.head = nn.Sequential(nn.Linear(2 * hidden + 1, out_dim), nn.ReLU(),
                                  nn.BatchNorm1d(out_dim), nn.Dropout(dropout))
        self.out_dim = int(out_dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``x`` (B, A + 1, S, L) with the mask as last channel, or (B, A, S, L) plus ``mask``
        (B, S, L); returns (B, out_dim)."""
        A = self.n_aggregates
        if mask is None:
            mask = x[:, A] > 0.5
        mask = mask.to(x.dtype).reshape(x.shape[0], 1, x.shape[2], x.shape[3])
        x = x[:, :A] * mask
        h = torch.relu(self.conv1(torch.cat([x, mask], dim=1)))
        h = torch.relu(self.conv2(h))
        n_day = mask.sum(dim=-1)                                    # (B, 1, S)
        mean_d = (h * mask).sum(dim=-1) / n_day.clamp(min=1.0)
        # masked days cannot win the max; h >= 0 after ReLU, so -1 is below every value
        max_d = torch.where(mask > 0, h, torch.full_like(h, -1.0)).amax(dim=-1)
        st_ok = (n_day > 0).to(x.dtype)                            # (B, 1, S)
        per_station = torch.cat([mean_d, max_d.clamp(min=0.0)], dim=1) * st_ok
        pooled = per_station.sum(dim=-1) / st_ok.sum(dim=-1).clamp(min=1.0)
        # observed share of days, over the stations that have data (so a station without
        # any data changes nothing)
        day_share = n_day / mask.shape[-1]
        cover = (day_share * st_ok).sum(dim=-1) / st_ok.sum(dim=-1).clamp(min=1.0)
        return self.head(torch.cat([pooled, cover], dim=1))


class ScoreStream:
    """The geomagnetic stream from fixed station scores (the provider DLEP evaluation calls).

    Parameters
    ----------
    stations
        Station scores (:class:`StationScores`), e.g. from :func:`load_station_scores`.
    n_days
        ``L``: days of scores per sample (default 30).
    out_dim, hidden, kernel_days, dropout
        :class:`GFEncoder` settings.
    transform
        Applied to the aggregates before the z-score (``"log"`` or ``"none"``).
    trained_until
        End (UTC) of the data the detector was trained on, if known: a fold whose test period
        starts before it is a leak (see ``on_leak``).
    on_leak
        ``"raise"`` (default): such a fold raises :class:`~geoanom.errors.LeakageError`;
        ``"mask"``: the stream is masked for that fold (every station, every sample), so the
        fold runs without geomagnetic data.
    """

    name = "GF"

    def __init__(self, stations: Sequence[StationScores], *, n_days: int = 30,
                 out_dim: int = 32, hidden: int = 16, kernel_days: int = 5,
                 dropout: float = 0.1, transform: str = "log",
                 trained_until: object | None = None, on_leak: str = "raise") -> None:
        if on_leak not in ("raise", "mask"):
            raise ValidationError("unknown on_leak policy", expected="'raise' or 'mask'",
                                  found=str(on_leak))
        self.on_leak = on_leak
        self.stations = list(stations)
        self.n_days = int(n_days)
        self.encoder_options = {"out_dim": int(out_dim), "hidden": int(hidden),
                                "kernel_days": int(kernel_days), "dropout": float(dropout)}
        self.transform = transform
        self.trained_until = (None if trained_until is None
                              else pd.Timestamp(trained_until).to_datetime64()
                              .astype("datetime64[ns]"))
        #: per fold: test start, normalisation statistics, coverage (filled by features)
        self.fold_info: dict[object, dict] = {}

    @property
    def dim(self) -> int:
        """Width of the ``GF`` vector."""
        return self.encoder_options["out_dim"]

    @property
    def station_codes(self) -> list[str]:
        return [s.code for s in self.stations]

    def encoder(self) -> GFEncoder:
        """A fresh (untrained) encoder for one model."""
        return GFEncoder(n_aggregates=len(AGGREGATES), **self.encoder_options)

    def test_start(self, samples: object, test_idx: Sequence[int]) -> np.datetime64:
        """First instant any test sample's matrix covers: ``min(pattern_end[test]) - L``."""
        end, _ = sample_times(samples)
        ti = np.asarray(test_idx, dtype=np.int64)
        if ti.size == 0:
            raise ValidationError("a fold without test samples", expected="test_idx non-empty")
        return np.datetime64(int(end[ti].min()) - self.n_days * DAY_NS, "ns")

    def stations_for_fold(self, samples: object, train_idx: np.ndarray, test_idx: np.ndarray,
                          fold: object) -> list[StationScores]:
        """The station scores a fold may use (here: the fixed ones, after the leakage check)."""
        if self.trained_until is not None:
            t0 = self.test_start(samples, test_idx)
            if t0 < self.trained_until and self.on_leak == "mask":
                self.fold_info.setdefault(fold, {})["masked_for_leakage"] = str(t0)
                return [replace(st, end_ns=st.end_ns[:0], value=st.value[:0])
                        for st in self.stations]
            if t0 < self.trained_until:
                raise LeakageError("the detector behind these scores was trained on data of "
                                   "this fold's test period",
                                   expected=f"test period starting at or after "
                                            f"{self.trained_until}",
                                   found=f"fold {fold} starts {t0}")
        return self.stations

    def features(self, samples: object, train_idx: Sequence[int], test_idx: Sequence[int],
                 fold: object) -> tuple[np.ndarray, np.ndarray]:
        """``(x, mask)`` for all samples, normalised with the fold's training samples.

        See the module docstring for the shapes.
        """
        tr = np.asarray(train_idx, dtype=np.int64)
        te = np.asarray(test_idx, dtype=np.int64)
        anchor, _ = sample_times(samples)
        stations = self.stations_for_fold(samples, tr, te, fold)
        values, mask = daily_aggregates(stations, anchor, self.n_days)
        x, mask, stats = normalise(values, mask, tr, transform=self.transform)
        any_obs = mask.any(axis=(1, 2))
        self.fold_info[fold] = dict(self.fold_info.get(fold, {}), normalisation=stats,
                                    n_train_with_data=int(any_obs[tr].sum()),
                                    n_test_with_data=int(any_obs[te].sum()),
                                    stations=[s.code for s in stations])
        return x, mask

    def coverage(self, samples: object) -> dict:
        """How many samples have any scored window in their ``L`` days, per station and in all."""
        anchor, _ = sample_times(samples)
        _, mask = daily_aggregates(self.stations, anchor, self.n_days)
        return {"n_samples": int(mask.shape[0]),
                "n_with_any_data": int(mask.any(axis=(1, 2)).sum()),
                "per_station": {s.code: int(mask[:, j].any(axis=1).sum())
                                for j, s in enumerate(self.stations)},
                "observed_day_share": float(mask.mean()) if mask.size else 0.0}


def _region_centre(region: object) -> tuple[float, float] | None:
    """``(lat, lon)`` of a region's box centre, for the distance filter; None if unknown."""
    box = getattr(region, "box", None)
    if box is None and isinstance(region, Mapping):
        box = region.get("box")
    if box is None:
        return None
    lon0, lon1, lat0, lat1 = (float(v) for v in box)
    return 0.5 * (lat0 + lat1), 0.5 * (lon0 + lon1)


def stream_from_scores(paths: Iterable[str | os.PathLike], samples: object,
                       region: object = None, *, variable: str = "rmse",
                       max_distance_km: float | None = None, **options) -> ScoreStream:
    """The ``GF`` provider from precomputed score files (what ``--geomag-scores`` builds).

    Parameters
    ----------
    paths
        Score netCDF files (one or more per station).
    samples
        The DLEP samples (used to check that some sample has data: otherwise the stream
        would be all mask and the comparison empty).
    region
        The DLEP region; with ``max_distance_km``, stations farther than that from its box
        centre (``region.box = (lon0, lon1, lat0, lat1)``) are left out.
    variable
        Score variable (``rmse``; files without it use ``score``).
    options
        :class:`ScoreStream` keywords (``n_days``, ``out_dim``, ``trained_until``, ...).

    Raises
    ------
    ValidationError
        If no sample has any scored window in its ``L`` days.
    """
    paths = [Path(p) for p in paths]
    stations = load_station_scores(paths, variable=variable)
    centre = _region_centre(region)
    if max_distance_km is not None and centre is not None:
        d = [float(great_circle_km(centre[0], centre[1], s.latitude_deg, s.longitude_deg))
             for s in stations]
        stations = [s for s, di in zip(stations, d, strict=True) if not di > max_distance_km]
    stream = ScoreStream(stations, **options)
    cov = stream.coverage(samples)
    if cov["n_with_any_data"] == 0:
        spans = ", ".join(f"{s.code} {np.datetime64(int(s.end_ns[0]), 's')}.."
                          f"{np.datetime64(int(s.end_ns[-1]), 's')}"
                          for s in stream.stations if s.end_ns.size)
        raise ValidationError("the geomagnetic scores do not overlap the L days before any "
                              "DLEP sample's main shock", path=paths[0] if paths else None,
                              expected=f"scores within {stream.n_days} days before a main "
                                       "shock of the catalog",
                              found=spans or "no finite score")
    stream.coverage_summary = cov
    return stream


class RollingOriginStream(ScoreStream):
    """The geomagnetic stream with a detector retrained per fold on the past only.

    For each fold the test period starts at :meth:`ScoreStream.test_start`; each station's
    detector is trained (:func:`geoanom.detector.windows.build_window_set`,
    :func:`geoanom.detector.nn.train.train`) on its record and the catalog strictly before that
    instant, then scores the whole record (:func:`geoanom.detector.score.score_record`). Results are
    cached per test start (folds with the same start share detectors).

    Parameters
    ----------
    records
        Station code to clean station record (already preprocessed; preprocessing must be
        causal, or it carries a little of the future into the training period).
    catalog
        Catalog for the detector's labels.
    work_dir
        Folder for the per-fold model artifacts.
    window_config
        :class:`~geoanom.detector.windows.WindowConfig`; its ``split_fractions`` are used within the
        training period (a test share is pointless here and may be 0).
    train_config
        :class:`~geoanom.detector.nn.train.TrainConfig`.
    min_train_days
        A station with less record than this before the test start is masked for the fold;
        so is a station whose detector cannot be trained there (e.g. no seismic window for
        negative learning): the reason is kept in :attr:`trained`.
    scorer
        Optional ``scorer(record, artifact_dir) -> scores dataset``; default
        :func:`geoanom.detector.score.score_record`.
    device
        Torch device for training and scoring.
    options
        :class:`ScoreStream` keywords.
    """

    def __init__(self, records: Mapping[str, xr.Dataset], catalog: pd.DataFrame, *,
                 work_dir: str | os.PathLike, window_config: object | None = None,
                 train_config: object | None = None, min_train_days: float = 60.0,
                 scorer: Callable[[xr.Dataset, Path], xr.Dataset] | None = None,
                 device: str | None = "cpu", **options) -> None:
        super().__init__([], **options)
        self.records = dict(records)
        self.catalog = catalog
        self.work_dir = Path(work_dir)
        self.window_config = window_config
        self.train_config = train_config
        self.min_train_days = float(min_train_days)
        self.scorer = scorer
        self.device = device
        self._cache: dict[int, list[StationScores]] = {}
        #: per test start (int ns): per station, what the detector was trained on
        self.trained: dict[int, dict[str, dict]] = {}

    @property
    def station_codes(self) -> list[str]:
        return sorted(self.records)

    def _train_station(self, code: str, t0: np.datetime64, out: Path) -> tuple[dict, Path | None]:
        rec = self.records[code]
        # a sample stands for [t, t + period): keep only samples that end by the test start,
        # so every training window ends at or before it
        period = np.timedelta64(int(round(float(rec.attrs["sampling_period_s"]) * 1e9)), "ns")
        cut = rec.sel(time=rec["time"] + period <= t0)
        info: dict = {"test_start": str(t0), "n_samples": int(cut.sizes["time"])}
        if cut.sizes["time"] == 0:
            info["skipped"] = "no record before the test start"
            return info, None
        span_days = (cut["time"].values[-1] - cut["time"].values[0]) / np.timedelta64(1, "D")
        if span_days < self.min_train_days:
            info["skipped"] = f"only {span_days:.1f} days of record before the test start"
            return info, None
        cat = self.catalog[self.catalog["time"].to_numpy() < t0]
        info["catalog_last_event"] = str(cat["time"].max()) if len(cat) else None
        cfg = self.window_config or WindowConfig(split_fractions=(0.8, 0.2, 0.0))
        try:
            ws = build_window_set(cut, cat, cfg)
            info["last_window_end"] = str(ws["end"].values.max())
            res = train(ws, self.train_config or TrainConfig(), out_dir=out,
                        device=self.device, resume=False, progress=False)
        except GeoanomError as exc:
            # e.g. no seismic or no validation window yet: the fold has no detector here
            info["skipped"] = str(exc)
            return info, None
        info["best_epoch"] = int(res.best_epoch)
        info["best_metric"] = float(res.best_metric)
        return info, Path(res.out_dir)

    def stations_for_fold(self, samples: object, train_idx: np.ndarray, test_idx: np.ndarray,
                          fold: object) -> list[StationScores]:
        """Train (or reuse) each station's detector on data before the fold's test start,
        and score the whole record with it."""
        t0 = self.test_start(samples, test_idx)
        key = int(t0.astype(np.int64))
        if key in self._cache:
            return self._cache[key]
        out_stations, infos = [], {}
        for code in self.station_codes:
            out = self.work_dir / f"origin_{np.datetime_as_string(t0, unit='s')}".replace(
                ":", "") / code
            info, artifact = self._train_station(code, t0, out)
            infos[code] = info
            rec = self.records[code]
            if artifact is None:
                st = StationScores(code=code, end_ns=np.zeros(0, np.int64),
                                   value=np.zeros(0), source=(info["skipped"],))
            else:
                ds = (self.scorer(rec, artifact) if self.scorer is not None
                      else score_record(artifact, rec, device=self.device))
                st = station_scores(ds, code=code, source=[str(artifact)])
            out_stations.append(st)
        self.trained[key] = infos
        self._cache[key] = out_stations
        return out_stations


def run_fusion(samples: object, score_paths: Sequence[str | os.PathLike], *,
               region: object = None, shift_days: float = 365.0,
               seeds: Sequence[int] = (0, 1, 2, 3, 4), config: object = None,
               variable: str = "rmse", n_days: int = 30, progress: bool = False) -> dict:
    """DLEP without the geomagnetic stream, with it, and with it shifted by ``shift_days``
    (the null), under the chronological (rolling-origin) protocol, plus the trivial
    references, on the same samples and folds.

    Parameters
    ----------
    samples
        DLEP samples (:mod:`geoanom.dlep.segment`).
    score_paths
        Per-station score files (several stations make the stream's station axis).
    region
        The DLEP region (for the station distance filter of :func:`stream_from_scores`).
    shift_days
        Days the null stream is moved later (0: no null row).
    seeds, config
        Seeds and :class:`geoanom.dlep.config.DLEPConfig`.
    variable, n_days
        Score variable and the days of scores per sample (``L``).
    progress
        Progress on stderr.

    Returns
    -------
    dict
        ``rows`` (one per variant: ``variant``, ``method``, ``acc``/``mauc`` mean and std,
        ``per_seed`` records ``seed``, ``acc``, ``mauc``, ``n_test``, ``n_test_with_geomag``),
        ``coverage`` (of the real stream), ``stations`` and ``table`` (text).
    """
    real = stream_from_scores(score_paths, samples, region, variable=variable, n_days=n_days)
    variants: list[tuple[str, str, object]] = [
        ("without stream", "dlep", None),
        ("with stream", "dlep+geomag", real),
    ]
    if shift_days:
        null = ScoreStream(shift_scores(real.stations, shift_days), n_days=n_days)
        variants.append((f"stream shifted {shift_days:g} d (null)", "dlep+geomag", null))
    variants += [("majority class", "majority", None), ("climatology", "climatology", None)]
    rows = []
    for name, method, stream in variants:
        extra = None if stream is None else {"GF": stream}
        r = evaluate(samples, method, "chrono", seeds=list(seeds), config=config,
                     extra_streams=extra, progress=progress)
        n_test = sum(f["n_test"] for f in r.per_seed[0]["folds"])
        with_data = None
        if stream is not None:
            with_data = int(sum(v.get("n_test_with_data", 0)
                                for v in stream.fold_info.values()))
        rows.append({"variant": name, "method": method, "acc_mean": r.acc_mean,
                     "acc_std": r.acc_std, "mauc_mean": r.mauc_mean, "mauc_std": r.mauc_std,
                     "n_test": n_test, "n_test_with_geomag": with_data,
                     "per_seed": [{"seed": d["seed"], "acc": d["acc"], "mauc": d["mauc"],
                                   "brier": d.get("brier")} for d in r.per_seed]})

    def pm(m: float, s: float) -> str:
        return f"{100 * m:.2f}±{100 * s:.2f}" if np.isfinite(s) else f"{100 * m:.2f}±n/a"

    lines = [f"Fusion (chronological, rolling origin; {len(list(seeds))} seeds; stations "
             f"{', '.join(real.station_codes)}; {real.coverage_summary['n_with_any_data']} of "
             f"{len(samples)} samples have scores in their {n_days} days)",
             f"{'variant':34s} {'ACC %':>14s} {'MAUC %':>14s} {'test':>5s} {'with geomag':>11s}"]
    for r in rows:
        wd = "-" if r["n_test_with_geomag"] is None else str(r["n_test_with_geomag"])
        lines.append(f"{r['variant']:34s} {pm(r['acc_mean'], r['acc_std']):>14s} "
                     f"{pm(r['mauc_mean'], r['mauc_std']):>14s} {r['n_test']:>5d} {wd:>11s}")
    few = rows[1]["n_test_with_geomag"]
    if few is not None and few < 30:
        lines.append(f"only {few} test samples carry geomagnetic data: any difference rests "
                     f"on few samples")
    return {"rows": rows, "coverage": real.coverage_summary, "stations": real.station_codes,
            "table": "\n".join(lines)}
