"""A whole synthetic world from one seed (:func:`make_world`) and its files on disk
(:meth:`World.save`).

Part of :mod:`geoanom.synthetic` (see its docstring for the physics and conventions).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from geoanom._atomic import atomic_path, atomic_write_text
from geoanom.errors import ConfigError
from geoanom.provenance import canonical_json, provenance
from geoanom.synthetic.activity import activity_index
from geoanom.synthetic.common import (
    DEFAULT_REGION,
    DEFAULT_STATIONS,
    PrecursorConfig,
    StationConfig,
    SyntheticStation,
    _as_station,
    _seeded,
    _to_ns,
    dipole_field,
)
from geoanom.synthetic.etas import aki_utsu_b, etas_catalog
from geoanom.synthetic.precursors import precursor_windows
from geoanom.synthetic.station import _station_record, _ulf_band
from geoanom.synthetic.ulf import UlfWorldConfig, _ulf_station_record


@dataclass
class World:
    """A synthetic world and its truth.

    Attributes
    ----------
    records
        Station code to station record (X, Y, Z, F in nT; see the module docstring).
    catalog
        The ETAS catalog (:func:`etas_catalog`; extra columns ``is_background``,
        ``parent_id``).
    activity
        The shared activity index (:func:`activity_index`).
    truth
        JSON-safe dict: ``precursors`` (one row per event and station: ``event_id, station,
        event_time, start, end, magnitude, depth_km, distance_km, radius_km, amplitude_nT``;
        amplitude 0 in the null world), ``signal_added``, ``precursor_config``,
        ``ulf_band_hz``, ``storms``, ``spikes`` and ``gaps`` per station, ``site_response``
        per station, ``catalog_summary``, ``conventions``.
    stations
        Station table: code, name, latitude_deg, longitude_deg, elevation_m, role,
        magnetic_latitude_deg.
    config
        Everything :func:`make_world` was given (hashed into the provenance).
    """

    records: dict[str, xr.Dataset]
    catalog: pd.DataFrame
    activity: xr.Dataset
    truth: dict
    stations: pd.DataFrame
    config: dict = field(default_factory=dict)

    @property
    def precursors(self) -> pd.DataFrame:
        """The precursor windows of the truth as a frame (times as datetime64[ns])."""
        df = pd.DataFrame(self.truth["precursors"])
        if df.empty:
            return pd.DataFrame(columns=["event_id", "station", "event_time", "start", "end",
                                         "magnitude", "depth_km", "distance_km", "radius_km",
                                         "amplitude_nT"])
        for c in ("event_time", "start", "end"):
            df[c] = pd.to_datetime(df[c]).astype("datetime64[ns]")
        return df

    def save(self, directory: str | os.PathLike) -> list[Path]:
        """Write ``<CODE>.nc`` per station, ``catalog.csv``, ``activity.csv``,
        ``stations.csv`` and ``truth.json`` (with provenance), each atomically.

        Returns the written paths.
        """
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        written = []
        seeds = {"seed": int(self.config["seed"])}
        prov = provenance(config=self.config, seeds=seeds)
        for code, rec in self.records.items():
            path = out / f"{code}.nc"
            _write_record(rec, path, self.config, seeds)
            written.append(path)
        cat = self.catalog.copy()
        cat["time"] = cat["time"].dt.strftime("%Y-%m-%dT%H:%M:%S.%f")
        with atomic_path(out / "catalog.csv") as tmp:
            cat.to_csv(tmp, index=False)
        written.append(out / "catalog.csv")
        act = pd.DataFrame({"time": pd.to_datetime(self.activity["time"].values)
                            .strftime("%Y-%m-%dT%H:%M:%S"),
                            "kp": self.activity["kp"].values,
                            "dst_nT": np.round(self.activity["dst_nT"].values, 2)})
        with atomic_path(out / "activity.csv") as tmp:
            act.to_csv(tmp, index=False)
        written.append(out / "activity.csv")
        with atomic_path(out / "stations.csv") as tmp:
            self.stations.to_csv(tmp, index=False)
        written.append(out / "stations.csv")
        truth = dict(self.truth)
        truth["provenance"] = prov
        atomic_write_text(out / "truth.json", json.dumps(json.loads(canonical_json(truth)),
                                                         indent=1, sort_keys=True) + "\n")
        written.append(out / "truth.json")
        return written


def _write_record(rec: xr.Dataset, path: Path, config: dict, seeds: dict) -> None:
    """Write one record as netCDF: geoanom.io.netcdf.write_netcdf if present, else xarray."""
    try:
        from geoanom.io.netcdf import write_netcdf
    except ImportError:  # the netCDF writer is optional while the io package grows
        write_netcdf = None
    if write_netcdf is not None:
        write_netcdf(rec, path, config=config, seeds=seeds)
        return
    ds = rec.copy()
    ds.attrs = dict(rec.attrs)
    ds.attrs["geoanom_provenance"] = canonical_json(provenance(config=config, seeds=seeds))
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp)


def _table(df: pd.DataFrame) -> list[dict]:
    """A frame as JSON-safe rows (times as ISO strings)."""
    out = df.copy()
    for c in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[c]):
            out[c] = pd.to_datetime(out[c]).dt.strftime("%Y-%m-%dT%H:%M:%S")
    return json.loads(out.to_json(orient="records"))


def make_world(
    seed: int,
    days: float,
    cadence_s: float = 60.0,
    n_stations: int = 3,
    precursor_strength: float = 0.0,
    *,
    start: object = "2020-01-01",
    stations: Sequence[SyntheticStation] | None = None,
    region: tuple[float, float, float, float] = DEFAULT_REGION,
    etas: Mapping[str, float] | None = None,
    activity_options: Mapping[str, float] | None = None,
    precursor: PrecursorConfig | None = None,
    station_config: StationConfig | None = None,
    ulf: UlfWorldConfig | None = None,
) -> World:
    """Build a whole synthetic world from one seed.

    Parameters
    ----------
    seed
        Master seed. Each part has its own stream derived from ``(seed, tag)``: the activity
        (tag 1), the catalog (tag 2) and station ``i`` of the station list (tag 100 + i), so
        the catalog does not change with ``n_stations`` and no record changes with
        ``precursor_strength`` outside the precursor windows.
    days, cadence_s
        Span (days, from ``start``) and sampling period (s) of the records.
    n_stations
        How many of :data:`DEFAULT_STATIONS` (or of ``stations``) to use.
    precursor_strength
        Strength of the precursor signatures (0: null world).
    stations, region, etas, activity_options, precursor, station_config
        Overrides: station list, seismic box, keyword arguments of :func:`etas_catalog` and
        :func:`activity_index`, the full precursor configuration (its ``strength`` is
        replaced by ``precursor_strength``), the station model amplitudes.
    ulf
        The 1-s ULF world (:mod:`geoanom.synthetic.ulf`): records get its Pc3-Pc5
        pulsations and Z/G rises before the events of the precursor windows; the truth gets
        ``ulf`` (its config and the ``raised_nights``). ``None``: the ordinary world.
    """
    seed = int(seed)
    pool = list(stations) if stations is not None else list(DEFAULT_STATIONS)
    if n_stations < 1 or n_stations > len(pool):
        raise ConfigError("number of synthetic stations out of range",
                          expected=f"1..{len(pool)}", found=str(n_stations))
    sts = [_as_station(s) for s in pool[:n_stations]]
    pcfg = dataclasses.replace(precursor or PrecursorConfig(), strength=float(precursor_strength))
    scfg = station_config or StationConfig()
    t0 = _to_ns(start)
    act = activity_index(t0, days, _seeded(seed, 1), **dict(activity_options or {}))
    cat = etas_catalog(region, t0, days, _seeded(seed, 2), **dict(etas or {}))
    windows = precursor_windows(cat, sts, pcfg)
    records, spikes, gaps, sites = {}, {}, {}, {}
    raised = []
    for i, st in enumerate(sts):
        if ulf is None:
            rec, gen = _station_record(st, act, t0, days, cadence_s, _seeded(seed, 100 + i),
                                       windows, scfg)
        else:
            rec, gen = _ulf_station_record(st, act, t0, days, cadence_s,
                                           _seeded(seed, 100 + i), windows, scfg, ulf=ulf)
            raised.append(gen.raised)
        records[st.code] = rec
        spikes[st.code], gaps[st.code] = _table(gen.spikes), _table(gen.gaps)
        sites[st.code] = gen.site
    station_df = pd.DataFrame([dataclasses.asdict(s) for s in sts])
    station_df["magnetic_latitude_deg"] = [dipole_field(s.latitude_deg, s.longitude_deg)[3]
                                           for s in sts]
    config = {
        "seed": seed, "start": str(t0), "days": float(days), "cadence_s": float(cadence_s),
        "n_stations": int(n_stations), "precursor_strength": float(precursor_strength),
        "region": list(region), "etas": cat.attrs["etas"],
        "activity": dict(activity_options or {}), "precursor": pcfg.to_dict(),
        "station_model": scfg.to_dict(),
        "stations": [dataclasses.asdict(s) for s in sts],
    }
    if ulf is not None:
        config["ulf"] = ulf.to_dict()
    m5 = cat["magnitude"].to_numpy() >= pcfg.m_min
    storms = act[[v for v in act.data_vars if act[v].dims == ("storm",)]].to_dataframe()
    storms = storms.reset_index(drop=True)
    truth = {
        "seed": seed,
        "precursor_strength": float(precursor_strength),
        "signal_added": bool(precursor_strength > 0 and (windows["amplitude_nT"] > 0).any()),
        "precursor_config": pcfg.to_dict(),
        "ulf_band_hz": list(_ulf_band(float(cadence_s))),
        "precursors": _table(windows),
        "storms": _table(storms),
        "spikes": spikes,
        "gaps": gaps,
        "site_response": sites,
        "catalog_summary": {
            "n_events": int(len(cat)),
            "n_background": int(cat["is_background"].sum()),
            "n_m_ge_m_min": int(m5.sum()),
            "b_value_aki_utsu": aki_utsu_b(cat["magnitude"].to_numpy(), cat.attrs["etas"]["mc"],
                                           cat.attrs["etas"]["magnitude_step"]),
        },
        "conventions": {
            "components": "X north, Y east, Z down, F scalar; nT",
            "precursor_amplitude": "RMS in Z (nT) at full envelope; X, Y get "
                                   "horizontal_ratio of it",
            "parent_id": "event_id of the triggering event; '' for background events",
        },
    }
    if ulf is not None:
        some = [r for r in raised if len(r)]
        table = pd.concat(some, ignore_index=True) if some else raised[0]
        truth["ulf"] = {"config": ulf.to_dict(), "raised_nights": _table(table)}
    return World(records=records, catalog=cat, activity=act, truth=truth,
                 stations=station_df, config=config)
