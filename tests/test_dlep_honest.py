"""What keeps a DLEP reproduction honest: trivial references, the seed spread ("n/a" for one
seed, effects only beyond it), flat per-seed records, the leaky-protocol label, the Table I
ceiling, the main-shock leak diagnostic, the operational design (nothing after the forecast
time), line progress when stderr is no terminal, and the sweep and fusion commands."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr
from click.testing import CliRunner

from geoanom._progress import LineProgress
from geoanom.catalog_frame import make_catalog
from geoanom.cli import main
from geoanom.dlep.baselines import fixed_day_indicators, map_images
from geoanom.dlep.config import DLEPConfig
from geoanom.dlep.evaluate import evaluate
from geoanom.dlep.folds import check_chronological, make_folds
from geoanom.dlep.results import DLEPResults, MethodResult, samples_summary
from geoanom.dlep.segment import (
    Region,
    custom_region,
    leak_mainshock,
    segment_catalog,
    segment_operational,
    table1_check,
)
from geoanom.dlep.tables import compare, format_effects, format_table3
from geoanom.errors import LeakageError
from geoanom.io.catalog import write_catalog_csv

torch.set_num_threads(1)

BOX = (100.0, 102.0, 30.0, 32.0)
REGION = custom_region(BOX, (3.0, 4.0, 4.5, 5.0, 5.5))
FAST = DLEPConfig(epochs=3, indim=8, hidden=8, channels=(4, 4), batch_size=16, lr=0.003,
                  cnn2018_epochs=1, image_size=8)


def _catalog(n: int = 900, seed: int = 3):
    rng = np.random.default_rng(seed)
    days = np.cumsum(rng.exponential(1.0, n))
    t = np.datetime64("2001-01-01T00:00:00", "ns") + (days * 86_400e9).astype("timedelta64[ns]")
    mags = np.round(3.0 + rng.exponential(0.5, n), 1)
    return make_catalog(t, rng.uniform(30.2, 31.8, n), rng.uniform(100.2, 101.8, n), mags)


@pytest.fixture(scope="module")
def cat():
    return _catalog()


@pytest.fixture(scope="module")
def samples(cat):
    return segment_catalog(cat, REGION, n_events=10, w=5)


def test_trivial_references(samples):
    maj = evaluate(samples, "majority", "chrono", seeds=[0], config=FAST, progress=False)
    clim = evaluate(samples, "climatology", "chrono", seeds=[0], config=FAST, progress=False)
    pmax = evaluate(samples, "pattern-max", "kfold", seeds=[0, 1], config=FAST,
                    progress=False)
    folds = make_folds(samples, "chrono", 0, FAST)
    # majority: the training fold's commonest class, scored on the test fold
    accs = []
    for tr, te in folds:
        c = np.argmax(np.bincount(samples.label[tr], minlength=5))
        accs.append(np.mean(samples.label[te] == c))
    assert maj.acc[0] == pytest.approx(np.mean(accs))
    # a constant forecast ranks nothing: MAUC exactly 1/2; its ACC is the majority's
    assert clim.mauc[0] == pytest.approx(0.5)
    assert clim.acc[0] == pytest.approx(maj.acc[0])
    assert 0.0 <= clim.per_seed[0]["brier"] <= 2.0
    # pattern max: by construction (largest of the block) it never exceeds the label
    # class when the pattern lies inside the block, so it is a real, cheap reference
    assert 0.0 <= pmax.acc_mean <= 1.0 and np.isfinite(pmax.mauc_mean)


def test_one_seed_prints_na_and_effects_need_the_spread(samples):
    one = MethodResult("dlep", "chrono", [0], [{"seed": 0, "acc": 0.4, "mauc": 0.6}], 10)
    assert np.isnan(one.mauc_std)
    t = format_table3({"dlep": one}, "custom", "chrono")
    assert "60.00±n/a" in t and "±0.00" not in t
    a = MethodResult("dlep", "chrono", [0, 1, 2], [
        {"seed": s, "acc": 0.4, "mauc": m} for s, m in enumerate((0.60, 0.64, 0.56))], 10)
    b = MethodResult("dlep-att", "chrono", [0, 1, 2], [
        {"seed": s, "acc": 0.4, "mauc": m} for s, m in enumerate((0.59, 0.61, 0.57))], 10)
    c = MethodResult("majority", "chrono", [0, 1, 2], [
        {"seed": s, "acc": 0.4, "mauc": 0.5} for s in range(3)], 10)
    assert not compare(a, b)["effect"]          # 1 point against a 4-point spread
    assert compare(a, c)["effect"]              # 10 points against it
    assert not compare(one, c)["effect"]        # one seed: no claim
    text = format_effects({"dlep": a, "dlep-att": b, "majority": c})
    assert "not an effect" in text and "larger than the seed spread" in text


def test_results_json_has_one_record_per_method_protocol_seed(samples, tmp_path):
    res = {p: {m: evaluate(samples, m, p, seeds=[0, 1], config=FAST, progress=False)
               for m in ("majority", "2019f")} for p in ("chrono", "kfold")}
    out = DLEPResults(region="custom", samples=samples_summary(samples), results=res,
                      config={}, provenance={}).write(tmp_path / "r.json")
    d = json.loads(out.read_text())
    recs = d["records"]
    assert len(recs) == 2 * 2 * 2
    keys = {(r["method"], r["protocol"], r["seed"]) for r in recs}
    assert len(keys) == 8
    assert all({"seed", "acc", "mauc", "leaky"} <= set(r) for r in recs)
    assert all(r["leaky"] == (r["protocol"] == "kfold") for r in recs)
    assert d["results"]["kfold"]["2019f"]["leaky"] is True
    # the notes say what the flag says
    assert "leaky" in d["results"]["kfold"]["2019f"]["note"].lower()
    assert "leak" not in d["results"]["chrono"]["2019f"]["note"].lower()
    assert "kfold (leaky)" in format_table3(res["kfold"], "custom", "kfold")


def test_table1_check_warns_where_the_catalog_cannot_reach_the_paper(cat, samples):
    reg = Region("Toy", *BOX, (3.0, 4.0, 4.5, 5.0, 5.5), paper_instances=100,
                 paper_label_counts=(20, 20, 20, 20, 20))
    chk = table1_check(cat, reg, samples)
    ceiling = np.asarray(chk["catalog_events_per_class"])
    mags = cat["magnitude"].to_numpy()
    assert ceiling[4] == np.sum(mags >= 5.5)
    assert ceiling[4] < 20 and 5 in chk["unreachable_classes"]
    assert any("class 5" in w for w in chk["warnings"])
    assert (np.asarray(chk["our_counts"]) <= ceiling).all()


def test_leak_puts_the_mainshock_into_the_features(samples):
    ind = leak_mainshock(samples, "indicators")
    cnn = leak_mainshock(samples, "cnn")
    both = leak_mainshock(samples, "both")
    mag_col = 0
    assert np.allclose(cnn.pattern[:, -1, mag_col], samples.magnitude)
    assert np.array_equal(ind.pattern, samples.pattern, equal_nan=True)  # indicators only
    assert not np.allclose(ind.indicators[:, 1], samples.indicators[:, 1])  # M_mean moved
    assert np.array_equal(cnn.indicators, samples.indicators, equal_nan=True)
    assert np.allclose(both.pattern[:, -1, mag_col], samples.magnitude)
    assert both.config["leak"] == "both"
    # the baselines' windows now include the main shock
    v0, _ = fixed_day_indicators(samples, 30.0)
    v1, _ = fixed_day_indicators(both, 30.0)
    finite = np.isfinite(v0[:, 1]) & np.isfinite(v1[:, 1])
    assert not np.allclose(v0[finite, 1], v1[finite, 1])
    img0, img1 = map_images(samples, 120.0, 8), map_images(both, 120.0, 8)
    assert (img1 >= img0).all() and (img1 > img0).any()
    with pytest.raises(Exception):  # noqa: B017 - ValidationError on an unknown mode
        leak_mainshock(samples, "labels")


def test_operational_design_uses_nothing_after_the_forecast_time(cat):
    s = segment_operational(cat, REGION, n_events=10, w=5)
    assert len(s) > 50
    assert (s.pattern_end_time < s.mainshock_time).all()
    assert (s.label_known_time >= s.mainshock_time).all()
    # the label is the largest of the next 10 events after the forecast event
    t = s.events["time"].to_numpy("datetime64[ns]")
    m = s.events["magnitude"].to_numpy()
    k = int(np.searchsorted(t, s.pattern_end_time[3], side="right"))
    assert s.magnitude[3] == m[k:k + 10].max()
    # changing every event after a forecast time changes no feature of that sample
    j = len(s) // 2
    tf = s.pattern_end_time[j]
    later = cat["time"].to_numpy("datetime64[ns]") > tf
    cat2 = cat.copy()
    cat2.loc[later, "magnitude"] = 6.9
    s2 = segment_operational(cat2, REGION, n_events=10, w=5)
    i2 = int(np.flatnonzero(s2.pattern_end_time == tf)[0])
    assert np.array_equal(s.indicators[j], s2.indicators[i2], equal_nan=True)
    assert np.array_equal(s.pattern[j], s2.pattern[i2], equal_nan=True)
    assert np.array_equal(map_images(s, 120.0, 8)[j], map_images(s2, 120.0, 8)[i2])
    # chronological folds train only on labels known before the test forecast times
    for tr, te in make_folds(s, "chrono", 0, FAST):
        check_chronological(s, tr, te)
        assert s.label_known_time[tr].max() < s.pattern_end_time[te].min()
    with pytest.raises(LeakageError):
        check_chronological(s, np.array([len(s) - 1]), np.array([0]))
    sd = segment_operational(cat, REGION, n_days=20.0, w=5)
    span = (sd.label_known_time - sd.pattern_end_time).astype("timedelta64[s]").astype(float)
    assert np.allclose(span, 20 * 86400)
    r = evaluate(s, "dlep", "chrono", seeds=[0], config=FAST, progress=False)
    assert np.isfinite(r.mauc_mean)


def test_line_progress_prints_plain_lines():
    buf = io.StringIO()
    bar = LineProgress(4, "dlep chrono", interval_s=0.0, stream=buf)
    for _ in range(4):
        bar.update(1, note="fold")
    lines = buf.getvalue().splitlines()
    assert len(lines) == 4 and lines[-1].startswith("dlep chrono: 4/4 (100%)")
    assert "\r" not in buf.getvalue()
    quiet = io.StringIO()
    bar = LineProgress(100, "x", interval_s=3600.0, stream=quiet)
    bar.update(1)
    assert quiet.getvalue() == ""  # nothing before the interval, only at the end


def test_cli_redirected_stderr_gets_progress_lines(cat, tmp_path):
    path = tmp_path / "c.csv"
    write_catalog_csv(cat, path)
    r = CliRunner().invoke(main, [
        "dlep", "evaluate", "--catalog", str(path), "--region", "custom", "--lat", "30,32",
        "--lon", "100,102", "--edges", "3,4,4.5,5,5.5", "--methods", "majority,2019f",
        "--seeds", "1", "-w", "5", "--n-events", "10", "-o", str(tmp_path / "r.json")])
    assert r.exit_code == 0, r.output
    assert "2019f chrono: " in r.stderr and "(100%)" in r.stderr
    d = json.loads((tmp_path / "r.json").read_text())
    assert d["config"]["protocols"] == ["chrono"]  # the default protocol
    assert d["config"]["threads"] == 1


def test_sweep_and_operational_design_from_the_cli(cat, tmp_path):
    path = tmp_path / "c.csv"
    write_catalog_csv(cat, path)
    out = tmp_path / "sweep.json"
    r = CliRunner().invoke(main, [
        "dlep", "sweep", "--catalog", str(path), "--region", "custom", "--box",
        "30,32,100,102", "--edges", "quantiles", "--min-magnitude", "3.0", "--seeds", "1",
        "--n-events-list", "10,20", "--n-days-list", "15", "--w-list", "5",
        "--methods", "majority,2019f", "--no-progress", "-o", str(out)])
    assert r.exit_code == 0, r.output
    d = json.loads(out.read_text())
    assert [(row["block"], row["N"], row["w"]) for row in d["rows"]] == [
        ("n_events", 10, 5), ("n_events", 20, 5), ("n_days", 15.0, 5)]
    assert d["rows"][0]["n_samples"] > d["rows"][1]["n_samples"]
    r = CliRunner().invoke(main, [
        "dlep", "evaluate", "--catalog", str(path), "--region", "custom", "--box",
        "30,32,100,102", "--edges", "3,4,4.5,5,5.5", "--design", "operational",
        "--methods", "majority,pattern-max", "--seeds", "2", "--protocol", "both",
        "-w", "5", "--n-events", "10", "--no-progress", "-o", str(tmp_path / "op.json")])
    assert r.exit_code == 0, r.output
    assert "operational design" in r.output
    d = json.loads((tmp_path / "op.json").read_text())
    assert d["config"]["segmentation"]["design"] == "operational"


def _score_file(path, code, lat, lon, t0, days, rng):
    from geoanom.detector.score import write_scores

    end = np.datetime64(t0, "ns") + np.arange(1, 24 * days) * np.timedelta64(1, "h")
    v = rng.gamma(2.0, 1.0, end.size)
    ds = xr.Dataset({"rmse": ("window", v), "score": ("window", v),
                     "start": ("window", end - np.timedelta64(1, "h")), "end": ("window", end)},
                    attrs={"iaga_code": code, "latitude_deg": lat, "longitude_deg": lon})
    return write_scores(ds, path)


def test_fuse_with_several_stations_and_a_shifted_null(cat, tmp_path):
    path = tmp_path / "c.csv"
    write_catalog_csv(cat, path)
    rng = np.random.default_rng(1)
    a = _score_file(tmp_path / "a.nc", "AAA", 30.5, 100.5, "2000-12-01", 1100, rng)
    b = _score_file(tmp_path / "b.nc", "BBB", 31.5, 101.5, "2001-06-01", 700, rng)
    out = tmp_path / "fuse.json"
    r = CliRunner().invoke(main, [
        "dlep", "fuse", "--catalog", str(path), "--region", "custom", "--box",
        "30,32,100,102", "--edges", "quantiles", "--scores", str(a), "--scores", str(b),
        "--shift-stream", "365", "--seeds", "2", "--epochs", "2", "--indim", "8",
        "-w", "5", "--n-events", "10", "--no-progress", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "shifted 365 d (null)" in r.output
    d = json.loads(out.read_text())
    assert d["stations"] == ["AAA", "BBB"]
    variants = [row["variant"] for row in d["rows"]]
    assert variants[:3] == ["without stream", "with stream", "stream shifted 365 d (null)"]
    with_row = d["rows"][1]
    assert 0 < with_row["n_test_with_geomag"] <= with_row["n_test"]
    assert len(with_row["per_seed"]) == 2
    assert d["rows"][0]["n_test"] == with_row["n_test"]  # same folds
    assert str(a) in d["provenance"]["inputs"]


def test_any_catalog_through_a_column_mapping(cat, tmp_path):
    """A catalog in the world-m5 layout (date-time parts, no header names geoanom knows)
    read through ``--map world-m5``; the same samples as the geoanom CSV."""
    t = pd.DatetimeIndex(cat["time"])
    table = pd.DataFrame({"year": t.year, "month": t.month, "day": t.day, "hour": t.hour,
                          "minute": t.minute, "second": t.second + t.microsecond / 1e6,
                          "lat": cat["latitude_deg"], "lon": cat["longitude_deg"],
                          "depth_km": 10.0, "mag": cat["magnitude"], "col11": 1})
    path = tmp_path / "m5.csv"
    table.astype(float).to_csv(path, index=False)
    out = tmp_path / "r.json"
    r = CliRunner().invoke(main, [
        "dlep", "evaluate", "--catalog", str(path), "--map", "world-m5", "--region",
        "custom", "--box", "30,32,100,102", "--edges", "3,4,4.5,5,5.5", "--min-magnitude",
        "3.0", "--methods", "majority", "--seeds", "1", "-w", "5", "--n-events", "10",
        "--no-progress", "-o", str(out)])
    assert r.exit_code == 0, r.output
    d = json.loads(out.read_text())
    ref = segment_catalog(cat, REGION, n_events=10, w=5)
    assert d["samples"]["n_samples"] == len(ref)
    assert d["samples"]["class_counts"] == ref.class_counts().tolist()
    assert d["config"]["catalog_map"]
