"""Defaults that fit the record: geoanom config suggest, and train/test refusing settings the
record cannot satisfy with values that would work."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from click.testing import CliRunner

from geoanom.cli import main
from geoanom.detector.config import read_detector_tables
from geoanom.detector.suggest import find_config, protocol_fit_error, suggest_configs
from geoanom.detector.windows import WindowConfig
from geoanom.io.netcdf import write_netcdf
from geoanom.labels import LabelRule
from geoanom.stats.protocol import Protocol, load_protocol
from geoanom.synthetic import make_world

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@pytest.fixture(scope="module")
def daily(tmp_path_factory) -> Path:
    """A four-year daily record and the M >= 5 events of its world (ETAS below M5 is too
    dense for any quiet window near the station)."""
    d = tmp_path_factory.mktemp("daily")
    w = make_world(0, 1500, cadence_s=86400.0, n_stations=1)
    write_netcdf(w.records["SYA"], d / "SYA.nc")
    cat = w.catalog[w.catalog["magnitude"] >= 5.0]
    cat.to_csv(d / "catalog.csv", index=False)
    return d


def test_suggest_fits_a_daily_multi_year_record(daily, tmp_path):
    r = CliRunner().invoke(main, ["config", "suggest", "--record", str(daily / "SYA.nc"),
                                  "--catalog", str(daily / "catalog.csv"), "-o",
                                  str(tmp_path)])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output.strip().splitlines()[-1])
    det = read_detector_tables(tmp_path / "detector.toml")
    w = WindowConfig.from_dict(det["windows"])
    assert w.window_length_s == 16 * 86400 and w.stride_s == 86400
    # the default rule leaves no quiet window with the 1-30 day lead in this world (a seen
    # M >= 5 every few weeks): the lead is kept and the group's detectability rule, tried
    # next, leaves both classes in every split; the file says why, with the counts by rule
    assert w.label_rule.lead_days == (1.0, 30.0)
    assert w.label_rule.detectability == "group" and w.label_rule.decluster == "gardner_knopoff"
    for split in ("train", "val", "test"):
        assert out["window_counts"][split]["normal"] > 0
        assert out["window_counts"][split]["seismic"] > 0
    p = load_protocol(tmp_path / "protocol.toml")
    assert p.target.lead_days == w.label_rule.lead_days
    assert p.target.detectability == "group"
    text = (tmp_path / "detector.toml").read_text()
    assert "# detectability: label rule detectability=group:" in text
    assert "the rules tried before it (default, normal_rule=detectable) leave" in text
    assert "#   default: 0/" in text and "# Seismic windows by target event" in text
    assert p.split_test_fraction == w.split_fractions[2]
    assert p.surrogates_method == "uniform"  # 4 years: no 20 whole-year offsets
    text = (tmp_path / "detector.toml").read_text()
    # every choice carries a comment
    for key in ("window_length_s", "stride_s", "lead_days", "split_fractions", "decluster"):
        assert f"# {key}:" in text
    # refuses to overwrite without --force
    r2 = CliRunner().invoke(main, ["config", "suggest", "--record", str(daily / "SYA.nc"),
                                   "--catalog", str(daily / "catalog.csv"), "-o",
                                   str(tmp_path)])
    assert r2.exit_code == 2 and "--force" in r2.output


def test_suggest_shortens_the_lead_for_a_month_of_minutes(tmp_path):
    w = make_world(1, 31, cadence_s=60.0, n_stations=1)
    s = suggest_configs(w.records["SYA"], w.catalog)
    assert s.windows.window_length_s == 3600 and s.windows.stride_s == 1800
    assert s.windows.label_rule.lead_days == (0.25, 1.0)
    assert s.protocol["binning"]["bin_days"] == 0.25
    p = Protocol(target=LabelRule(lead_days=(0.25, 1.0)), binning_bin_days=0.25)
    scores = xr.Dataset({"start": ("window", pd.date_range("2020-01-01", periods=31, freq="D")),
                         "end": ("window", pd.date_range("2020-01-02", periods=31, freq="D"))})
    assert protocol_fit_error(scores, p) is None
    err = protocol_fit_error(scores, Protocol())
    assert err is not None
    msg = str(err)
    assert "max_days = 30" in msg and "max_days = 1" in msg and "bin_days = 0.25" in msg


def test_train_refuses_defaults_on_a_short_record_naming_values_that_fit(tmp_path):
    w = make_world(2, 20, cadence_s=60.0, n_stations=1)
    write_netcdf(w.records["SYA"], tmp_path / "SYA.nc")
    w.catalog.to_csv(tmp_path / "catalog.csv", index=False)
    cfg = tmp_path / "defaults.toml"
    cfg.write_text("[windows]\n[train]\nmax_epochs = 1\n")
    r = CliRunner().invoke(main, ["train", "--record", str(tmp_path / "SYA.nc"), "--catalog",
                                  str(tmp_path / "catalog.csv"), "--config", str(cfg),
                                  "-o", str(tmp_path / "m")])
    assert r.exit_code == 2, r.output
    assert "spans 20.0 days" in r.output and "lead max 30" in r.output
    assert "values that fit this record" in r.output and "lead_days = [" in r.output
    assert not (tmp_path / "m").exists()


def test_config_files_are_found_beside_the_record_then_here(tmp_path, monkeypatch):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "detector.toml").write_text("")
    monkeypatch.chdir(tmp_path / "a")
    # nothing beside the record: the current folder's
    assert find_config("detector.toml", None, [str(tmp_path / "b" / "R.nc")]) == \
        Path("detector.toml")
    # a stale ./detector.toml never overrides the one beside the record
    (tmp_path / "b" / "detector.toml").write_text("")
    assert find_config("detector.toml", None, [str(tmp_path / "b" / "R.nc")]) == \
        tmp_path / "b" / "detector.toml"
    assert find_config("detector.toml", "x.toml", []) == Path("x.toml")
    assert find_config("protocol.toml", None, [str(tmp_path / "b" / "s.nc")]) is None


def test_synth_writes_configs_that_load(tmp_path):
    r = CliRunner().invoke(main, ["synth", "-o", str(tmp_path), "--days", "20",
                                  "--max-epochs", "2"])
    assert r.exit_code == 0, r.output
    doc = tomllib.loads((tmp_path / "detector.toml").read_text())
    assert doc["train"]["max_epochs"] == 2
    load_protocol(tmp_path / "protocol.toml")
    assert json.loads(r.output)["window_counts"]["train"]["normal"] > 0


def test_suggest_on_magdas_davao_daily_euel(shared_data, tmp_path):
    src = shared_data / "geomag" / "magdas_euel_daily" / \
        "magdas_peak_euel_daily_southeast_asia_dip_2000-2022.csv.gz"
    cat = shared_data / "catalogs" / "world_m5_2007_2019.csv.gz"
    r = CliRunner().invoke(main, ["config", "suggest", "--record", str(src), "--map",
                                  "magdas-euel", "--station", "DAV", "--catalog", str(cat),
                                  "--map", "world-m5", "-o", str(tmp_path)])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output.strip().splitlines()[-1])
    assert "cadence 1 d" in out["record"]
    w = WindowConfig.from_dict(read_detector_tables(tmp_path / "detector.toml")["windows"])
    assert w.stride_s == 86400 and w.max_missing_fraction == 0.25  # 55 % of days missing
    assert all(v["normal"] > 0 and v["seismic"] > 0 for v in out["window_counts"].values())
    # 23 years: the season-keeping null has its 20 whole-year offsets
    assert load_protocol(tmp_path / "protocol.toml").surrogates_method == "season_keeping"


def test_test_refuses_a_protocol_the_scores_cannot_hold(tmp_path):
    n = 31 * 24
    start = pd.date_range("2011-03-01", periods=n, freq="h").values
    ds = xr.Dataset({"start": ("window", start),
                     "end": ("window", start + np.timedelta64(1, "h")),
                     "rmse": ("window", np.random.default_rng(0).random(n))},
                    attrs={"iaga_code": "MMB", "latitude_deg": 43.91, "longitude_deg": 144.19})
    ds.to_netcdf(tmp_path / "scores.nc")
    cat = pd.DataFrame({"time": ["2011-03-11T05:46:24"], "latitude_deg": [38.3],
                        "longitude_deg": [142.4], "depth_km": [29.0], "magnitude": [9.0],
                        "event_id": ["tohoku"]})
    cat.to_csv(tmp_path / "cat.csv", index=False)
    out = tmp_path / "r.json"
    r = CliRunner().invoke(main, ["test", "--scores", str(tmp_path / "scores.nc"), "--catalog",
                                  str(tmp_path / "cat.csv"), "-o", str(out)])
    assert r.exit_code == 2, r.output
    assert "max_days = 30" in r.output and "max_days = 1" in r.output
    assert "bin_days = 0.25" in r.output and not out.exists()


def test_suggest_fits_the_preprocessed_record_and_keeps_the_table(tmp_path):
    from geoanom.detector.preprocess import PreprocessConfig

    w = make_world(3, 20, cadence_s=60.0, n_stations=1)
    write_netcdf(w.records["SYA"], tmp_path / "SYA.nc")
    w.catalog.to_csv(tmp_path / "catalog.csv", index=False)
    pre = tmp_path / "pre.toml"
    pre.write_text('[preprocess]\ncomponents = ["X", "Y", "Z"]\n'
                   'despike = { window_s = 600.0 }\nresample = { period_s = 600.0 }\n'
                   'scale = true\n')
    out = tmp_path / "cfg"
    r = CliRunner().invoke(main, ["config", "suggest", "--record", str(tmp_path / "SYA.nc"),
                                  "--catalog", str(tmp_path / "catalog.csv"), "--preprocess",
                                  str(pre), "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "cadence 10 min" in r.output
    t = read_detector_tables(out / "detector.toml")
    assert t["windows"]["window_length_s"] == 60 * 600.0
    cfg = PreprocessConfig.from_dict(t["preprocess"])
    assert [s[0] for s in cfg.steps] == ["despike", "resample", "scale"]
    assert cfg.components == ("X", "Y", "Z")


def test_train_refuses_a_training_split_without_seismic_windows(tmp_path):
    w = make_world(2, 20, cadence_s=60.0, n_stations=1)
    write_netcdf(w.records["SYA"], tmp_path / "SYA.nc")
    cat = w.catalog
    t = pd.to_datetime(cat["time"])
    # events that could block or be targets only in the last third of the record
    keep = (cat["magnitude"] < 4.5) | (t >= t.min() + pd.Timedelta(days=14))
    cat[keep].to_csv(tmp_path / "catalog.csv", index=False)
    cfg = tmp_path / "d.toml"
    cfg.write_text("[windows]\nlead_days = [0.25, 1.0]\nbuffer_days = 0.5\n"
                   "post_event_exclusion_days = 1.0\n[train]\nmax_epochs = 1\n")
    r = CliRunner().invoke(main, ["train", "--record", str(tmp_path / "SYA.nc"), "--catalog",
                                  str(tmp_path / "catalog.csv"), "--config", str(cfg),
                                  "-o", str(tmp_path / "m")])
    assert r.exit_code == 2, r.output
    assert "no seismic training windows" in r.output and "lam = 0" in r.output
    assert not (tmp_path / "m").exists()
