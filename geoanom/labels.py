"""THE label rule and THE "seen by the station" rule (METHODS.md section 1), in one place.

Every caller uses these functions and :class:`LabelRule`, the rule's settings:
:func:`geoanom.detector.windows.label_windows` (training labels), the significance protocol
(:mod:`geoanom.stats`: target events, eligible bins, placebos, baselines, the target
accounting and the legacy window-level test), the demo, and the synthetic world's precursor
injection. A change here changes all of them together.

* **Seen by the station** (:func:`seen_by_station`): epicentral great-circle distance
  ``<= r(M)``, the detection radius of the rule's ``detectability``
  (:func:`detection_radius_km`):

  - ``"dobrovolsky"`` (default): ``r = 10 ** (0.43 M)`` km (Dobrovolsky et al. 1979), or the
    fixed ``radius`` in km;
  - ``"group"``: the precursor group's event rule (METHODS.md section 7): ``M >= 5``,
    ``R <= 180`` km, depth ``<= 200`` km, and detectable if ``0.025 R < M - 4.5`` or
    ``M >= 6.5`` or ``R <= 30`` km, i.e. ``r = 180`` km for ``M >= 6.5``, else
    ``min(180, max(30, 40 (M - 4.5)))`` km (a distance of exactly ``40 (M - 4.5)`` counts);
  - ``"ks"``: the local seismicity index ``Ks = 10 ** (0.75 M) / (R + 100)`` at or above
    ``ks_threshold``, i.e. ``r = 10 ** (0.75 M) / ks_threshold - 100`` km.

  Optional magnitude floor and depth cut (unknown depth passes, since catalogs without
  depth would otherwise have no events), and an optional cap on the radius.
* **Declustering scope** (:func:`declustered`): the catalog's own ``mainshock`` column wins;
  otherwise the events of ``M >= min_magnitude`` (the target magnitude) are declustered
  among themselves and smaller events are never mainshocks. For Gardner-Knopoff windows the
  scope changes nothing for targets (events are taken in decreasing magnitude, so a smaller
  event never absorbs a larger one); for the nearest-neighbour method it keeps the target
  set from depending on how complete the catalog is below the target magnitude. Sequences
  come from the past only unless ``foreshocks`` is set (:func:`geoanom.decluster.decluster`),
  and ``attrs["depends_on_later_data"]`` says when they do not.
* **Labels** (:func:`window_labels`, the rule of :mod:`geoanom.detector.windows`' module
  docstring): *seismic* (1) when the window end lies ``lead_min .. lead_max`` days before a
  target event (seen, ``M >= m_min``, depth cut, mainshock), carrying the nearest in time
  (ties: larger magnitude, then smaller event id); *normal* (0) when no *blocking* event has
  its origin in ``[start - post_event_exclusion_days, end + lead_max + buffer_days]`` and,
  with ``require_catalog_coverage``, that interval lies inside the catalog's time span;
  *excluded* (-1) otherwise. Blocking events (aftershocks included, no depth cut) are, by
  ``normal_rule``: ``"margin"`` (default) the seen events of
  ``M >= m_min - normal_margin_magnitude``; ``"detectable"`` the seen events of
  ``M >= m_min``, the events the rule calls detectable, so that a station that sees many
  small events far away can still have normal windows.
* **Why an event is not a target** (:func:`target_reasons`): outside the radius, too deep,
  declustered (with its sequence head), per event; :mod:`geoanom.stats.targets` adds the
  reasons of the test (test period, data gap, post-event exclusion).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import pandas as pd

from geoanom._time import NS_PER_DAY
from geoanom.catalog_frame import dobrovolsky_radius_km, great_circle_km
from geoanom.decluster import decluster
from geoanom.errors import ConfigError, ValidationError

__all__ = ["DETECTABILITY", "NORMAL_RULES", "LabelRule", "WindowLabels", "declustered",
           "detection_radius_km", "mainshock_flags", "seen_by_station", "station_distance_km",
           "target_reasons", "window_labels"]

_DAY_NS = NS_PER_DAY

#: THE detectability rules (``LabelRule.detectability``), see the module docstring.
DETECTABILITY = ("dobrovolsky", "group", "ks")
#: THE rules for which events block normal windows (``LabelRule.normal_rule``).
NORMAL_RULES = ("margin", "detectable")
#: The precursor group's limits (METHODS.md section 7): magnitude, distance and depth.
GROUP_MIN_MAGNITUDE = 5.0
GROUP_MAX_DISTANCE_KM = 180.0
GROUP_MAX_DEPTH_KM = 200.0
#: The default ``ks_threshold``: ``Ks >= 40`` holds for an M5 within 41 km, an M5.5 within
#: 233 km and an M6 within 690 km (no published value is a default; it is a setting).
KS_THRESHOLD = 40.0


def station_distance_km(catalog: pd.DataFrame, lat: float, lon: float) -> np.ndarray:
    """Epicentral great-circle distance (km) of every catalog event from the station."""
    return great_circle_km(float(lat), float(lon), catalog["latitude_deg"].to_numpy(float),
                           catalog["longitude_deg"].to_numpy(float))


def detection_radius_km(magnitude, *, detectability: str = "dobrovolsky",
                        radius: str | float = "dobrovolsky", ks_threshold: float = KS_THRESHOLD,
                        max_radius_km: float | None = None) -> np.ndarray:
    """THE detection radius ``r(M)`` (km) of a detectability rule (module docstring).

    Parameters
    ----------
    magnitude
        Magnitude(s).
    detectability
        ``"dobrovolsky"`` (``radius``), ``"group"`` or ``"ks"``.
    radius
        For ``"dobrovolsky"``: ``"dobrovolsky"`` (``10 ** (0.43 M)`` km) or a fixed radius in
        km. The other rules have their own radius and need the default.
    ks_threshold
        For ``"ks"``: the smallest ``Ks = 10 ** (0.75 M) / (R + 100)`` detected.
    max_radius_km
        Cap on the radius (``None``: none).

    Returns
    -------
    numpy.ndarray
        Radius in km; ``-inf`` where the rule sees no event of that magnitude (group:
        ``M < 5``).
    """
    m = np.asarray(magnitude, dtype=float)
    if detectability not in DETECTABILITY:
        raise ConfigError("unknown detectability rule", expected=", ".join(DETECTABILITY),
                          found=str(detectability))
    if detectability != "dobrovolsky" and radius != "dobrovolsky":
        raise ConfigError(f"a fixed radius applies to detectability 'dobrovolsky' only, not "
                          f"{detectability!r}", expected='radius = "dobrovolsky"',
                          found=repr(radius))
    if detectability == "group":
        r = np.where(m >= 6.5, GROUP_MAX_DISTANCE_KM,
                     np.minimum(GROUP_MAX_DISTANCE_KM, np.maximum(30.0, 40.0 * (m - 4.5))))
        r = np.where(m >= GROUP_MIN_MAGNITUDE, r, -np.inf)
    elif detectability == "ks":
        if not ks_threshold > 0:
            raise ConfigError("ks_threshold must be positive", found=str(ks_threshold))
        r = 10.0 ** (0.75 * m) / ks_threshold - 100.0
    elif isinstance(radius, str):
        if radius != "dobrovolsky":
            raise ConfigError("unknown radius rule", expected="'dobrovolsky' or km > 0",
                              found=radius)
        r = dobrovolsky_radius_km(m)
    else:
        r = np.full(m.shape, float(radius))
    if max_radius_km is not None:
        r = np.minimum(r, float(max_radius_km))
    return r


def _too_deep(catalog: pd.DataFrame, max_depth_km: float | None, detectability: str
              ) -> np.ndarray:
    """Deeper than the depth cut or, for the group rule, than its 200 km (NaN passes)."""
    depth = catalog["depth_km"].to_numpy(float)
    limit = np.inf if max_depth_km is None else float(max_depth_km)
    if detectability == "group":
        limit = min(limit, GROUP_MAX_DEPTH_KM)
    return depth > limit


def seen_by_station(catalog: pd.DataFrame, lat: float, lon: float, *,
                    radius: str | float = "dobrovolsky", detectability: str = "dobrovolsky",
                    ks_threshold: float = KS_THRESHOLD, max_radius_km: float | None = None,
                    min_magnitude: float = -np.inf, max_depth_km: float | None = None,
                    beyond_factor: float | None = None) -> np.ndarray:
    """THE "seen by the station" rule: which catalog events the station can see.

    Parameters
    ----------
    catalog
        Catalog frame (:mod:`geoanom.catalog_frame`).
    lat, lon
        Station coordinates, degrees.
    radius, detectability, ks_threshold, max_radius_km
        The detection radius ``r(M)``, see :func:`detection_radius_km`.
    min_magnitude
        Only events of ``M >= min_magnitude``.
    max_depth_km
        Depth cut (km); ``None``: no cut (the group rule keeps its own 200 km). Unknown
        depth (NaN) always passes.
    beyond_factor
        If given, the events *beyond* ``beyond_factor * r(M)`` instead (the far placebo).

    Returns
    -------
    numpy.ndarray
        Boolean mask over the catalog's rows.
    """
    mag = catalog["magnitude"].to_numpy(float)
    dist = station_distance_km(catalog, lat, lon)
    r = detection_radius_km(mag, detectability=detectability, radius=radius,
                            ks_threshold=ks_threshold, max_radius_km=max_radius_km)
    ok = (mag >= min_magnitude) & ~_too_deep(catalog, max_depth_km, detectability)
    if beyond_factor is None:
        return ok & (dist <= r)
    return ok & (dist > beyond_factor * r)


def declustered(catalog: pd.DataFrame, method: str, min_magnitude: float = -np.inf, *,
                foreshocks: bool = False) -> pd.DataFrame:
    """The catalog with ``mainshock`` and ``sequence_id`` columns: THE declustering scope.

    A ``mainshock`` column already in the catalog is used as given (``sequence_id`` then
    defaults to each mainshock's own id). Otherwise ``method`` (``"gardner_knopoff"``,
    ``"nearest_neighbour"`` or ``"none"``) is applied to the events of
    ``M >= min_magnitude`` only, from the past only unless ``foreshocks``
    (:func:`geoanom.decluster.decluster`); smaller events get ``mainshock = False`` and
    ``sequence_id = ""``. ``attrs["declustering"]`` says which, and
    ``attrs["depends_on_later_data"]`` why the sequences depend on later events (``""``:
    they do not; a given column is taken as it is).
    """
    out = catalog.copy()
    out.attrs = dict(catalog.attrs)
    if "mainshock" in catalog.columns:
        out["mainshock"] = catalog["mainshock"].to_numpy(bool)
        if "sequence_id" not in catalog.columns:
            out["sequence_id"] = np.where(out["mainshock"], out["event_id"].astype(str), "")
        out.attrs.setdefault("declustering", "given by the catalog's mainshock column")
        out.attrs.setdefault("depends_on_later_data", "")
        return out
    sel = catalog["magnitude"].to_numpy(float) >= min_magnitude
    main = np.zeros(len(catalog), bool)
    seq = np.full(len(catalog), "", dtype=object)
    scope = f" of the events of M >= {min_magnitude:g}" if np.isfinite(min_magnitude) else ""
    later = ""
    if method == "none":
        main[sel] = True
        seq[sel] = catalog["event_id"].astype(str).to_numpy()[sel]
        desc = "none"
    else:
        sub = catalog.loc[sel].reset_index(drop=True)
        sub.attrs = dict(catalog.attrs)
        desc = method
        if len(sub):
            d = decluster(sub, method, foreshocks=foreshocks)
            main[sel] = d["mainshock"].to_numpy(bool)
            seq[sel] = d["sequence_id"].astype(str).to_numpy()
            desc = str(d.attrs.get("declustering", method))
            later = str(d.attrs.get("depends_on_later_data", ""))
    out["mainshock"] = main
    out["sequence_id"] = seq
    # "none" needs no scope: every event is its own sequence
    out.attrs["declustering"] = desc if method == "none" else desc + scope
    out.attrs["depends_on_later_data"] = later
    return out


def mainshock_flags(catalog: pd.DataFrame, method: str, min_magnitude: float = -np.inf, *,
                    foreshocks: bool = False) -> np.ndarray:
    """``mainshock`` flags of :func:`declustered` (the same scope), as a boolean array."""
    if "mainshock" in catalog.columns:
        return catalog["mainshock"].to_numpy(bool)
    return declustered(catalog, method, min_magnitude,
                       foreshocks=foreshocks)["mainshock"].to_numpy(bool)


@dataclass(frozen=True)
class LabelRule:
    """THE label rule's settings (units: days, km, magnitude units); a window config
    (``WindowConfig.label_rule``) and the significance protocol (``Protocol.target``) each
    hold one.

    Attributes
    ----------
    m_min
        Target magnitude threshold.
    max_depth_km
        Target events deeper than this are not targets (unknown depth passes).
    radius
        ``"dobrovolsky"`` (``R = 10 ** (0.43 M)`` km) or a fixed radius in km (detectability
        ``"dobrovolsky"`` only).
    detectability
        Which events the station sees (:data:`DETECTABILITY`, :func:`detection_radius_km`):
        ``"dobrovolsky"`` (default: ``radius``), ``"group"`` or ``"ks"``.
    ks_threshold
        The smallest local seismicity index ``Ks`` detected (``"ks"`` only).
    lead_days
        ``(lead_min, lead_max)`` in days: a seismic window ends this long before its event.
    buffer_days
        Extra days after ``lead_max`` that must be free of blocking events for a normal window.
    normal_margin_magnitude
        With ``normal_rule = "margin"``: events with ``M >= m_min - normal_margin_magnitude``
        block normal windows.
    normal_rule
        Which seen events block normal windows (:data:`NORMAL_RULES`): ``"margin"`` (default)
        or ``"detectable"`` (``M >= m_min``).
    post_event_exclusion_days
        Days after a blocking event during which no window is normal.
    require_catalog_coverage
        Normal windows need their whole blocking interval inside the catalog's time span.
    decluster
        A method of :data:`geoanom.decluster.METHODS`: ``"gardner_knopoff"`` (default),
        ``"nearest_neighbour"`` or ``"none"`` (every event its own sequence; flagged).
    decluster_foreshocks
        ``False`` (default): sequences from the past only. ``True``: the foreshock
        treatment (symmetric windows), whose target set depends on later data.
    """

    m_min: float = 5.0
    max_depth_km: float = 100.0
    radius: str | float = "dobrovolsky"
    detectability: str = "dobrovolsky"
    ks_threshold: float = KS_THRESHOLD
    lead_days: tuple[float, float] = (1.0, 30.0)
    buffer_days: float = 5.0
    normal_margin_magnitude: float = 0.5
    normal_rule: str = "margin"
    post_event_exclusion_days: float = 30.0
    require_catalog_coverage: bool = True
    decluster: str = "gardner_knopoff"
    decluster_foreshocks: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "lead_days", tuple(float(v) for v in self.lead_days))
        if not isinstance(self.radius, str):
            object.__setattr__(self, "radius", float(self.radius))

    def seen(self, catalog: pd.DataFrame, lat: float, lon: float, *,
             min_magnitude: float = -np.inf, max_depth_km: float | None = None,
             beyond_factor: float | None = None, max_radius_km: float | None = None
             ) -> np.ndarray:
        """:func:`seen_by_station` with this rule's radius and detectability."""
        return seen_by_station(catalog, lat, lon, radius=self.radius,
                               detectability=self.detectability,
                               ks_threshold=self.ks_threshold, max_radius_km=max_radius_km,
                               min_magnitude=min_magnitude, max_depth_km=max_depth_km,
                               beyond_factor=beyond_factor)

    def declustered(self, catalog: pd.DataFrame) -> pd.DataFrame:
        """:func:`declustered` with this rule's method, scope and direction."""
        return declustered(catalog, self.decluster, self.m_min,
                           foreshocks=self.decluster_foreshocks)

    def describe(self, max_radius_km: float | None = None) -> str:
        """The target definition in words (magnitude, depth, detectability, declustering)."""
        if self.detectability == "group":
            seen = ("the precursor group's rule (M >= 5, R <= 180 km, depth <= 200 km; "
                    "0.025 R < M - 4.5 or M >= 6.5 or R <= 30 km)")
        elif self.detectability == "ks":
            seen = f"Ks = 10^(0.75 M) / (R + 100) >= {self.ks_threshold:g}"
        elif isinstance(self.radius, str):
            seen = "R <= 10^(0.43 M) km (Dobrovolsky)"
        else:
            seen = f"R <= {self.radius:g} km"
        cap = "" if max_radius_km is None else f", R <= {max_radius_km:g} km"
        way = ("foreshock windows: depends on later data" if self.decluster_foreshocks
               else "sequences from the past only")
        decl = "no declustering" if self.decluster == "none" else f"{self.decluster}, {way}"
        return (f"M >= {self.m_min:g}, depth <= {self.max_depth_km:g} km, {seen}{cap}; "
                f"mainshocks ({decl})")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict, keyed by the field names."""
        d = asdict(self)
        d["lead_days"] = list(self.lead_days)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LabelRule:
        """The rule from the keys of ``d`` that name its fields (defaults for the missing
        ones); other keys are left to the caller (a window config's flat dict holds both)."""
        return cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d})


@dataclass
class WindowLabels:
    """Output of :func:`window_labels` (arrays over windows in the order given).

    ``event`` is the catalog row (of ``catalog``, the declustered copy) of a seismic
    window's event, -1 otherwise; ``lead_ns`` its lead (event time minus window end, ns),
    -1 otherwise; ``distance_km`` and ``target`` are over the catalog's rows.
    """

    label: np.ndarray
    event: np.ndarray
    lead_ns: np.ndarray
    catalog: pd.DataFrame
    distance_km: np.ndarray
    target: np.ndarray
    declustering: str
    depends_on_later_data: str = ""


def _nearest_target(e: np.ndarray, t_ev, mag, ids, target, lead_min: int, lead_max: int):
    """Per window the nearest target in time whose lead window holds the window end."""
    W = e.size
    best = np.full(W, -1, np.int64)
    best_lead = np.full(W, np.iinfo(np.int64).max, np.int64)
    for j in np.flatnonzero(target):
        lo = np.searchsorted(e, t_ev[j] - lead_max, "left")
        hi = np.searchsorted(e, t_ev[j] - lead_min, "right")
        if hi <= lo:
            continue
        idx = np.arange(lo, hi)
        lead = t_ev[j] - e[idx]
        cur = best[idx]
        better = lead < best_lead[idx]
        tie = (lead == best_lead[idx]) & (cur >= 0)
        if tie.any():
            cm = mag[np.where(cur >= 0, cur, 0)]
            cid = ids[np.where(cur >= 0, cur, 0)]
            better |= tie & ((mag[j] > cm) | ((mag[j] == cm) & (ids[j] < cid)))
        best[idx[better]] = j
        best_lead[idx[better]] = lead[better]
    return best, np.where(best >= 0, best_lead, -1)


def window_labels(start_ns, end_ns, catalog: pd.DataFrame, lat: float, lon: float,
                  rule: LabelRule) -> WindowLabels:
    """THE label rule: seismic (1), normal (0) or excluded (-1) for each window.

    Parameters
    ----------
    start_ns, end_ns
        Window starts and (exclusive) ends, int64 ns since the epoch or datetime64, in any
        order.
    catalog
        Catalog frame, time-sorted; declustered here with :func:`declustered` (scope: the
        events of ``M >= rule.m_min``) unless it carries a ``mainshock`` column.
    lat, lon
        Station coordinates, degrees.
    rule
        The label fields.

    Returns
    -------
    WindowLabels
    """
    s = np.asarray(start_ns).astype("datetime64[ns]").astype(np.int64)
    e = np.asarray(end_ns).astype("datetime64[ns]").astype(np.int64)
    if s.shape != e.shape:
        raise ValidationError("window starts and ends differ in number",
                              expected=str(e.shape), found=str(s.shape))
    if rule.normal_rule not in NORMAL_RULES:
        raise ConfigError("unknown normal_rule", expected=", ".join(NORMAL_RULES),
                          found=str(rule.normal_rule))
    cat = rule.declustered(catalog)
    t_ev = cat["time"].to_numpy().astype("datetime64[ns]").astype(np.int64)
    mag = cat["magnitude"].to_numpy(float)
    dist = station_distance_km(cat, lat, lon)
    ids = cat["event_id"].astype(str).to_numpy()
    seen = rule.seen(cat, lat, lon)
    target = rule.seen(cat, lat, lon, min_magnitude=rule.m_min,
                       max_depth_km=rule.max_depth_km) & cat["mainshock"].to_numpy(bool)
    m_block = rule.m_min - (rule.normal_margin_magnitude if rule.normal_rule == "margin" else 0)
    blocker = seen & (mag >= m_block)
    lead_min, lead_max = (int(round(v * _DAY_NS)) for v in rule.lead_days)
    # seismic: searched on the window ends in time order, mapped back to the given order
    order = np.argsort(e, kind="mergesort")
    best = np.full(e.size, -1, np.int64)
    best_lead = np.full(e.size, -1, np.int64)
    best[order], best_lead[order] = _nearest_target(e[order], t_ev, mag, ids, target,
                                                    lead_min, lead_max)
    seismic = best >= 0
    # normal: no blocking event in [start - post_exclusion, end + lead_max + buffer]
    post = int(round(rule.post_event_exclusion_days * _DAY_NS))
    ahead = lead_max + int(round(rule.buffer_days * _DAY_NS))
    tb = np.sort(t_ev[blocker])
    n_block = np.searchsorted(tb, e + ahead, "right") - np.searchsorted(tb, s - post, "left")
    normal = (n_block <= 0) & ~seismic
    if rule.require_catalog_coverage:
        if t_ev.size:
            normal &= (s - post >= t_ev.min()) & (e + ahead <= t_ev.max())
        else:
            normal[:] = False
    label = np.full(e.size, -1, np.int8)
    label[normal] = 0
    label[seismic] = 1
    return WindowLabels(label=label, event=best, lead_ns=best_lead, catalog=cat,
                        distance_km=dist, target=target,
                        declustering=str(cat.attrs.get("declustering", rule.decluster)),
                        depends_on_later_data=str(cat.attrs.get("depends_on_later_data", "")))


def target_reasons(catalog: pd.DataFrame, lat: float, lon: float, rule: LabelRule, *,
                   max_radius_km: float | None = None) -> pd.DataFrame:
    """Per event, the label rule's reasons it is not a target, and its sequence head.

    Parameters
    ----------
    catalog
        Catalog frame with ``mainshock`` and ``sequence_id`` (:meth:`LabelRule.declustered`).
    lat, lon
        Station coordinates, degrees.
    rule
        The label rule.
    max_radius_km
        Cap on the rule's radius (``None``: none).

    Returns
    -------
    pandas.DataFrame
        One row per catalog row: ``distance_km``, ``radius_km`` (the detection radius
        ``r(M)``), the reasons ``outside_radius``, ``too_deep`` and ``declustered``
        (booleans), and the sequence head's row ``head`` (-1 for a mainshock, or when the
        catalog names no head).
    """
    mag = catalog["magnitude"].to_numpy(float)
    dist = station_distance_km(catalog, lat, lon)
    r = detection_radius_km(mag, detectability=rule.detectability, radius=rule.radius,
                            ks_threshold=rule.ks_threshold, max_radius_km=max_radius_km)
    main = catalog["mainshock"].to_numpy(bool)
    ids = catalog["event_id"].astype(str).to_numpy()
    row_of = {e: i for i, e in enumerate(ids)}
    seq = catalog["sequence_id"].astype(str).to_numpy()
    head = np.array([-1 if m else row_of.get(q, -1) for m, q in zip(main, seq, strict=True)],
                    dtype=np.int64)
    return pd.DataFrame({"distance_km": dist, "radius_km": r, "outside_radius": ~(dist <= r),
                         "too_deep": _too_deep(catalog, rule.max_depth_km, rule.detectability),
                         "declustered": ~main, "head": head})
