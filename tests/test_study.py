"""``geoanom study``: configuration, the rolling-origin runner on a small synthetic world
(resumable, identical on dask), the pooled test with joint catalog shifts, injections."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from geoanom._toml import parse_toml
from geoanom.errors import ConfigError
from geoanom.study.config import load_study_config, study_from_dict, study_toml

# ----------------------------------------------------------------------------- config

def _minimal() -> dict:
    return {"study": {"detectors": ["plain_autoencoder"], "test_years": [2021, 2022]},
            "station": [{"code": "SYA", "latitude_deg": 38.9, "longitude_deg": 21.9}],
            "records": {"files": ["x.nc"]}, "catalog": {"file": "c.csv"}}


def test_shipped_configs_load():
    m = load_study_config("magdas")
    assert [s.code for s in m.stations][:3] == ["DAV", "GSI", "ANC"]
    assert m.station("EUS").role == "control"
    assert m.test_years[0] == 2009 and m.test_years[-1] == 2019
    w = m.window_config(split_fractions=(0.8, 0.2, 0.0))
    assert w.stride_s == 86400.0 and w.label_rule.lead_days == (1.0, 30.0)   # daily data
    a = load_study_config("aeta-weekly")
    assert a.kind == "scores" and len(a.stations) == 8
    assert a.protocol().target.lead_days[1] == 7.0


@pytest.mark.parametrize("change, what", [
    (lambda d: d.update(bogus={}), "unknown table"),
    (lambda d: d["study"].update(test_years=[2022, 2021]), "test_years"),
    (lambda d: d["study"].update(detectors=["magic"]), "detectors"),
    (lambda d: d.update(station=[{"code": "A"}]), "station"),
    (lambda d: d.update(train={"hidden_sise": 3}), "training option"),
    (lambda d: d.update(protocol={"alpha": 2.0}), "alpha"),
])
def test_bad_config_is_a_config_error(change, what, tmp_path):
    d = _minimal()
    change(d)
    with pytest.raises(ConfigError, match=what):
        study_from_dict(d, path=tmp_path / "s.toml")


def test_bad_toml_names_file_and_line(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text("[study]\nname = \nseed = 0\n")
    with pytest.raises(ConfigError) as e:
        load_study_config(p)
    assert str(p) in str(e.value) and e.value.line == 2


def test_cli_bad_config_exits_2_with_one_paragraph(tmp_path):
    from click.testing import CliRunner

    from geoanom.cli import main

    bad = tmp_path / "s.toml"
    bad.write_text("[study]\ndetectors = [\"magic\"]\ntest_years = [2020, 2021]\n")
    r = CliRunner().invoke(main, ["study", "--config", str(bad), "-o", str(tmp_path / "o")])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert str(bad) in r.output and "detectors" in r.output
    r = CliRunner().invoke(main, ["study", "--config", str(tmp_path / "none.toml"), "-o",
                                  str(tmp_path / "o")])
    assert r.exit_code == 2 and "not found" in r.output


def test_study_toml_round_trip():
    from geoanom.demo import DemoConfig, demo_study_dict

    world = {"stations": {"SYA": {"latitude_deg": 38.9, "longitude_deg": 21.9}}}
    d = demo_study_dict(DemoConfig(), world)
    assert parse_toml(study_toml(d, header="x")) == json.loads(json.dumps(d))


# ----------------------------------------------------------------- a small synthetic study

@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A 3-year synthetic world (quick demo world) and a study dict over it: one test year,
    the plain autoencoder and the activity score, few surrogates."""
    from geoanom.demo import DemoConfig, demo_study_dict, demo_world

    root = tmp_path_factory.mktemp("study")
    cfg = DemoConfig.quick_config(0)
    world = demo_world(cfg, root / "world")
    d = demo_study_dict(cfg, world)
    d["study"]["detectors"] = ["plain_autoencoder", "activity"]
    d["train"].update(max_epochs=2, batches_per_epoch=5)
    d["protocol"]["surrogates"].update(n=99, n_secondary=19, n_bootstrap=99, n_legacy=19)
    d["power"] = {"stations": ["SYA"], "detectors": ["plain_autoencoder"], "strengths": [2.0],
                  "n_injections": 2, "surrogates": 49, "retrain": False}
    return root, d


def _run(root, d, name, **kw):
    from geoanom.study import run_study

    cfg = study_from_dict(d, path=root / "s.toml", data_root=root)
    return run_study(cfg, root / name, progress=False, figures=False, **kw)


@pytest.fixture(scope="module")
def serial(small):
    root, d = small
    return _run(root, d, "serial")


def test_report_has_scores_tests_and_provenance(small, serial):
    root, _ = small
    out = root / "serial"
    res = json.loads((out / "results.json").read_text())
    assert res["type"] == "geoanom.StudyResult"
    assert res["provenance"]["config_hash"] == res["config_hash"]
    assert res["provenance"]["inputs_sha256"]
    for code in ("SYA", "SYB"):
        for det in ("plain_autoencoder", "activity"):
            nc = out / "stations" / code / f"scores_{det}.nc"
            ds = xr.load_dataset(nc)
            # every score is a test-year score, out of sample
            assert set(ds["split"].values.astype(str)) == {"test"}
            assert str(ds["end"].values.min())[:4] == "2021"
            te = res["stations"][code]["detectors"][det]["test"]
            r = json.loads((out / res["stations"][code]["detectors"][det]["test_file"])
                           .read_text())
            assert te["p_value"] == r["primary"]["p_value"]
            assert te["n_independent_events"] == r["primary"]["n_independent_events"]
            assert 0.0 <= te["q_value_by"] <= 1.0
    pooled = res["across_stations"]["plain_autoencoder"]["pooled"]
    assert pooled["n_pairs"] == sum(
        res["stations"][c]["detectors"]["plain_autoencoder"]["test"]["n_independent_events"]
        for c in ("SYA", "SYB"))
    # both stations see the same events: fewer distinct events than pairs
    assert pooled["n_independent_events"] < pooled["n_pairs"]
    text = (out / "summary.md").read_text()
    assert "Pooled over the seismic stations" in text and res["config_hash"] in text


def test_rerun_resumes_and_a_lost_unit_is_redone(small, serial, capsys):
    root, d = small
    out = root / "serial"
    units = sorted((out / "units").rglob("*.nc"))
    before = {p: p.stat().st_mtime_ns for p in units}
    lost = out / "units" / "SYA" / "plain_autoencoder" / "2021.nc"
    lost.unlink()
    from geoanom.study import run_study

    cfg = study_from_dict(d, path=root / "s.toml", data_root=root)
    res = run_study(cfg, out, progress=True, figures=False)
    err = capsys.readouterr().err
    assert f"{len(units) - 1} of {len(units)} units already done (resumed)" in err
    after = {p: p.stat().st_mtime_ns for p in units}
    assert [p for p in units if after[p] != before[p]] == [lost]
    # the redone unit gives the same numbers (seeded, deterministic)
    for code in ("SYA", "SYB"):
        assert res["stations"][code]["detectors"]["plain_autoencoder"]["test"]["p_value"] == \
            serial["stations"][code]["detectors"]["plain_autoencoder"]["test"]["p_value"]


@pytest.mark.slow
def test_dask_local_cluster_gives_the_serial_numbers(small, serial):
    pytest.importorskip("distributed")
    root, d = small
    res = _run(root, d, "dask", scheduler="local", workers=2, inject=True)
    for code in ("SYA", "SYB"):
        a = xr.load_dataset(root / "serial" / "stations" / code / "scores_plain_autoencoder.nc")
        b = xr.load_dataset(root / "dask" / "stations" / code / "scores_plain_autoencoder.nc")
        np.testing.assert_array_equal(a["score"].values, b["score"].values)
        assert res["stations"][code]["detectors"]["plain_autoencoder"]["test"] == \
            serial["stations"][code]["detectors"]["plain_autoencoder"]["test"]
    # the injections too (they finish in any order on the cluster)
    power = _run(root, d, "power_serial", inject=True)["power"]
    for r in (power, res["power"]):
        r.pop("seconds")
    assert res["power"] == power
    rates = power["stations"]["SYA"]["plain_autoencoder"]
    assert rates["strengths"][0]["n"] == 2 and rates["random_time"]["n"] == 2


def _square(spec):
    return spec * spec


def test_run_all_skips_what_is_done_and_keeps_spec_order():
    from geoanom.executor import run_all

    seen = []
    out = run_all(_square, [1, 2, 3, 4], done=lambda s: -s if s % 2 else None,
                  progress=lambda k, n, spec, r: seen.append((k, n, spec, r)))
    assert out == [-1, 4, -3, 16]
    assert seen == [(0, 2, None, None), (1, 2, 2, 4), (2, 2, 4, 16)]
    assert run_all(_square, [3, 5]) == [9, 25]


def test_power_injections_resume(small, capsys):
    """A power run stores each injection; a rerun reruns only the one that was lost, and
    each injection's detector units are the study's units of its station (same seeds,
    the study's models)."""
    from geoanom.study import run_study
    from geoanom.study.power import injections

    root, d = small
    cfg = study_from_dict(d, path=root / "s.toml", data_root=root)
    out = root / "power_resume"
    first = run_study(cfg, out, progress=False, figures=False, inject=True)["power"]
    files = sorted((out / "power" / "SYA").rglob("*.json"))
    assert len(files) == 4
    files[0].unlink()
    again = run_study(cfg, out, progress=True, figures=False, inject=True)["power"]
    assert "power: 4 injections (3 already done)" in capsys.readouterr().err
    assert again["stations"] == first["stations"]
    from geoanom.study.inputs import load_catalog, load_records
    from geoanom.study.units import RecordUnits

    records = load_records(cfg)
    units = RecordUnits.from_inputs(cfg, out, records, load_catalog(cfg), {}, {})
    inj = injections(units)[0]
    [u] = inj.units
    study_unit = units.detector_unit("SYA", "plain_autoencoder", 2021)
    assert (u.seed, u.model_dir, u.out) == (study_unit.seed, study_unit.model_dir,
                                           study_unit.out)
    assert u.record is records["SYA"]


# ----------------------------------------------------------------------- pooled test

def _scores(code, lat, lon, values, t0="2020-01-01"):
    from geoanom.detector.score import score_attrs

    n = values.size
    end = np.datetime64(t0, "ns") + np.arange(1, n + 1) * np.timedelta64(1, "D")
    ds = xr.Dataset({"start": ("window", end - np.timedelta64(1, "D")),
                     "end": ("window", end), "score": ("window", values),
                     "split": ("window", np.full(n, "test", dtype=object))},
                    coords={"window": np.arange(n)})
    ds.attrs = score_attrs(xr.Dataset(attrs={"iaga_code": code, "latitude_deg": lat,
                                             "longitude_deg": lon}),
                           window_length_s=86400.0, stride_s=86400.0, period=86400.0,
                           kind="test", prov={})
    return ds


def _catalog(times, lat, lon):
    from geoanom.catalog_frame import make_catalog

    cat = make_catalog(np.asarray(times, "datetime64[ns]"), np.full(len(times), lat),
                       np.full(len(times), lon), np.full(len(times), 5.5),
                       depth_km=np.full(len(times), 10.0))
    cat["mainshock"] = True
    return cat


def test_pooled_test_of_one_station_is_its_primary_test():
    from geoanom.stats.protocol import Protocol
    from geoanom.stats.test import run_test
    from geoanom.study.pooled import pooled_test

    rng = np.random.default_rng(1)
    v = rng.lognormal(size=6 * 365)
    ev = np.datetime64("2020-03-01", "ns") + np.arange(15) * np.timedelta64(97, "D")
    cat = _catalog(ev, 10.0, 120.0)
    p = Protocol().replace(surrogates_n=199, surrogates_n_secondary=19,
                           surrogates_n_bootstrap=99, surrogates_n_legacy=19,
                           surrogates_n_fake_catalogs=2, target_declustering="none")
    a = _scores("AAA", 10.0, 120.0, v)
    r = run_test(a, cat, p, seed=0)
    po = pooled_test({"AAA": a}, cat, p, seed=0)
    assert po["n_pairs"] == po["n_independent_events"] == r.primary["n_independent_events"]
    assert po["auc"] == pytest.approx(r.primary["auc"])


def test_pooled_shifts_are_joint_and_count_shared_events_once():
    from geoanom.stats.protocol import Protocol
    from geoanom.study.pooled import pooled_test

    rng = np.random.default_rng(2)
    n = 6 * 365
    ev = np.datetime64("2020-03-01", "ns") + np.arange(14) * np.timedelta64(131, "D")
    cat = _catalog(ev, 10.0, 120.0)
    bins = ((ev - np.datetime64("2020-01-01", "ns")) // np.timedelta64(1, "D")).astype(int)
    base = rng.lognormal(size=n)
    sig = base.copy()
    for b in bins:   # a precursor: high score 1-10 days before each event
        sig[b - 10:b - 1] += 5.0
    p = Protocol().replace(surrogates_n=299, target_declustering="none")
    # two stations seeing the same events, both with the precursor
    both = pooled_test({"AAA": _scores("AAA", 10.0, 120.0, sig),
                        "BBB": _scores("BBB", 10.2, 120.1, sig * 1.3)}, cat, p, seed=0)
    assert both["n_independent_events"] == 14 and both["n_pairs"] == 28
    assert both["auc"] > 0.7 and both["p_value"] <= 0.05
    assert both["verdict"].startswith("significant")
    # no precursor anywhere: not significant
    null = pooled_test({"AAA": _scores("AAA", 10.0, 120.0, base),
                        "BBB": _scores("BBB", 10.2, 120.1, rng.lognormal(size=n))}, cat, p,
                       seed=0)
    assert not null["significant"]


# ------------------------------------------------------------------------ injections

def test_injection_before_seen_events_and_at_random_times():
    from geoanom.record import make_record
    from geoanom.study.config import StationSpec
    from geoanom.study.power import inject, injection_windows, robust_spread

    t = np.datetime64("2015-01-01", "ns") + np.arange(3 * 365) * np.timedelta64(1, "D")
    rec = make_record(t, {"EUEL": np.random.default_rng(0).normal(50, 10, t.size)},
                      attrs={"iaga_code": "DAV", "latitude_deg": 7.0, "longitude_deg": 125.4,
                             "sampling_period_s": 86400.0})
    ev = np.array(["2015-06-01", "2016-06-01", "2017-06-01"], "datetime64[ns]")
    cat = _catalog(ev, 7.5, 125.0)
    st = StationSpec("DAV", 7.0, 125.4)
    spread = robust_spread(rec, "EUEL")
    assert 8 < spread < 12
    w = injection_windows(rec, cat, st, strength=2.0, spread=spread, lead_days=(1, 30),
                          m_min=5.0, max_depth_km=100.0)
    assert len(w) == 3
    assert (w["end"].to_numpy() == ev - np.timedelta64(1, "D")).all()
    rng = np.random.default_rng(0)
    out = inject(rec, w, component="EUEL", shape="bump", taper_days=1.0, rng=rng)
    diff = out["EUEL"].values - rec["EUEL"].values
    inside = np.zeros(t.size, bool)
    for s, e in zip(w["start"].to_numpy(), w["end"].to_numpy(), strict=True):
        inside |= (t >= s) & (t < e)
    # raised-cosine taper: zero at each window's first sample, positive inside
    assert (diff[~inside] == 0).all() and (diff[inside] >= 0).all()
    assert (diff[inside] > 0).mean() > 0.9
    assert "injected 3 synthetic precursors" in out.attrs["history"]
    zero = injection_windows(rec, cat, st, strength=0.0, spread=spread, lead_days=(1, 30),
                             m_min=5.0, max_depth_km=100.0)
    same = inject(rec, zero, component="EUEL", shape="noise", taper_days=1.0, rng=rng)
    np.testing.assert_array_equal(same["EUEL"].values, rec["EUEL"].values)
    rnd = injection_windows(rec, cat, st, strength=2.0, spread=spread, lead_days=(1, 30),
                            m_min=5.0, max_depth_km=100.0, random_time=True,
                            rng=np.random.default_rng(3))
    assert len(rnd) == 3 and not (rnd["end"].to_numpy() == w["end"].to_numpy()).all()
    assert ((rnd["end"] - rnd["start"]) == (w["end"] - w["start"])).all()


# --------------------------------------------------------------- shipped real studies

def test_aeta_weekly_study_on_a_reduced_design(shared_data, tmp_path):
    from geoanom.study import run_study
    from geoanom.study.inputs import read_weekly_area_scores

    cfg = load_study_config("aeta-weekly", data_root=shared_data)
    _, cat, rates = read_weekly_area_scores(cfg)
    # the data README: 1,503 area-weeks, 123 with an event
    assert rates["pooled"]["weeks"] == 1503 and rates["pooled"]["weeks_with_event"] == 123
    d = json.loads(json.dumps(cfg.raw))
    d["station"] = d["station"][4:6]
    d["study"]["detectors"] = ["average_mean_magn", "activity"]
    d["protocol"]["surrogates"].update(n=199, n_secondary=19, n_bootstrap=99, n_legacy=19)
    res = run_study(study_from_dict(d, data_root=shared_data), tmp_path, progress=False,
                    figures=False)
    br = res["base_rates"]
    assert br["pooled"]["weeks"] == br["A4"]["weeks"] + br["A5"]["weeks"]
    assert br["A5"]["accuracy_constant_no_event"] == pytest.approx(
        1 - br["A5"]["weeks_with_event"] / br["A5"]["weeks"])
    for code in ("A4", "A5"):
        te = res["stations"][code]["detectors"]["average_mean_magn"]["test"]
        assert te["n_independent_events"] >= 10 and te["p_value"] is not None
        assert res["stations"][code]["detectors"]["activity"]["test"]["auc"] is not None
    assert "Base rates" in (tmp_path / "summary.md").read_text()


@pytest.mark.slow
def test_magdas_study_on_a_reduced_design(shared_data, tmp_path):
    from geoanom.study import run_study

    cfg = load_study_config("magdas", data_root=shared_data)
    d = json.loads(json.dumps(cfg.raw))
    d["station"] = [s for s in d["station"] if s["code"] in ("DAV", "EUS")]
    d["study"]["test_years"] = [2015, 2016]
    d["study"]["detectors"] = ["plain_autoencoder", "activity"]
    d["train"].update(max_epochs=2, batches_per_epoch=5)
    d["protocol"]["surrogates"].update(n=99, n_secondary=19, n_bootstrap=99, n_legacy=19)
    res = run_study(study_from_dict(d, data_root=shared_data), tmp_path, progress=False,
                    figures=False)
    dav = res["stations"]["DAV"]["detectors"]
    assert dav["plain_autoencoder"]["test"]["n_independent_events"] > 0
    assert [u["year"] for u in dav["plain_autoencoder"]["units"]] == [2015, 2016]
    # the aseismic control is every seismic station's remote placebo
    assert dav["plain_autoencoder"]["test"]["control_station"]["station"] == "EUS"
    # every verdict says which candidate targets it used and how it fares under other rules
    te = dav["plain_autoencoder"]["test"]
    assert te["targets"]["n_used"] <= te["targets"]["n_candidates"]
    assert {v["name"] for v in te["sensitivity"]["variants"]} and "flips" in te["sensitivity"]
    ds = xr.load_dataset(tmp_path / "stations" / "DAV" / "scores_plain_autoencoder.nc")
    assert ds.attrs["iaga_code"] == "DAV" and ds.sizes["window"] > 300


@pytest.mark.slow
def test_study_with_a_dst_regression_runs_end_to_end(shared_data, tmp_path):
    """A [preprocess] regression on Dst reaches every unit: the detector of each test year
    stores the fitted Dst slope, fitted before its validation year."""
    from geoanom.detector.api import load_detector
    from geoanom.study import run_study

    cfg = load_study_config("magdas", data_root=shared_data)
    d = json.loads(json.dumps(cfg.raw))
    d["station"] = [s for s in d["station"] if s["code"] == "DAV"]
    d["study"]["test_years"] = [2015, 2015]
    d["study"]["detectors"] = ["plain_autoencoder"]
    d["train"].update(max_epochs=2, batches_per_epoch=5)
    d["protocol"]["surrogates"].update(n=99, n_secondary=19, n_bootstrap=99, n_legacy=19)
    d["preprocess"] = {"regression": {"on": "activity", "index": "dst"}}
    res = run_study(study_from_dict(d, data_root=shared_data), tmp_path, progress=False,
                    figures=False)
    [unit] = res["stations"]["DAV"]["detectors"]["plain_autoencoder"]["units"]
    assert unit["year"] == 2015 and unit["n_train_seismic"] > 0
    ds = xr.load_dataset(tmp_path / "stations" / "DAV" / "scores_plain_autoencoder.nc")
    assert ds.sizes["window"] == 365 and np.isfinite(ds["score"].values).sum() > 200
    det = load_detector(tmp_path / "units" / "DAV" / "plain_autoencoder" / "model_2015")
    fitted = det.preprocess
    assert fitted.activity["index"].lower() == "dst"
    assert fitted.train_end.startswith("2014-01-01")
    assert all(np.isfinite(v) and v != 0 for v in fitted.activity["slope"].values())
    assert res["stations"]["DAV"]["detectors"]["plain_autoencoder"]["test"]["auc"] is not None


def test_study_regression_on_an_index_it_does_not_read_is_a_config_error(tmp_path):
    from geoanom.study.units import regression_inputs

    d = _minimal()
    d["activity"] = {"kp": "kp.csv", "baseline": "kp"}
    d["preprocess"] = {"regression": {"on": "activity", "index": "dst"}}
    cfg = study_from_dict(d, path=tmp_path / "s.toml")
    with pytest.raises(ConfigError, match="index names an index"):
        regression_inputs(cfg, {}, {"kp": None}, {}, {})
    d["preprocess"] = {"regression": {"on": "reference"}}
    cfg = study_from_dict(d, path=tmp_path / "s.toml")
    with pytest.raises(ConfigError, match=r"\[records\] reference"):
        regression_inputs(cfg, {"SYA": None}, {}, {}, {})


def test_per_station_verdict_states_the_multiplicity_control():
    from geoanom.study.assess import verdict_after_by

    sig = {"significant": True, "verdict": "significant at alpha = 0.05"}
    assert verdict_after_by(sig, 0.154, 0.05, 8).startswith("significant alone, not after BY")
    assert verdict_after_by(sig, 0.02, 0.05, 8).startswith("significant after BY over 8")
    few = {"significant": None, "verdict": "not assessable (fewer than 10 independent events)"}
    assert verdict_after_by(few, 0.01, 0.05, 8) == few["verdict"]
    assert verdict_after_by({"significant": False}, 0.9, 0.05, 8).startswith("not significant")
