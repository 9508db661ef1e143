"""DLEP samples from a catalog: blocks, main shocks, precursory patterns, labels.

Segmentation (DLEP paper section II-A, METHODS.md section 4): starting right after the
previous main shock, take the next ``N`` events (``n_events``) or the events of the next
``N`` days (``n_days``); the largest event of the block is the *main shock*; the ``w``
events strictly before it form its *precursory pattern*; the next block starts right after
that main shock. The label is the main shock's magnitude class.

Class edges come from a region preset (the paper's Table I, :data:`REGIONS`), from a custom
:class:`Region` (box plus five lower class edges), or from training-set quantiles
(``edges="quantiles"``): then :func:`quantile_edges` must be fitted on each training fold
(:func:`geoanom.dlep.jobs.plan_jobs` does so) and ``Samples.label`` holds only a provisional labelling
from the quantiles of *all* samples, for inspection.

Choices the paper leaves open (documented defaults):

- ties for the largest magnitude in a block: the earliest event is the main shock;
- the pattern is the ``w`` events with time strictly before the main shock's time (so an
  event sharing the main shock's timestamp never enters it); patterns may reach back into the
  previous block (the paper's Fig. 1 allows it); a main shock with fewer than ``w`` earlier
  events gives no sample;
- the last, incomplete block (fewer than ``N`` events left, or ``N`` days running past the
  catalog end) gives no sample;
- by days, a block with no event (a quiet spell) re-anchors at the next event;
- ``anchor="calendar"`` (days only) reads the 2019F paper's fixed periods instead:
  consecutive ``[t0 + kN, t0 + (k+1)N)`` periods, independent of where main shocks fall.

Event features of a pattern (:data:`PATTERN_FEATURES`): magnitude, ``log10`` of the time since
the previous catalog event in days (floored at 1 s), depth in km (NaN where the catalog has
none), and the position in the region box scaled to 0..1 (longitude, latitude).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from geoanom._time import NS_PER_DAY
from geoanom.catalog_frame import select, validate_catalog
from geoanom.dlep.indicators import compute_indicators
from geoanom.errors import ValidationError

DAY_NS = NS_PER_DAY
PATTERN_FEATURES = ("magnitude", "log10_dt_days", "depth_km", "x_rel", "y_rel")
N_CLASSES = 5
_MIN_DT_DAYS = 1.0 / 86_400.0


@dataclass(frozen=True)
class Region:
    """A DLEP region: a lon/lat box and the lower edges of the five magnitude classes.

    Parameters
    ----------
    name
        Region name.
    lon_min_deg, lon_max_deg, lat_min_deg, lat_max_deg
        The box in degrees (longitudes -180..180, west negative).
    edges
        Five increasing lower class edges (magnitude units): class ``k`` is
        ``[edges[k], edges[k+1])``, class 4 is ``[edges[4], max)``; or the string
        ``"quantiles"`` for training-set quintiles of the main-shock magnitudes.
    min_magnitude
        Events below it are dropped before segmentation (default: ``edges[0]``; ``None`` with
        quantile edges keeps every event).
    n_events, n_days
        Default block size for this region when the caller gives neither.
    paper_instances, paper_label_counts
        Table I of the DLEP paper, for comparison only.
    """

    name: str
    lon_min_deg: float
    lon_max_deg: float
    lat_min_deg: float
    lat_max_deg: float
    edges: tuple[float, ...] | str
    min_magnitude: float | None = None
    n_events: int | None = 20
    n_days: float | None = None
    paper_instances: int | None = None
    paper_label_counts: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if not (self.lon_min_deg < self.lon_max_deg and self.lat_min_deg < self.lat_max_deg):
            raise ValidationError(f"region {self.name!r}: empty box",
                                  expected="lon_min < lon_max and lat_min < lat_max",
                                  found=str(self.box))
        if isinstance(self.edges, str):
            if self.edges != "quantiles":
                raise ValidationError(f"region {self.name!r}: unknown edges",
                                      expected="5 magnitudes or 'quantiles'", found=self.edges)
        else:
            e = tuple(float(x) for x in self.edges)
            if len(e) != N_CLASSES or any(b <= a for a, b in zip(e[:-1], e[1:], strict=True)):
                raise ValidationError(f"region {self.name!r}: class edges",
                                      expected=f"{N_CLASSES} strictly increasing magnitudes",
                                      found=",".join(map(str, e)))
            object.__setattr__(self, "edges", e)
            if self.min_magnitude is None:
                object.__setattr__(self, "min_magnitude", e[0])

    @property
    def box(self) -> tuple[float, float, float, float]:
        """(lon_min, lon_max, lat_min, lat_max) in degrees."""
        return (self.lon_min_deg, self.lon_max_deg, self.lat_min_deg, self.lat_max_deg)

    @property
    def quantile_edges(self) -> bool:
        """True when class edges are fitted on each training fold."""
        return isinstance(self.edges, str)

    def to_dict(self) -> dict:
        """JSON-safe description."""
        return {"name": self.name, "box_lon_lat_deg": list(self.box),
                "edges": self.edges if isinstance(self.edges, str) else list(self.edges),
                "min_magnitude": self.min_magnitude, "n_events": self.n_events,
                "n_days": self.n_days}


_CHINA = (3.0, 4.0, 4.5, 5.0, 5.5)

#: The eight regions of the DLEP paper's Table I (box, class edges, instances, label counts).
#: ``n_events`` is our default block size (the paper does not state N): 20 events gives
#: about the paper's 1,096 Japan samples from the USGS M>=3 catalog.
REGIONS: dict[str, Region] = {r.name.lower(): r for r in (
    Region("Sichuan", 98, 106, 28, 36, _CHINA, paper_instances=906,
           paper_label_counts=(457, 214, 114, 54, 67)),
    Region("Xinjiang", 75, 95, 35, 50, _CHINA, paper_instances=1027,
           paper_label_counts=(123, 335, 316, 142, 111)),
    Region("Qinghai-Tibet", 73, 104, 26, 39, _CHINA, paper_instances=1021,
           paper_label_counts=(172, 208, 230, 157, 254)),
    Region("Shandong-Jiangsu", 114, 124, 29, 38, _CHINA, paper_instances=658,
           paper_label_counts=(481, 100, 49, 15, 13)),
    Region("Japan", 136, 143, 31, 38, (3.0, 4.8, 5.3, 5.8, 6.3), paper_instances=1096,
           paper_label_counts=(136, 416, 317, 139, 88)),
    Region("Philippines", 115, 124, 11, 19, (3.0, 4.8, 5.3, 5.8, 6.1), paper_instances=1052,
           paper_label_counts=(67, 392, 359, 112, 122)),
    Region("Chicago", -93, -82, 38, 47, (3.0, 3.2, 3.5, 4.0, 4.5), paper_instances=610,
           paper_label_counts=(276, 99, 140, 73, 22)),
    Region("Los Angeles", -125, -115, 30, 40, (3.8, 4.0, 4.5, 5.0, 5.5), paper_instances=1182,
           paper_label_counts=(417, 409, 196, 118, 42)),
)}


def get_region(name: str) -> Region:
    """A preset region by name (case-insensitive; ``_``/``-`` and spaces are equivalent)."""
    key = name.strip().lower().replace("_", " ")
    for k, r in REGIONS.items():
        if k == key or k.replace("-", " ") == key.replace("-", " "):
            return r
    raise ValidationError("unknown DLEP region", expected=", ".join(r.name for r in
                                                                      REGIONS.values())
                          + " or custom", found=name)


def custom_region(box: tuple[float, float, float, float], edges: tuple[float, ...] | str,
                  *, name: str = "custom", min_magnitude: float | None = None,
                  n_events: int | None = 20, n_days: float | None = None) -> Region:
    """A user region from ``box = (lon_min, lon_max, lat_min, lat_max)`` (degrees) and five
    class edges (magnitudes) or ``"quantiles"``."""
    return Region(name, float(box[0]), float(box[1]), float(box[2]), float(box[3]), edges,
                  min_magnitude=min_magnitude, n_events=n_events, n_days=n_days)


def classify(magnitude: np.ndarray, edges: tuple[float, ...] | np.ndarray) -> np.ndarray:
    """Class index 0..4 of each magnitude for lower edges ``edges`` (below ``edges[0]``
    counts as class 0)."""
    e = np.asarray(edges, dtype=float)
    return np.clip(np.searchsorted(e, np.asarray(magnitude, float), side="right") - 1,
                   0, len(e) - 1).astype(np.int64)


def quantile_edges(magnitude: np.ndarray, n_classes: int = N_CLASSES) -> np.ndarray:
    """Lower class edges at the quantiles ``k / n_classes`` of ``magnitude`` (a training
    set's main shocks). Ties in catalogued magnitudes (0.1 steps) can make two edges equal;
    the later one is then nudged up by 1e-6 so the classes stay ordered (that class is empty).
    """
    m = np.asarray(magnitude, dtype=float)
    if m.size == 0:
        raise ValidationError("quantile class edges need training magnitudes", found="none")
    e = np.quantile(m, np.arange(n_classes) / n_classes)
    e[0] = -np.inf  # everything below the first quintile edge is class 0 anyway
    for k in range(1, n_classes):
        e[k] = max(e[k], e[k - 1] + 1e-6)
    return e


@dataclass
class Samples:
    """DLEP samples (one per main shock), all arrays aligned on the first axis.

    Attributes
    ----------
    region : Region
    events : pandas.DataFrame
        The region's catalog the samples index into (after box and magnitude filters).
    mainshock_index : (n,) int
        Row of the main shock in ``events``.
    pattern_index : (n, w) int
        Rows of the pattern events in ``events``, oldest first.
    mainshock_time, pattern_start_time, pattern_end_time : (n,) datetime64[ns], UTC
        ``pattern_end_time`` (last pattern event) is strictly before ``mainshock_time``.
    magnitude : (n,) float
        Main-shock magnitude.
    label : (n,) int
        Class 0..4 (provisional for quantile edges, see module docstring).
    pattern : (n, w, F) float
        Event features (:data:`PATTERN_FEATURES`); NaN where unknown.
    indicators : (n, 9) float
        :data:`geoanom.dlep.indicators.INDICATOR_NAMES`; NaN where undefined.
    indicator_mask : (n, 9) bool
        True where the indicator is defined.
    config : dict
        How the samples were made (n_events / n_days, w, anchor, design, leak).
    info_end : (n,) datetime64[ns] or None
        Exclusive end of the information a sample's features may use (baselines' fixed-day
        and map windows end here). Default (None): the main-shock time.
    label_time : (n,) datetime64[ns] or None
        When the label becomes known (the chronological protocol trains only on labels known
        before a test sample's prediction time). Default (None): the main-shock time. The
        operational design sets it to the end of the target window.
    """

    region: Region
    events: pd.DataFrame = field(repr=False)
    mainshock_index: np.ndarray
    pattern_index: np.ndarray = field(repr=False)
    mainshock_time: np.ndarray = field(repr=False)
    pattern_start_time: np.ndarray = field(repr=False)
    pattern_end_time: np.ndarray = field(repr=False)
    magnitude: np.ndarray = field(repr=False)
    label: np.ndarray = field(repr=False)
    pattern: np.ndarray = field(repr=False)
    indicators: np.ndarray = field(repr=False)
    indicator_mask: np.ndarray = field(repr=False)
    config: dict = field(default_factory=dict)
    info_end: np.ndarray | None = field(default=None, repr=False)
    label_time: np.ndarray | None = field(default=None, repr=False)

    @property
    def info_end_time(self) -> np.ndarray:
        """Exclusive end of usable information per sample (datetime64[ns])."""
        return self.mainshock_time if self.info_end is None else self.info_end

    @property
    def label_known_time(self) -> np.ndarray:
        """When each label becomes known (datetime64[ns])."""
        return self.mainshock_time if self.label_time is None else self.label_time

    def __len__(self) -> int:
        return int(self.mainshock_index.size)

    @property
    def w(self) -> int:
        """Pattern length (events)."""
        return int(self.pattern_index.shape[1])

    @property
    def edges(self) -> np.ndarray:
        """Class edges used for ``label`` (quantiles of all samples for quantile regions)."""
        if self.region.quantile_edges:
            return quantile_edges(self.magnitude)
        return np.asarray(self.region.edges, dtype=float)

    def labels_for(self, train_idx: np.ndarray) -> np.ndarray:
        """Labels of all samples with class edges known from the training samples only
        (identical to ``label`` for fixed-edge regions)."""
        if not self.region.quantile_edges:
            return self.label
        return classify(self.magnitude, quantile_edges(self.magnitude[train_idx]))

    def edges_for(self, train_idx: np.ndarray) -> np.ndarray:
        """Class edges known from the training samples ``train_idx`` (the fixed edges of a
        preset or custom region, else the training quintiles)."""
        if not self.region.quantile_edges:
            return np.asarray(self.region.edges, dtype=float)
        return quantile_edges(self.magnitude[np.asarray(train_idx)])

    def class_counts(self) -> np.ndarray:
        """Samples per class (length 5)."""
        return np.bincount(self.label, minlength=N_CLASSES)

    def subset(self, idx: np.ndarray) -> Samples:
        """The samples ``idx`` (the same ``events`` table)."""
        idx = np.asarray(idx)
        arrays = {k: getattr(self, k)[idx] for k in (
            "mainshock_index", "pattern_index", "mainshock_time", "pattern_start_time",
            "pattern_end_time", "magnitude", "label", "pattern", "indicators",
            "indicator_mask")}
        for k in ("info_end", "label_time"):
            if getattr(self, k) is not None:
                arrays[k] = getattr(self, k)[idx]
        return replace(self, **arrays)


def region_events(catalog: pd.DataFrame, region: Region) -> pd.DataFrame:
    """The catalog's events inside the region box with ``magnitude >= min_magnitude``."""
    validate_catalog(catalog)
    lo0, lo1, la0, la1 = region.box
    return select(catalog, box=(la0, la1, lo0, lo1), min_magnitude=region.min_magnitude)


def _days(t: np.ndarray) -> np.ndarray:
    t = np.asarray(t, dtype="datetime64[ns]").astype(np.int64)
    return (t - (t[0] if t.size else 0)) / DAY_NS


def _mainshocks_by_events(m: np.ndarray, n_events: int) -> list[int]:
    out, start = [], 0
    while start + n_events <= m.size:
        j = start + int(np.argmax(m[start:start + n_events]))  # argmax: earliest of ties
        out.append(j)
        start = j + 1
    return out


def _mainshocks_by_days(td: np.ndarray, m: np.ndarray, n_days: float, anchor: str) -> list[int]:
    out: list[int] = []
    if td.size == 0:
        return out
    end_of_data = td[-1]
    if anchor == "calendar":
        k = np.floor((td - td[0]) / n_days).astype(np.int64)
        last_complete = int(np.floor((end_of_data - td[0]) / n_days)) - 1
        for period in range(last_complete + 1):
            lo, hi = np.searchsorted(k, [period, period + 1])
            if hi > lo:
                out.append(int(lo + np.argmax(m[lo:hi])))
        return out
    start, t_anchor = 0, td[0]
    while start < td.size:
        t_stop = t_anchor + n_days
        if t_stop > end_of_data:
            break
        stop = int(np.searchsorted(td, t_stop, side="left"))
        if stop <= start:  # no event in (anchor, anchor + N): re-anchor at the next event
            t_anchor = td[start]
            continue
        j = start + int(np.argmax(m[start:stop]))
        out.append(j)
        start, t_anchor = j + 1, td[j]
    return out


def segment_catalog(
    catalog: pd.DataFrame,
    region: Region,
    *,
    n_events: int | None = None,
    n_days: float | None = None,
    w: int = 10,
    anchor: str = "mainshock",
    char_delta: float = 0.5,
) -> Samples:
    """Cut a catalog into DLEP samples (main shock, pattern of ``w`` events, label).

    Parameters
    ----------
    catalog
        A validated catalog frame (``geoanom.catalog_frame``); filtered here to the region.
    region
        A :class:`Region` (preset from :func:`get_region` or :func:`custom_region`).
    n_events, n_days
        Block size in events or in days (exactly one; default: the region's ``n_events``,
        else its ``n_days``).
    w
        Pattern length in events (default 10).
    anchor
        ``"mainshock"`` (blocks start right after the previous main shock, the DLEP reading)
        or ``"calendar"`` (fixed consecutive ``n_days`` periods; days only).
    char_delta
        Magnitude below the pattern maximum that still counts as a characteristic event
        (indicators ``mu`` and ``c``), magnitude units.

    Returns
    -------
    Samples
    """
    if n_events is None and n_days is None:
        n_events, n_days = region.n_events, (None if region.n_events else region.n_days)
    if (n_events is None) == (n_days is None):
        raise ValidationError("give exactly one of n_events and n_days",
                              found=f"n_events={n_events}, n_days={n_days}")
    if n_events is not None and int(n_events) < 1:
        raise ValidationError("n_events must be positive", found=str(n_events))
    if n_days is not None and not float(n_days) > 0:
        raise ValidationError("n_days must be positive", found=str(n_days))
    if int(w) < 1:
        raise ValidationError("pattern length w must be positive", found=str(w))
    if anchor not in ("mainshock", "calendar") or (anchor == "calendar" and n_days is None):
        raise ValidationError("unknown segmentation anchor",
                              expected="'mainshock', or 'calendar' with n_days", found=anchor)
    w = int(w)
    ev = region_events(catalog, region)
    t = ev["time"].to_numpy("datetime64[ns]")
    m = ev["magnitude"].to_numpy(float)
    td = _days(t)
    if n_events is not None:
        js = _mainshocks_by_events(m, int(n_events))
    else:
        js = _mainshocks_by_days(td, m, float(n_days), anchor)
    js_arr = np.asarray(js, dtype=np.int64)
    # the w events strictly earlier in time than the main shock
    k = np.searchsorted(t, t[js_arr], side="left") if js_arr.size else js_arr
    keep = k >= w
    js_arr, k = js_arr[keep], k[keep]
    pidx = k[:, None] - w + np.arange(w)[None, :]
    feats = event_features(ev, region)
    pattern = feats[pidx] if pidx.size else np.zeros((0, w, len(PATTERN_FEATURES)))
    mags = m[js_arr]
    if region.quantile_edges:
        label = classify(mags, quantile_edges(mags)) if mags.size else mags.astype(np.int64)
    else:
        label = classify(mags, region.edges)
    ind, mask = compute_indicators(td[pidx] if pidx.size else np.zeros((0, w)),
                                   m[pidx] if pidx.size else np.zeros((0, w)),
                                   char_delta=char_delta)
    cfg = {"n_events": None if n_events is None else int(n_events),
           "n_days": None if n_days is None else float(n_days), "w": w, "anchor": anchor,
           "char_delta": char_delta, "region": region.to_dict(),
           "catalog_source": catalog.attrs.get("source", "unknown")}
    return Samples(
        region=region, events=ev, mainshock_index=js_arr, pattern_index=pidx,
        mainshock_time=t[js_arr], pattern_start_time=t[pidx[:, 0]] if pidx.size else t[:0],
        pattern_end_time=t[pidx[:, -1]] if pidx.size else t[:0], magnitude=mags,
        label=label, pattern=pattern, indicators=ind, indicator_mask=mask, config=cfg)


def event_features(events: pd.DataFrame, region: Region) -> np.ndarray:
    """Per-event features :data:`PATTERN_FEATURES` of a region's events, shape (n, 5)."""
    t = events["time"].to_numpy("datetime64[ns]").astype(np.int64)
    dt = np.full(t.size, np.nan)
    dt[1:] = np.maximum(np.diff(t) / DAY_NS, _MIN_DT_DAYS)
    lo0, lo1, la0, la1 = region.box
    return np.column_stack([
        events["magnitude"].to_numpy(float),
        np.log10(dt),
        events["depth_km"].to_numpy(float),
        (events["longitude_deg"].to_numpy(float) - lo0) / (lo1 - lo0),
        (events["latitude_deg"].to_numpy(float) - la0) / (la1 - la0),
    ])


# --------------------------------------------------------------------------- Table I check


def table1_check(catalog: pd.DataFrame, region: Region, samples: Samples | None = None
                 ) -> dict:
    """The class counts the catalog can give for a preset region beside the paper's Table I.

    Every main shock is a distinct catalog event, so the number of samples in class ``k``
    can never exceed the number of catalog events (in the box, at or above the region's
    minimum magnitude) whose magnitude falls in class ``k``. Where the paper's count exceeds
    that ceiling no segmentation of this catalog can reproduce it, and a warning says so.

    Parameters
    ----------
    catalog
        The catalog (filtered here to the region).
    region
        A region with fixed class edges.
    samples
        Our samples (their class counts are reported beside), optional.

    Returns
    -------
    dict
        ``paper_instances``, ``paper_counts``, ``catalog_events_per_class`` (the ceiling),
        ``our_counts``, ``our_instances``, ``catalog_span``, ``unreachable_classes`` (1-based
        class numbers), ``warnings`` (text).
    """
    out: dict = {"region": region.name, "paper_instances": region.paper_instances,
                 "paper_counts": (list(region.paper_label_counts)
                                  if region.paper_label_counts else None),
                 "edges": None if region.quantile_edges else list(region.edges),
                 "warnings": [], "unreachable_classes": []}
    if samples is not None:
        out["our_counts"] = [int(c) for c in samples.class_counts()]
        out["our_instances"] = len(samples)
    if region.quantile_edges:
        out["warnings"].append("quantile class edges: Table I counts are not comparable")
        return out
    ev = region_events(catalog, region)
    cls = classify(ev["magnitude"].to_numpy(float), region.edges)
    ceiling = np.bincount(cls, minlength=N_CLASSES)
    out["catalog_events_per_class"] = [int(c) for c in ceiling]
    t = ev["time"]
    out["catalog_span"] = ([str(t.iloc[0])[:10], str(t.iloc[-1])[:10]] if len(ev) else None)
    if region.paper_label_counts is None:
        return out
    for k, (paper, cap) in enumerate(zip(region.paper_label_counts, ceiling, strict=True)):
        if paper > cap:
            out["unreachable_classes"].append(k + 1)
            hi = (f"{region.edges[k + 1]}" if k + 1 < N_CLASSES else "max")
            out["warnings"].append(
                f"class {k + 1} (M {region.edges[k]}..{hi}): the paper has {paper} samples, "
                f"this catalog holds only {int(cap)} events of that class in the box "
                f"({out['catalog_span'][0] if out['catalog_span'] else '?'} to "
                f"{out['catalog_span'][1] if out['catalog_span'] else '?'}): no segmentation "
                f"can reach the paper's count")
    if region.paper_instances and len(ev) < region.paper_instances:
        out["warnings"].append(f"the paper has {region.paper_instances} samples, the catalog "
                               f"only {len(ev)} events in the box")
    return out


# --------------------------------------------------------------------------- leak diagnostic

LEAK_MODES = ("indicators", "cnn", "both")


def leak_mainshock(samples: Samples, mode: str) -> Samples:
    """DIAGNOSTIC ONLY: the same samples with the main shock let into its own features.

    The pattern becomes the ``w`` events *ending with* the main shock (its oldest event
    drops out). ``mode`` chooses which pattern inputs get it: ``"indicators"`` (the nine
    indicators: DLEP's EF and 2016N), ``"cnn"`` (the pattern event features: DLEP's IF and
    the ``pattern-max`` reference) or ``"both"``. In every mode the baselines' own windows
    (2019F's fixed-day period, 2018CNN's map) end just after the main shock, so they include
    it. The paper's text puts the main shock outside the pattern; this measures what the slip
    would do to the scores. Never a method.
    """
    if mode not in LEAK_MODES:
        raise ValidationError("unknown leak mode", expected=", ".join(LEAK_MODES), found=mode)
    ev = samples.events
    t = ev["time"].to_numpy("datetime64[ns]")
    td = _days(t)
    m = ev["magnitude"].to_numpy(float)
    leaky = np.column_stack([samples.pattern_index[:, 1:], samples.mainshock_index])
    changes: dict = {"config": dict(samples.config, leak=mode)}
    if mode in ("indicators", "both"):
        ind, mask = compute_indicators(td[leaky], m[leaky],
                                       char_delta=samples.config.get("char_delta", 0.5))
        changes.update(indicators=ind, indicator_mask=mask)
    if mode in ("cnn", "both"):
        changes["pattern"] = event_features(ev, samples.region)[leaky]
    # windows of the baselines end just after the main shock (it enters them)
    changes["info_end"] = samples.mainshock_time + np.timedelta64(1, "ns")
    return replace(samples, **changes)


# --------------------------------------------------------------------------- operational


def segment_operational(
    catalog: pd.DataFrame,
    region: Region,
    *,
    n_events: int | None = None,
    n_days: float | None = None,
    w: int = 10,
    char_delta: float = 0.5,
) -> Samples:
    """Samples of an operational forecast: nothing after the forecast time enters a sample.

    The catalog (region box, minimum magnitude) is walked in steps: a forecast time ``t_f``
    is the time of the last event of a pattern of ``w`` consecutive events; the label is the
    class of the largest event of the *next* ``n_events`` events after ``t_f`` (or of the
    events in ``(t_f, t_f + n_days]``). The next forecast time is the last event of the
    target window, so target windows never overlap. A days window with no event gives no
    sample (and the walk moves to the next event).

    The returned :class:`Samples` keep the meaning of every field: ``mainshock_*`` is the
    largest target event, ``pattern_end_time`` is ``t_f``, ``info_end`` is just after
    ``t_f`` (the baselines' windows end there) and ``label_time`` is the end of the target
    window (the chronological protocol trains only on labels known before a test sample's
    forecast time).
    """
    if n_events is None and n_days is None:
        n_events, n_days = region.n_events, (None if region.n_events else region.n_days)
    if (n_events is None) == (n_days is None):
        raise ValidationError("give exactly one of n_events and n_days",
                              found=f"n_events={n_events}, n_days={n_days}")
    if int(w) < 1:
        raise ValidationError("pattern length w must be positive", found=str(w))
    w = int(w)
    ev = region_events(catalog, region)
    t = ev["time"].to_numpy("datetime64[ns]")
    ti = t.astype(np.int64)
    m = ev["magnitude"].to_numpy(float)
    n = m.size
    last, main, lab_t = [], [], []
    i = w - 1  # index of the last pattern event
    while i < n - 1:
        if n_events is not None:
            j1 = i + int(n_events)
            if j1 >= n:
                break
            lo, hi = i + 1, j1 + 1
            known = ti[j1]
        else:
            t_stop = ti[i] + int(round(float(n_days) * DAY_NS))
            if t_stop > ti[-1]:
                break
            lo = i + 1
            hi = int(np.searchsorted(ti, t_stop, side="right"))
            known = t_stop
            if hi <= lo:  # empty target window
                i += 1
                continue
        j = lo + int(np.argmax(m[lo:hi]))
        last.append(i)
        main.append(j)
        lab_t.append(known)
        i = hi - 1
    last_a = np.asarray(last, np.int64)
    js = np.asarray(main, np.int64)
    pidx = ((last_a[:, None] - w + 1 + np.arange(w)[None, :]) if last_a.size else
        np.zeros((0, w), np.int64))
    feats = event_features(ev, region)
    td = _days(t)
    mags = m[js]
    label = (classify(mags, quantile_edges(mags)) if region.quantile_edges and mags.size
             else classify(mags, region.edges) if not region.quantile_edges
             else mags.astype(np.int64))
    ind, mask = compute_indicators(td[pidx] if pidx.size else np.zeros((0, w)),
                                   m[pidx] if pidx.size else np.zeros((0, w)),
                                   char_delta=char_delta)
    cfg = {"design": "operational",
           "n_events": None if n_events is None else int(n_events),
           "n_days": None if n_days is None else float(n_days), "w": w, "anchor": "forecast",
           "char_delta": char_delta, "region": region.to_dict(),
           "catalog_source": catalog.attrs.get("source", "unknown")}
    t_f = t[last_a] if last_a.size else t[:0]
    return Samples(
        region=region, events=ev, mainshock_index=js, pattern_index=pidx,
        mainshock_time=t[js] if js.size else t[:0],
        pattern_start_time=t[pidx[:, 0]] if pidx.size else t[:0],
        pattern_end_time=t_f, magnitude=mags, label=label,
        pattern=feats[pidx] if pidx.size else np.zeros((0, w, len(PATTERN_FEATURES))),
        indicators=ind, indicator_mask=mask, config=cfg,
        info_end=t_f + np.timedelta64(1, "ns"),
        label_time=np.asarray(lab_t, np.int64).astype("datetime64[ns]"))
