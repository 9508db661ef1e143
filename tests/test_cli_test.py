"""``geoanom test`` on the command line: synthetic end to end, bad input, real catalog."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
from click.testing import CliRunner

from geoanom.cli import main
from geoanom.stats.result import RESULT_KEYS

_spec = importlib.util.spec_from_file_location(
    "calibration", Path(__file__).resolve().parents[1] / "bench" / "calibration.py")
calibration = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(calibration)

FAST_TOML = """
[surrogates]
n = 199
n_secondary = 19
n_bootstrap = 199
n_legacy = 49
n_fake_catalogs = 2
"""


def _comcat_csv(cat: pd.DataFrame, path: Path) -> Path:
    df = pd.DataFrame({
        "time": pd.to_datetime(cat["time"]).dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "latitude": cat["latitude_deg"], "longitude": cat["longitude_deg"],
        "depth": cat["depth_km"], "mag": cat["magnitude"], "magType": "mw",
        "id": cat["event_id"]})
    df.to_csv(path, index=False)
    return path


def _files(tmp_path, seed=3, strength=0.0):
    ds, cat = calibration.null_world(np.random.default_rng(seed), strength=strength)
    sc = tmp_path / "scores.nc"
    ds.to_netcdf(sc)
    cf = _comcat_csv(cat, tmp_path / "cat.csv")
    pf = tmp_path / "p.toml"
    pf.write_text(FAST_TOML)
    return sc, cf, pf, ds


def test_cli_end_to_end_writes_result_and_figures(tmp_path):
    sc, cf, pf, ds = _files(tmp_path)
    from geoanom.stats.alarm import bin_scores
    from geoanom.stats.protocol import Protocol

    b = bin_scores(ds, Protocol())
    act = tmp_path / "kp.csv"
    pd.DataFrame({"time": pd.DatetimeIndex(b.bin_start(np.arange(b.n))).strftime("%Y-%m-%d"),
                  "kp": np.clip(np.log(b.a) + 2, 0, 9)}).to_csv(act, index=False)
    out = tmp_path / "res" / "result.json"
    figs = tmp_path / "figs"
    r = CliRunner().invoke(main, ["test", "--scores", str(sc), "--catalog", str(cf),
                                  "--protocol", str(pf), "--activity", str(act),
                                  "--seed", "4", "-o", str(out), "--figures", str(figs)])
    assert r.exit_code == 0, r.output
    assert "ASS = AUC" in r.output and "calibrated p" in r.output
    d = json.loads(out.read_text())
    assert set(d) == set(RESULT_KEYS)
    assert d["primary"]["n_surrogates"] == 199
    assert d["provenance"]["seeds"]["seed"] == 4
    assert set(d["provenance"]["inputs"]) >= {str(sc), str(cf), str(pf), str(act)}
    assert d["baselines"]["activity"]["ass"] is not None
    names = sorted(p.name for p in figs.glob("*.png"))
    assert names == ["molchan.png", "null_histogram.png", "score_timeline.png",
                     "score_vs_activity.png", "superposed_epoch.png"]
    assert all(p.stat().st_size > 10_000 for p in figs.glob("*.png"))


def test_cli_bad_inputs_exit_2(tmp_path):
    sc, cf, pf, ds = _files(tmp_path)
    bad = tmp_path / "bad.nc"
    ds.drop_vars("rmse").to_netcdf(bad)
    out = tmp_path / "r.json"
    r = CliRunner().invoke(main, ["test", "--scores", str(bad), "--catalog", str(cf),
                                  "-o", str(out)])
    assert r.exit_code == 2 and "rmse" in r.output and not out.exists()
    notnc = tmp_path / "x.nc"
    notnc.write_text("hello")
    r = CliRunner().invoke(main, ["test", "--scores", str(notnc), "--catalog", str(cf),
                                  "-o", str(out)])
    assert r.exit_code == 2 and "netCDF" in r.output
    pf.write_text("[lead]\nmin_days = 1\nmax_days = 'x'\n")
    r = CliRunner().invoke(main, ["test", "--scores", str(sc), "--catalog", str(cf),
                                  "--protocol", str(pf), "-o", str(out)])
    assert r.exit_code == 2 and "line 3" in r.output and "max_days" in r.output
    assert not out.exists()


def _only_aftershock_in_test(cat: pd.DataFrame, test_start) -> pd.DataFrame:
    """The catalog up to 70 days before the test period, plus an M6.5 mainshock 10 days
    before it and an M5.5 aftershock (6 km away) 5 days into it: after declustering the only
    seen event in the test period is an aftershock."""
    from geoanom.catalog_frame import make_catalog

    t_main = np.datetime64(test_start) - np.timedelta64(10, "D")
    t_after = np.datetime64(test_start) + np.timedelta64(5, "D")
    old = cat[cat["time"] < t_main - np.timedelta64(60, "D")]
    lat0, lon0 = calibration.STATION
    extra = make_catalog(np.array([t_main, t_after], "datetime64[ns]"),
                         np.array([lat0 + 0.2, lat0 + 0.25]), np.array([lon0, lon0]),
                         np.array([6.5, 5.5]), depth_km=np.array([10.0, 10.0]))
    both = pd.concat([old.drop(columns=["mainshock"]), extra], ignore_index=True)
    return make_catalog(both["time"].to_numpy(), both["latitude_deg"].to_numpy(),
                        both["longitude_deg"].to_numpy(), both["magnitude"].to_numpy(),
                        depth_km=both["depth_km"].to_numpy())


def test_no_independent_test_event_is_not_assessable_exit_0(tmp_path):
    """Issue 15 defect 1: no independent target event on a test bin (the catalog ends
    before the test period; the only test event is an aftershock) used to crash with a
    broadcast ValueError and exit 1."""
    from geoanom.stats.alarm import bin_scores
    from geoanom.stats.protocol import Protocol

    sc, cf, pf, ds = _files(tmp_path)
    _, cat = calibration.null_world(np.random.default_rng(3))
    b = bin_scores(ds, Protocol())
    test_start = b.bin_start(int(np.floor(b.n * 0.7)))
    ended = cat[cat["time"] < test_start - np.timedelta64(100, "D")]
    after = _only_aftershock_in_test(cat, test_start)
    for name, c, why in (("ended", ended, "catalog ends before the test period"),
                         ("aftershock", after, "aftershocks or foreshocks after declustering")):
        cfile = _comcat_csv(c, tmp_path / f"{name}.csv")
        out = tmp_path / f"{name}.json"
        r = CliRunner().invoke(main, ["test", "--scores", str(sc), "--catalog", str(cfile),
                                      "--protocol", str(pf), "-o", str(out),
                                      "--figures", str(tmp_path / f"fig_{name}")])
        assert r.exit_code == 0, (name, r.output, r.exception)
        d = json.loads(out.read_text())
        assert set(d) == set(RESULT_KEYS)
        assert d["primary"]["n_independent_events"] == 0
        assert d["primary"]["significant"] is None
        assert d["primary"]["verdict"].startswith("not assessable")
        assert why in d["primary"]["verdict"] and why in d["guardrails"]["no_events_reason"]
        assert "0 independent target events" in d["guardrails"]["scope"]
        assert d["legacy"]["n_seismic"] >= 0 and "not assessable" in r.output
        tg = d["primary"]["targets"]
        assert tg["n_used"] == 0 and f"targets  0 used of {tg['n_candidates']}" in r.output
    # issue 26: the dropped event is listed, with why and the head of its sequence
    last = tg["events"][-1]
    assert last["magnitude"] == 5.5 and last["reason"] == "declustered"
    assert last["reasons"] == ["declustered", "post_event_exclusion"]  # 15 days after the M6.5
    assert last["sequence_head"]["magnitude"] == 6.5
    assert last["sequence_head"]["time"] < last["time"]
    assert last["excluded_after"] == {k: last["sequence_head"][k]
                                      for k in ("event_id", "time", "magnitude")}
    assert f"{tg['not_used']['declustered']} declustered" in r.output
    assert "rules    published_radius" in r.output


def test_real_japan_catalog_declustered_around_memambetsu(catalogs_dir, tmp_path):
    """The real Japan catalog (USGS ComCat extract, EarthquakeNPP) against a null score at
    Memambetsu (MMB) for 2008-2011: Tohoku's aftershocks are declustered away."""
    rng = np.random.default_rng(0)
    ds, _ = calibration.null_world(rng, years=4.0)
    shift = np.datetime64("2008-01-01", "ns") - np.datetime64("2000-01-01", "ns")
    ds = ds.assign(start=ds["start"] + shift, end=ds["end"] + shift)
    ds.attrs.update(iaga_code="MMB", latitude_deg=43.910, longitude_deg=144.189)
    sc = tmp_path / "mmb.nc"
    ds.to_netcdf(sc)
    pf = tmp_path / "p.toml"
    pf.write_text(FAST_TOML + "\n[target]\nradius = 500.0\n")
    out = tmp_path / "r.json"
    r = CliRunner().invoke(main, ["test", "--scores", str(sc), "--catalog",
                                  str(catalogs_dir / "japan_usgs_1990_2019_EarthquakeNPP.csv"),
                                  "--protocol", str(pf), "-o", str(out)])
    assert r.exit_code == 0, r.output
    d = json.loads(out.read_text())
    ev = d["primary"]["events"]
    assert 0 < len(ev) == d["primary"]["n_independent_events"]
    # Tohoku (2011-03-11, M9.1) itself is declustered as a mainshock, its aftershocks are not
    # independent events: at most one event on 2011-03-11..2011-04-10
    assert d["guardrails"]["declustering"] == "gardner_knopoff"
    from geoanom.io import read_catalog
    from geoanom.labels import mainshock_flags, seen_by_station

    cat = read_catalog(catalogs_dir / "japan_usgs_1990_2019_EarthquakeNPP.csv")
    seen = seen_by_station(cat, 43.910, 144.189, radius=500.0, min_magnitude=5.0,
                           max_depth_km=100.0)
    main_ = mainshock_flags(cat, "gardner_knopoff", 5.0)
    t = cat["time"].to_numpy()
    w = (t >= np.datetime64("2011-03-11")) & (t < np.datetime64("2011-04-11"))
    assert (seen & w).sum() >= 20            # the Tohoku sequence within 500 km of MMB
    assert (seen & w & main_).sum() <= 3     # ... is mostly dependent events


def test_real_mmb_record_with_a_model_free_score(geomag_dir, catalogs_dir, tmp_path):
    """Memambetsu, March 2011 (JMA / WDC Kyoto) with the Japan catalog: one month cannot
    carry the test; geoanom says so instead of printing a verdict."""
    import xarray as xr

    from geoanom.io import read_record

    rec = read_record([geomag_dir / "japan_MMB_2011-03" / "mmb_2011_march.txt"])
    h, t = rec["H"].values, rec["time"].values
    starts = np.arange(0, h.size - 120 + 1, 60)              # 2-h windows, 1-h stride
    d = np.diff(h)
    rms = np.array([np.sqrt(np.nanmean(d[s:s + 119] ** 2)) for s in starts])  # nT/min
    ds = xr.Dataset({"start": ("window", t[starts]),
                     "end": ("window", t[starts] + np.timedelta64(120, "m")),
                     "rmse": ("window", rms)},
                    attrs={"iaga_code": "MMB", "latitude_deg": rec.attrs["latitude_deg"],
                           "longitude_deg": rec.attrs["longitude_deg"]})
    sc = tmp_path / "mmb.nc"
    ds.to_netcdf(sc)
    pf = tmp_path / "p.toml"
    pf.write_text(FAST_TOML + "[target]\nradius = 700.0\n[lead]\nmax_days = 3.0\n"
                  "post_event_exclusion_days = 0.0\n[split]\ntest_fraction = 0.5\n"
                  "[grid]\nlead_windows = [[1.0, 3.0]]\n")
    out = tmp_path / "r.json"
    r = CliRunner().invoke(main, ["test", "--scores", str(sc), "--catalog",
                                  str(catalogs_dir / "japan_usgs_1990_2019_EarthquakeNPP.csv"),
                                  "--protocol", str(pf), "-o", str(out),
                                  "--figures", str(tmp_path / "f")])
    assert r.exit_code == 0, r.output
    d = json.loads(out.read_text())
    assert d["primary"]["null"].startswith("uniform circular shift (season not kept: the record "
                                           "allows 0 distinct whole-year offsets")
    assert d["primary"]["n_independent_events"] < 10
    assert d["primary"]["significant"] is None and "not assessable" in r.output
    # every M>=4.5 event within 700 km blocks normal windows during the Tohoku sequence
    assert any("legacy test not computed" in w for w in d["guardrails"]["warnings"])
    assert (tmp_path / "f" / "score_timeline.png").exists()
