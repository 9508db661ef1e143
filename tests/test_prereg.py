"""``geoanom prereg``: freeze, issue, evaluate, amend and verify on a small synthetic world
with a known precursor, and every kind of tampering refused with exit code 2 and a message
naming what broke."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from geoanom.cli import main
from geoanom.errors import ConfigError
from geoanom.io.netcdf import write_netcdf
from geoanom.prereg.alarms import FORECAST_COLUMNS, LOG_NAME, entry_hash, read_log
from geoanom.prereg.registration import (
    Criteria,
    Registration,
    amend,
    source_digest,
)
from geoanom.provenance import file_sha256, object_sha256

_spec = importlib.util.spec_from_file_location(
    "prereg_calibration",
    Path(__file__).resolve().parents[1] / "bench" / "prereg_calibration.py")
cal = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cal)

WEEK = np.timedelta64(7, "D")
DAY = np.timedelta64(1, "D")


def run(*args: str, ok: bool = True):
    r = CliRunner().invoke(main, [str(a) for a in args])
    if ok:
        assert r.exit_code == 0, r.output
    return r


def _weeks(rec, folder: Path) -> list[tuple[Path, Path]]:
    """The test period as weekly files (new data) with the day before each (context)."""
    out = []
    a = np.datetime64(cal.TEST_START, "ns")
    while a < np.datetime64(cal.TEST_END, "ns"):
        new, ctx = folder / f"week_{str(a)[:10]}.nc", folder / f"ctx_{str(a)[:10]}.nc"
        write_netcdf(cal.before(cal.before(rec, str(a), after=True), str(a + WEEK)), new)
        write_netcdf(cal.before(cal.before(rec, str(a - DAY), after=True), str(a)), ctx)
        out.append((new, ctx))
        a = a + WEEK
    return out


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """A precursor world (strength 100) trained, frozen and issued week by week."""
    d = tmp_path_factory.mktemp("prereg")
    world = cal.small_world(0, 100.0)
    paths = cal.write_inputs(world, d)
    run("train", "--record", paths["train_record"], "--catalog", paths["train_catalog"],
        "--config", paths["detector"], "-o", d / "model", "--device", "cpu", "--no-progress")
    reg = d / "reg.json"
    run("prereg", "freeze", "--model", d / "model", "--protocol", paths["protocol"],
        "--record", paths["train_record"], "--catalog", paths["train_catalog"],
        "--test-start", cal.TEST_START, "--test-end", cal.TEST_END,
        "--criteria", paths["criteria"], "-o", reg)
    weeks = _weeks(world.records["SYA"], d)
    heads = []
    for new, ctx in weeks:
        r = run("prereg", "issue", "--registration", reg, "--record", new, "--context", ctx,
                "-o", d / "alarms")
        heads.append(json.loads(r.stdout)["head"])
    return {"dir": d, "world": world, "paths": paths, "reg": reg, "alarms": d / "alarms",
            "weeks": weeks, "heads": heads}


def _copy_alarms(case, tmp_path) -> Path:
    out = tmp_path / "alarms"
    shutil.copytree(case["alarms"], out)
    return out


def _evaluate(case, alarms, *extra, ok=True, out=None):
    return run("prereg", "evaluate", "--registration", case["reg"], "--alarms", alarms,
               "--catalog", case["paths"]["catalog"], "-o", out or alarms.parent / "res.json",
               *extra, ok=ok)


# ------------------------------------------------------------------------------ criteria

def test_criteria_round_trip_and_a_bad_field_names_the_file(tmp_path):
    c = Criteria(max_p_value=0.01, min_events=12, min_ass=0.55, alarm_quantiles=(0.8, 0.9))
    assert Criteria.from_dict(c.to_dict()) == c
    p = tmp_path / "criteria.toml"
    p.write_text("[primary]\nmax_p_value = 2.0\n")
    with pytest.raises(ConfigError, match="max_p_value") as e:
        Criteria.from_toml(p)
    assert str(p) in str(e.value)
    p.write_text("[alarms]\nquantiles = [0.95, 0.9]\n")
    with pytest.raises(ConfigError, match="quantiles"):
        Criteria.from_toml(p)


# ------------------------------------------------------------------------ freeze

def test_registration_holds_hashes_manifest_thresholds_and_its_own_hash(case):
    d = json.loads(case["reg"].read_text())
    reg = Registration.read(case["reg"])
    model = case["dir"] / "model"
    assert d["hash"] == object_sha256({k: v for k, v in d.items() if k != "hash"})
    assert reg.detector["weights_sha256"] == file_sha256(model / "weights.pt")
    assert reg.detector["model_json_sha256"] == file_sha256(model / "model.json")
    assert reg.protocol["sha256"] == file_sha256(case["paths"]["protocol"])
    assert reg.package["source_digest"] == source_digest()
    roles = {r["role"]: r for r in reg.manifest}
    rec = roles["record"]
    assert rec["sha256"] == file_sha256(case["paths"]["train_record"])
    assert rec["size"] == case["paths"]["train_record"].stat().st_size
    assert rec["end"] == "2020-03-01T00:00:00"
    # model.json lists the training inputs: they are in the manifest with the given files' spans
    trained = [r for r in reg.manifest if r["role"] == "training input"]
    assert {r["sha256"] for r in trained} >= {rec["sha256"], roles["catalog"]["sha256"]}
    assert all(r["start"] for r in trained if r["sha256"] == rec["sha256"])
    q = [t["quantile"] for t in reg.thresholds]
    s = [t["score"] for t in reg.thresholds]
    assert q == [0.9, 0.95] and s[0] < s[1]
    assert reg.training["data_end"] <= "2020-03-01T00:00:00"
    assert reg.test_period == {"start": "2020-03-01T00:00:00", "end": "2020-04-20T00:00:00"}


def test_thresholds_are_quantiles_of_the_validation_bin_alarms(case):
    from geoanom.detector.api import load_detector
    from geoanom.prereg.protocol import bin_alarms

    reg = Registration.read(case["reg"])
    det = load_detector(case["dir"] / "model", device="cpu")
    rec = cal.before(case["world"].records["SYA"], cal.TEST_START)
    sc = det.score(rec)
    val = sc.isel(window=np.flatnonzero(sc["split"].values.astype(str) == "val"))
    v = bin_alarms(val, reg.frozen_protocol, np.datetime64("2020-01-01", "ns")).value
    v = v[np.isfinite(v)]
    assert reg.thresholds[0]["score"] == pytest.approx(np.quantile(v, 0.9), rel=1e-12)
    assert reg.thresholds[0]["n_validation_bins"] == v.size


# --------------------------------------------------------------------- issue, evaluate

def test_log_is_chained_bin_by_bin_and_the_forecast_follows_it(case):
    entries = read_log(case["alarms"])
    reg = Registration.read(case["reg"])
    assert entries[0]["prev"] == reg.hash
    assert all(e["prev"] == p["hash"] for p, e in zip(entries[:-1], entries[1:], strict=True))
    assert all(e["hash"] == entry_hash(e) for e in entries)
    bins = [e for e in entries if e["kind"] == "bin"]
    assert [e["bin"] for e in bins] == list(range(len(bins))) and len(bins) == 50 * 4
    assert sum(e["kind"] == "issue" for e in entries) == len(case["weeks"])
    assert bins[0]["bin_start"] == "2020-03-01T00:00:00"
    assert bins[-1]["bin_end"] == "2020-04-20T00:00:00"
    thr = reg.threshold_scores
    for e in bins:
        assert e["alarm"] == [e["valid"] and e["score"] >= t for t in thr]
    fc = pd.read_csv(case["alarms"] / "forecast.csv")
    assert list(fc.columns) == list(FORECAST_COLUMNS) and len(fc) == len(bins)
    # an alarm raised in bin k is in force from bin k + 1 to the end of bin k + 4 (6-h bins)
    assert fc["window_start"].iloc[0] == "2020-03-01T06:00:00"
    assert fc["window_end"].iloc[0] == "2020-03-02T06:00:00"
    assert (fc["alarm_level"].to_numpy() == [e["alarm_level"] for e in bins]).all()


def test_issuing_week_by_week_equals_issuing_at_once(case, tmp_path):
    rec = case["world"].records["SYA"]
    whole, ctx = tmp_path / "all.nc", tmp_path / "ctx.nc"
    write_netcdf(cal.before(rec, cal.TEST_START, after=True), whole)
    write_netcdf(cal.before(cal.before(rec, "2020-02-29", after=True), cal.TEST_START), ctx)
    run("prereg", "issue", "--registration", case["reg"], "--record", whole, "--context", ctx,
        "-o", tmp_path / "once")
    once = [e for e in read_log(tmp_path / "once") if e["kind"] == "bin"]
    weekly = [e for e in read_log(case["alarms"]) if e["kind"] == "bin"]
    assert [e["bin"] for e in once] == [e["bin"] for e in weekly]
    a = np.array([np.nan if e["score"] is None else e["score"] for e in once])
    b = np.array([np.nan if e["score"] is None else e["score"] for e in weekly])
    np.testing.assert_allclose(a, b, rtol=1e-9, equal_nan=True)
    assert [e["alarm"] for e in once] == [e["alarm"] for e in weekly]


def test_round_trip_passes_on_the_precursor_world(case, tmp_path):
    out = tmp_path / "result.json"
    r = _evaluate(case, case["alarms"], out=out)
    d = json.loads(out.read_text())
    assert d["type"] == "geoanom.PreregResult" and not d["exploratory"]
    assert d["verdict"] == "PASS" and d["reasons"] == []
    pr = d["primary"]
    assert pr["n_independent_events"] >= 10 and pr["p_value"] <= 0.05 and pr["ass"] > 0.5
    assert d["coverage"]["complete"] and d["coverage"]["n_bins"] == 200
    # the primary test ran on the issued bins only, all of them test bins
    tr = d["test_result"]["primary"]
    assert tr["test_period"]["start"] == "2020-03-01 00:00:00"
    assert tr["test_period"]["split_source"] == "scores"
    a = d["alarms"][0]
    assert a["threshold"] == Registration.read(case["reg"]).threshold_scores[0]
    assert a["probability_gain"] == pytest.approx(a["hit_rate"] / a["tau"])
    assert not d["timing"]["prospective"]  # a replay of 2020 data, frozen in the present
    assert "verdict: PASS" in r.stdout and "pseudo-prospective" in r.stdout


def test_evaluate_reports_the_activity_only_gain(case, tmp_path):
    act = tmp_path / "kp.csv"
    pd.DataFrame({"time": pd.to_datetime(case["world"].activity["time"].values)
                  .strftime("%Y-%m-%dT%H:%M:%S"),
                  "kp": case["world"].activity["kp"].values}).to_csv(act, index=False)
    out = tmp_path / "r.json"
    r = _evaluate(case, case["alarms"], "--activity", act, out=out)
    d = json.loads(out.read_text())
    assert d["primary"]["activity_only_ass"] is not None
    assert all(a["activity_only"] is not None for a in d["alarms"])
    assert "activity-only gain" in r.stdout


def test_a_null_world_fails_and_says_why(tmp_path):
    row = cal.run_world(1, 0.0, tmp_path)
    assert row["verdict"] == "FAIL" and row["p_value"] > 0.05


def test_too_few_events_is_an_inconclusive_fail(case, tmp_path):
    cat = pd.read_csv(case["paths"]["catalog"])
    few = tmp_path / "few.csv"
    cat[cat["time"] < "2020-03-10"].to_csv(few, index=False)
    out = tmp_path / "r.json"
    run("prereg", "evaluate", "--registration", case["reg"], "--alarms", case["alarms"],
        "--catalog", few, "-o", out)
    d = json.loads(out.read_text())
    assert d["verdict"] == "FAIL"
    assert any("too few independent target events" in x and "inconclusive" in x
               for x in d["reasons"])


def test_other_thresholds_only_with_exploratory_and_labelled(case, tmp_path):
    r = _evaluate(case, case["alarms"], "--threshold", "1.0", ok=False)
    assert r.exit_code == 2 and "--exploratory" in r.output
    out = tmp_path / "x.json"
    r = _evaluate(case, case["alarms"], "--threshold", "1.0", "--exploratory", out=out)
    d = json.loads(out.read_text())
    assert d["exploratory"] and d["verdict"].startswith("exploratory: ")
    assert d["alarms"][0]["threshold"] == 1.0
    lines = [ln for ln in r.stdout.splitlines() if not ln.startswith("result:")]
    assert lines[0].startswith("EXPLORATORY") and all("EXPLORATORY" in ln for ln in lines)


def test_another_protocol_only_with_exploratory(case, tmp_path):
    p = tmp_path / "p.toml"
    p.write_text(case["paths"]["protocol"].read_text().replace("n = 199", "n = 99"))
    r = _evaluate(case, case["alarms"], "--protocol", p, ok=False)
    assert r.exit_code == 2 and "--exploratory" in r.output
    out = tmp_path / "x.json"
    _evaluate(case, case["alarms"], "--protocol", p, "--exploratory", out=out)
    d = json.loads(out.read_text())
    assert d["exploratory"] and d["primary"]["n_surrogates"] == 99
    p.write_text(case["paths"]["protocol"].read_text().replace("bin_days = 0.25",
                                                               "bin_days = 0.125"))
    r = _evaluate(case, case["alarms"], "--protocol", p, "--exploratory", ok=False)
    assert r.exit_code == 2 and "binning" in r.output


# --------------------------------------------------------------------------- verify

def test_verify_a_clean_claim_with_its_files(case):
    p = case["paths"]
    r = run("prereg", "verify", case["reg"], case["alarms"], "--model", case["dir"] / "model",
            "--protocol", p["protocol"], "--criteria", p["criteria"],
            "--record", p["train_record"], "--record", case["weeks"][2][0],
            "--catalog", p["train_catalog"], "--head", case["heads"][-1],
            "--head", case["heads"][0])
    assert "FAIL" not in r.stdout
    for name in ("registration", "alarm log", "forecast", "published heads", "model",
                 "protocol", "criteria", "timing"):
        assert f"ok    {name}:" in r.stdout, name
    assert "issue entry" in r.stdout  # the weekly file is found among an issue's inputs


# ------------------------------------------------------------------------- amend

def _freeze_args(case):
    p = case["paths"]
    from geoanom.io import read_catalog, read_record

    return {"detector_dir": case["dir"] / "model", "protocol_path": p["protocol"],
            "criteria_path": p["criteria"], "record": read_record(p["train_record"]),
            "catalog": read_catalog(p["train_catalog"]), "test_start": cal.TEST_START,
            "test_end": cal.TEST_END, "record_files": [p["train_record"]],
            "catalog_file": p["train_catalog"]}


def test_amend_before_the_test_start_chains_to_the_old_hash(case, tmp_path):
    old = Registration.read(case["reg"])
    before = dt.datetime(2020, 2, 15, tzinfo=dt.timezone.utc)
    crit = tmp_path / "criteria.toml"
    crit.write_text(cal.criteria_toml(0.01))
    new = amend(old, "a stricter alpha", now=before, **{**_freeze_args(case),
                                                      "criteria_path": crit})
    assert new.amends == {"hash": old.hash, "reason": "a stricter alpha"}
    assert new.frozen_criteria.max_p_value == 0.01 and new.hash != old.hash
    path = tmp_path / "reg2.json"
    new.write(path)
    r = run("prereg", "verify", path, "--previous", case["reg"])
    assert "ok    amendment: amends " + old.hash in r.stdout


def test_amend_after_the_test_start_is_refused(case, tmp_path):
    r = run("prereg", "amend", case["reg"], "--reason", "too late", "-o", tmp_path / "r.json",
            ok=False)
    assert r.exit_code == 2 and "test period has begun" in r.output
    assert not (tmp_path / "r.json").exists()


# ----------------------------------------------------------------------- tampering

def _lines(alarms: Path) -> list[str]:
    return (alarms / LOG_NAME).read_text().splitlines(keepends=True)


def _write_lines(alarms: Path, lines: list[str]) -> None:
    (alarms / LOG_NAME).write_text("".join(lines))


def test_an_edited_alarm_is_refused(case, tmp_path):
    alarms = _copy_alarms(case, tmp_path)
    lines = _lines(alarms)
    e = json.loads(lines[10])
    e["alarm_level"] = 2
    e["alarm"] = [True, True]
    lines[10] = json.dumps(e, sort_keys=True) + "\n"
    _write_lines(alarms, lines)
    r = _evaluate(case, alarms, ok=False)
    assert r.exit_code == 2 and "line 11" in r.output
    assert f"entry 10 (bin {e['bin']}" in r.output and "was edited" in r.output


def test_an_edited_and_rehashed_alarm_breaks_the_next_link(case, tmp_path):
    alarms = _copy_alarms(case, tmp_path)
    lines = _lines(alarms)
    e = json.loads(lines[10])
    e["score"] = 1e6
    e["hash"] = entry_hash(e)
    lines[10] = json.dumps(e, sort_keys=True) + "\n"
    _write_lines(alarms, lines)
    r = _evaluate(case, alarms, ok=False)
    assert r.exit_code == 2 and "line 12" in r.output and "entry 11" in r.output
    assert "link to the entry before" in r.output


def test_a_deleted_alarm_is_refused(case, tmp_path):
    alarms = _copy_alarms(case, tmp_path)
    lines = _lines(alarms)
    del lines[20]
    _write_lines(alarms, lines)
    r = _evaluate(case, alarms, ok=False)
    assert r.exit_code == 2 and "entry 21" in r.output and "dropped" in r.output


def test_two_swapped_alarms_are_refused(case, tmp_path):
    alarms = _copy_alarms(case, tmp_path)
    lines = _lines(alarms)
    lines[5], lines[6] = lines[6], lines[5]
    _write_lines(alarms, lines)
    r = _evaluate(case, alarms, ok=False)
    assert r.exit_code == 2 and "line 6" in r.output and "reordered" in r.output


def test_dropping_the_last_alarms_is_caught_by_a_published_head(case, tmp_path):
    alarms = _copy_alarms(case, tmp_path)
    _write_lines(alarms, _lines(alarms)[:-3])
    r = run("prereg", "verify", case["reg"], alarms, "--head", case["heads"][-1], ok=False)
    assert r.exit_code == 2 and "published head" in r.output


def test_an_edited_forecast_is_refused_by_verify(case, tmp_path):
    alarms = _copy_alarms(case, tmp_path)
    fc = alarms / "forecast.csv"
    fc.write_text(fc.read_text().replace(",0,2020-03-02", ",1,2020-03-02", 1))
    r = run("prereg", "verify", case["reg"], alarms, ok=False)
    assert r.exit_code == 2 and "forecast" in r.output


def test_an_edited_registration_is_refused(case, tmp_path):
    d = json.loads(case["reg"].read_text())
    d["criteria"]["settings"]["primary"]["max_p_value"] = 0.5
    reg = tmp_path / "reg.json"
    reg.write_text(json.dumps(d))
    r = run("prereg", "evaluate", "--registration", reg, "--alarms", case["alarms"],
            "--catalog", case["paths"]["catalog"], "-o", tmp_path / "r.json", ok=False)
    assert r.exit_code == 2 and "does not match its hash" in r.output


def test_changed_model_weights_are_refused(case, tmp_path):
    import torch

    model = tmp_path / "model"
    shutil.copytree(case["dir"] / "model", model)
    sd = torch.load(model / "weights.pt", weights_only=True)
    k = next(iter(sd))
    sd[k] = sd[k] + 1e-3
    torch.save(sd, model / "weights.pt")
    new, ctx = case["weeks"][0]
    issue = ["prereg", "issue", "--registration", case["reg"], "--model", model, "--record",
             new, "--context", ctx, "-o", tmp_path / "alarms"]
    r = run(*issue, ok=False)   # the model folder itself no longer loads
    assert r.exit_code == 2 and "weights.pt" in r.output
    # weights replaced together with the checksum in model.json: the registration refuses
    meta = json.loads((model / "model.json").read_text())
    meta["weights_sha256"] = file_sha256(model / "weights.pt")
    (model / "model.json").write_text(json.dumps(meta))
    r = run(*issue, ok=False)
    assert r.exit_code == 2 and "model differs from the registration: weights.pt" in r.output
    assert not (tmp_path / "alarms").exists()
    r = run("prereg", "verify", case["reg"], "--model", model, ok=False)
    assert r.exit_code == 2 and "FAIL  model" in r.output and "weights.pt" in r.output


def test_a_changed_protocol_is_refused(case, tmp_path):
    p = tmp_path / "protocol.toml"
    p.write_text(case["paths"]["protocol"].read_text().replace("min_days = 0.25",
                                                               "min_days = 0.5"))
    new, ctx = case["weeks"][0]
    r = run("prereg", "issue", "--registration", case["reg"], "--protocol", p, "--record",
            new, "--context", ctx, "-o", tmp_path / "alarms", ok=False)
    assert r.exit_code == 2 and "protocol differs from the registration" in r.output
    p.write_text(case["paths"]["protocol"].read_text() + "# a comment\n")
    r = run("prereg", "issue", "--registration", case["reg"], "--protocol", p, "--record",
            new, "--context", ctx, "-o", tmp_path / "alarms", ok=False)
    assert r.exit_code == 2 and "protocol file differs" in r.output


def test_alarms_for_a_period_already_issued_are_refused(case, tmp_path):
    alarms = _copy_alarms(case, tmp_path)
    before = (alarms / LOG_NAME).read_bytes()
    new, ctx = case["weeks"][-2]
    r = run("prereg", "issue", "--registration", case["reg"], "--record", new, "--context",
            ctx, "-o", alarms, ok=False)
    assert r.exit_code == 2 and "alarms issued for a period already issued" in r.output
    assert (alarms / LOG_NAME).read_bytes() == before


def test_freeze_refuses_a_record_reaching_past_the_test_start(case, tmp_path):
    p = case["paths"]
    rec = tmp_path / "long.nc"
    write_netcdf(cal.before(case["world"].records["SYA"], "2020-03-02"), rec)
    r = run("prereg", "freeze", "--model", case["dir"] / "model", "--protocol", p["protocol"],
            "--record", rec, "--catalog", p["train_catalog"], "--test-start", cal.TEST_START,
            "--criteria", p["criteria"], "-o", tmp_path / "reg.json", ok=False)
    assert r.exit_code == 2 and "record reaches into the test period" in r.output
    assert str(rec) in r.output and not (tmp_path / "reg.json").exists()


def test_freeze_refuses_a_catalog_reaching_past_the_test_start(case, tmp_path):
    p = case["paths"]
    r = run("prereg", "freeze", "--model", case["dir"] / "model", "--protocol", p["protocol"],
            "--record", p["train_record"], "--catalog", p["catalog"], "--test-start",
            cal.TEST_START, "--criteria", p["criteria"], "-o", tmp_path / "reg.json", ok=False)
    assert r.exit_code == 2 and "catalog reaches into the test period" in r.output


def test_freeze_refuses_a_model_trained_into_the_test_period(case, tmp_path):
    p = case["paths"]
    rec, cat = tmp_path / "short.nc", tmp_path / "cat.csv"
    write_netcdf(cal.before(case["world"].records["SYA"], "2020-02-20"), rec)
    c = pd.read_csv(p["train_catalog"])
    c[c["time"] < "2020-02-20"].to_csv(cat, index=False)
    r = run("prereg", "freeze", "--model", case["dir"] / "model", "--protocol", p["protocol"],
            "--record", rec, "--catalog", cat, "--test-start", "2020-02-20",
            "--criteria", p["criteria"], "-o", tmp_path / "reg.json", ok=False)
    assert r.exit_code == 2 and "model's training data reach into the test period" in r.output
    assert "split_periods" in r.output
