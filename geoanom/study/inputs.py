"""Reading a study's inputs: station records, the catalog, activity indices, own scores.

Records, catalogs and activity indices are read by :mod:`geoanom.io`'s registry: through
the study's table mapping where it names one (``map``; the shipped studies use
``magdas-euel`` and ``world-m5``), else in their own formats.

``kind = "scores"`` studies ("bring your own scores") read per-area weekly feature tables
(:func:`read_weekly_area_scores`): each feature column becomes a score, and the table's
next-week label columns become the catalog.
"""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from geoanom._time import S_PER_DAY
from geoanom.catalog_frame import make_catalog
from geoanom.errors import ConfigError, FormatError
from geoanom.io import read_catalog, read_index, read_records
from geoanom.labels import declustered
from geoanom.provenance import provenance

# ------------------------------------------------------------------ records and catalogs

def _trim(record: xr.Dataset) -> xr.Dataset:
    """The record from its first to its last sample with a value in any component."""
    ok = np.zeros(record.sizes["time"], bool)
    for c in record.data_vars:
        if not str(c).endswith("_flag") and record[c].dims == ("time",):
            ok |= np.isfinite(np.asarray(record[c].values, float))
    idx = np.flatnonzero(ok)
    return record.isel(time=slice(idx[0], idx[-1] + 1)) if idx.size else record


def load_records(cfg) -> dict[str, xr.Dataset]:
    """Station code -> record for every ``[[station]]`` of a ``kind = "record"`` study."""
    tab = cfg.table("records")
    files = [cfg.resolve(f) for f in tab.get("files", [])]
    if not files:
        raise ConfigError("[records] files is empty", path=cfg.path, expected="record files")
    for f in files:
        if not f.is_file():
            raise ConfigError("record file not found", path=f, expected="an existing file "
                              "(relative paths are relative to data_root)")
    # a mapped file may hold several stations; any other holds one (netCDF, IAGA-2002...).
    # Native headers are compared with the station registry; a mapping's coordinates are
    # its author's choice and are not.
    mapping = str(tab["map"]) if tab.get("map") else None
    recs: dict[str, xr.Dataset] = {}
    for f in files:
        recs.update(read_records(f, mapping=mapping, check_station=mapping is None))
    for s in cfg.stations:
        if s.code in recs:
            # the study's coordinates are the ones its labels use
            recs[s.code] = _trim(recs[s.code])
            recs[s.code].attrs["latitude_deg"] = s.latitude_deg
            recs[s.code].attrs["longitude_deg"] = s.longitude_deg
    missing = [s.code for s in cfg.stations if s.code not in recs]
    if missing:
        raise ConfigError("station(s) not found in the record files", path=files[0],
                          expected=", ".join(s.code for s in cfg.stations),
                          found="missing " + ", ".join(missing))
    return {s.code: recs[s.code] for s in cfg.stations}


def load_catalog(cfg) -> pd.DataFrame:
    """The study's catalog, declustered once (``mainshock`` and ``sequence_id`` columns,
    with the method of ``[windows] decluster``), so every unit and test sees the same."""
    tab = cfg.table("catalog")
    f = cfg.resolve(tab.get("file", ""))
    if not f.is_file():
        raise ConfigError("catalog file not found", path=f, expected="an existing file")
    cat = read_catalog(f, mapping=str(tab["map"]) if tab.get("map") else None)
    w = cfg.table("windows")
    method = str(w.get("decluster", "gardner_knopoff"))
    mmin = float(tab.get("min_magnitude", -np.inf))
    cat = cat[cat["magnitude"].to_numpy(float) >= mmin].reset_index(drop=True)
    # the scope of the window labels: every event that can block a normal window
    scope = float(w.get("m_min", 5.0)) - float(w.get("normal_margin_magnitude", 0.5))
    return declustered(cat, method, scope,
                       foreshocks=bool(w.get("decluster_foreshocks", False)))


# ------------------------------------------------------------------------------ indices

def load_activity(cfg) -> dict[str, pd.DataFrame]:
    """``{"kp": frame(time, kp), "dst": frame(time, dst)}`` for the indices the study names
    (frames with a ``time`` column, as :func:`geoanom.stats.test.run_test` takes)."""
    tab = cfg.table("activity")
    out: dict[str, pd.DataFrame] = {}
    for name in ("kp", "dst"):
        if name not in tab:
            continue
        f = cfg.resolve(tab[name])
        if not f.is_file():
            raise ConfigError(f"{name} index file not found", path=f)
        ds = read_index(f)
        col = next((str(v) for v in ds.data_vars
                    if str(v).lower() == name or str(v).lower().startswith(name + "_")), None)
        if col is None:
            raise FormatError(f"index file lacks a {name} variable", path=f,
                              expected="Kp" if name == "kp" else "Dst_nT",
                              found=", ".join(map(str, ds.data_vars)))
        fr = pd.DataFrame({"time": ds["time"].values, name: ds[col].values.astype(float)})
        out[name] = fr.dropna().reset_index(drop=True)
    return out


# ----------------------------------------------------------------- bring your own scores

def _area_tables(archive: Path) -> dict[tuple[int, str], pd.DataFrame]:
    """``(area, "train"|"valid") -> frame`` from the AETA area-weekly tarball (read in
    memory, nothing is extracted)."""
    out = {}
    try:
        with tarfile.open(archive, "r:gz") as tf:
            for m in tf.getmembers():
                name = os.path.basename(m.name)
                if not (name.startswith("area_") and name.endswith(".csv")):
                    continue
                a, part = name[5:-4].split("_", 1)
                fh = tf.extractfile(m)
                if fh is None:
                    continue
                out[(int(a), part)] = pd.read_csv(io.BytesIO(fh.read()))
    except (OSError, tarfile.TarError, ValueError) as exc:
        raise FormatError("cannot read the area-weekly archive", path=archive,
                          found=str(exc)) from None
    if not out:
        raise FormatError("no area_<k>_<part>.csv tables in the archive", path=archive)
    return out


#: Day 0 of each part of the AETA area-weekly tables (Beijing time, UTC+8).
AETA_DAY0 = {"train": "2016-10-01", "valid": "2020-04-01"}


def read_weekly_area_scores(cfg) -> tuple[dict[str, xr.Dataset], pd.DataFrame, dict]:
    """Scores and catalog of a ``kind = "scores"`` study over the AETA area-weekly tables.

    Each ``[[station]]`` code ``A<k>`` is area ``k``; each row is a 7-day window ending at
    day ``Day`` (Beijing time, converted to UTC) of its part; every feature named in
    ``[study] detectors`` becomes a score variable. The label of a row (largest M >= 3.5 of
    the following week, with its epicentre) becomes a catalog event placed in the middle of
    that week (its day is not in the tables): with daily bins and a lead of ``[1, 7]`` days
    the event's alarm is the score of the week before it, and nothing later.

    Returns
    -------
    scores
        Station code -> scores dataset (dim ``window``; ``start``, ``end``, one variable per
        feature, ``label`` 1 when the next week has an event).
    catalog
        The label events (``mainshock`` True: no declustering; each is the largest of its
        area-week).
    base_rates
        Per area: weeks, weeks with an event, the accuracy of a constant "no event" and a
        constant "event" forecast.
    """
    from geoanom.detector.score import score_attrs  # imports torch, which no other input needs

    tab = cfg.table("scores")
    archive = cfg.resolve(tab.get("archive", ""))
    if not archive.is_file():
        raise ConfigError("scores archive not found", path=archive,
                          expected="the AETA area-weekly tarball")
    tables = _area_tables(archive)
    feats = [d for d in cfg.detectors if d != "activity"]
    tz = np.timedelta64(int(float(tab.get("utc_offset_hours", 8.0)) * 3600), "s")
    scores, ev_rows, rates = {}, [], {}
    for st in cfg.stations:
        k = int(st.code.lstrip("Aa"))
        parts = []
        for part, day0 in AETA_DAY0.items():
            df = tables.get((k, part))
            if df is None:
                continue
            missing = [f for f in feats + ["Day", "label_M"] if f not in df.columns]
            if missing:
                raise FormatError("area table lacks column(s)", path=archive,
                                  expected=", ".join(missing), found=", ".join(df.columns[:8]))
            d = df.copy()
            d["end"] = (np.datetime64(day0, "ns") + d["Day"].to_numpy(np.int64)
                        * np.timedelta64(1, "D") - tz)
            parts.append(d)
        if not parts:
            raise ConfigError("no table for an area", path=archive, found=st.code)
        d = pd.concat(parts).sort_values("end", kind="mergesort")
        d = d.drop_duplicates("end", keep="last").reset_index(drop=True)
        end = d["end"].to_numpy("datetime64[ns]")
        start = end - np.timedelta64(7, "D")
        lab = (d["label_M"].to_numpy(float) > 0).astype(np.int8)
        dv = {"start": ("window", start), "end": ("window", end),
              "label": ("window", lab)}
        for f in feats:
            dv[f] = ("window", d[f].to_numpy(float))
        ds = xr.Dataset(dv, coords={"window": np.arange(len(d))})
        rec_attrs = {"iaga_code": st.code, "latitude_deg": st.latitude_deg,
                     "longitude_deg": st.longitude_deg}
        ds.attrs = score_attrs(xr.Dataset(attrs=rec_attrs), window_length_s=7.0 * S_PER_DAY,
                               stride_s=7.0 * S_PER_DAY, period=float(S_PER_DAY),
                               kind="own_scores",
                               prov=provenance(config={"archive": archive.name, "area": k,
                                                       "features": feats}))
        scores[st.code] = ds
        n, ne = int(len(d)), int(lab.sum())
        rates[st.code] = {"weeks": n, "weeks_with_event": ne,
                          "accuracy_constant_no_event": (n - ne) / n if n else None,
                          "accuracy_constant_event": ne / n if n else None}
        evm = lab == 1
        for e, m, lo, la in zip(end[evm], d["label_M"].to_numpy(float)[evm],
                                d["label_long"].to_numpy(float)[evm],
                                d["label_lati"].to_numpy(float)[evm], strict=True):
            ev_rows.append((e + np.timedelta64(84, "h"), la, lo, m, st.code))
    ev = pd.DataFrame(ev_rows, columns=["time", "lat", "lon", "mag", "area"])
    # an event can be the label of more than one area: keep it once
    ev = ev.drop_duplicates(["time", "lat", "lon", "mag"]).sort_values("time",
                                                                       kind="mergesort")
    cat = make_catalog(ev["time"].to_numpy("datetime64[ns]"), ev["lat"], ev["lon"], ev["mag"],
                       event_id=[f"aeta-{i:04d}" for i in range(len(ev))],
                       source=f"AETA area-weekly labels ({archive.name})")
    cat["mainshock"] = True
    cat["sequence_id"] = cat["event_id"].astype(str)
    cat.attrs = dict(cat.attrs, declustering="none (each event is the largest of its "
                                              "area-week)")
    tot_n = sum(r["weeks"] for r in rates.values())
    tot_e = sum(r["weeks_with_event"] for r in rates.values())
    rates["pooled"] = {"weeks": tot_n, "weeks_with_event": tot_e,
                       "accuracy_constant_no_event": (tot_n - tot_e) / tot_n,
                       "accuracy_constant_event": tot_e / tot_n}
    return scores, cat, rates


def input_files(cfg) -> list[Path]:
    """Every input file of a study (their checksums go into the provenance)."""
    out = []
    for f in cfg.table("records").get("files", []):
        out.append(cfg.resolve(f))
    for tab, keys in (("catalog", ("file",)), ("activity", ("kp", "dst")),
                      ("scores", ("archive",))):
        t = cfg.table(tab)
        out += [cfg.resolve(t[k]) for k in keys if k in t]
    return [p for p in out if p.is_file()]
