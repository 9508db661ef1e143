"""The [preprocess] table of a detector config: train fits and stores it, score re-applies it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from geoanom.cli import main
from geoanom.detector.config import read_detector_tables
from geoanom.detector.nn.artifact import load_model, read_model_json
from geoanom.detector.preprocess import (
    FittedPreprocess,
    PreprocessConfig,
    align_activity,
    apply_preprocess,
    as_activity_index,
    fit_preprocess,
)
from geoanom.detector.score import score_record
from geoanom.errors import ConfigError, LeakageError, ValidationError
from geoanom.io import read_record

PRE = """
[preprocess]
components = ["X", "Y", "Z"]
despike = { window_s = 600.0 }
gaps = { max_interp_samples = 3 }
filter = { low_hz = 0.0005 }
regression = { on = "activity", index = "kp" }
scale = true
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("world")
    r = CliRunner().invoke(main, ["synth", "-o", str(d), "--days", "20", "--max-epochs", "2"])
    assert r.exit_code == 0, r.output
    return d


def _config(world: Path, tmp: Path, pre: str) -> Path:
    text = (world / "detector.toml").read_text()
    text = text.replace("[train]\n", "[train]\nbatches_per_epoch = 3\n")
    p = tmp / "detector.toml"
    p.write_text(text + pre)
    return p


@pytest.fixture(scope="module")
def trained(world: Path, tmp_path_factory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("model")
    cfg = _config(world, tmp, PRE)
    r = CliRunner().invoke(main, [
        "train", "--record", str(world / "SYA.nc"), "--catalog", str(world / "catalog.csv"),
        "--config", str(cfg), "--activity", str(world / "activity.csv"),
        "-o", str(tmp / "m"), "--no-progress"])
    assert r.exit_code == 0, r.output
    return tmp / "m", tmp


def test_train_stores_the_fitted_chain(trained):
    model, _ = trained
    meta = read_model_json(model)
    fp = FittedPreprocess.from_dict(meta["preprocess"])
    assert [s[0] for s in fp.config.steps] == ["despike", "gaps", "filter", "regression",
                                               "scale"]
    assert fp.activity["index"] == "kp" and set(fp.activity["slope"]) == {"X", "Y", "Z"}
    # fitted on the training period only: it ends before the first held-out window
    val0 = pd.Timestamp(meta["split_periods"]["val"]["first_start"])
    assert pd.Timestamp(fp.train_end) <= val0
    assert meta["record"]["iaga_code"] == "SYA"
    assert FittedPreprocess.from_dict(fp.to_dict()).to_dict() == fp.to_dict()


def test_score_of_the_raw_record_equals_scoring_it_preprocessed_by_hand(world, trained):
    model, tmp = trained
    out = tmp / "scores.nc"
    r = CliRunner().invoke(main, [
        "score", "--model", str(model), "--record", str(world / "SYA.nc"),
        "--activity", str(world / "activity.csv"), "-o", str(out), "--no-progress"])
    assert r.exit_code == 0, r.output
    import xarray as xr

    cli = xr.load_dataset(out)
    fp = FittedPreprocess.from_dict(read_model_json(model)["preprocess"])
    act = pd.read_csv(world / "activity.csv")
    rec = apply_preprocess(read_record([str(world / "SYA.nc")]), fp, activity=act)
    by_hand = score_record(load_model(model), rec, progress=False)
    assert cli.sizes["window"] == by_hand.sizes["window"] > 0
    np.testing.assert_array_equal(cli["rmse"].values, by_hand["rmse"].values)
    # and the chain changed something: the raw record scores differently
    assert "despike" in rec.attrs["history"] and "activity_regression" in rec.attrs["history"]


def test_score_without_the_activity_the_chain_needs_exits_2(world, trained, tmp_path):
    model, _ = trained
    out = tmp_path / "s.nc"
    r = CliRunner().invoke(main, ["score", "--model", str(model), "--record",
                                  str(world / "SYA.nc"), "-o", str(out)])
    assert r.exit_code == 2
    assert "--activity" in r.output and not out.exists()


def test_scoring_another_station_warns(world, trained, tmp_path):
    model, _ = trained
    r = CliRunner().invoke(main, [
        "score", "--model", str(model), "--record", str(world / "SYB.nc"),
        "--activity", str(world / "activity.csv"), "-o", str(tmp_path / "s.nc"),
        "--no-progress"])
    assert r.exit_code == 0, r.output
    assert "warning: scoring a record unlike" in r.output and "model: SYA" in r.output


def test_reference_regression_uses_the_training_period_only(world):
    rec = read_record([str(world / "SYA.nc")])
    ref = read_record([str(world / "SYC.nc")])
    cfg = PreprocessConfig.from_dict({"regression": {"on": "reference"}, "scale": True})
    end = "2020-01-10"
    a = fit_preprocess(rec, cfg, end, reference=ref)
    # change everything at and after train_end: the fit must not move
    late = rec.copy(deep=True)
    m = late["time"].values >= np.datetime64(end)
    for c in ("X", "Y", "Z", "F"):
        late[c].values[m] += 500.0
    b = fit_preprocess(late, cfg, end, reference=ref)
    assert a.to_dict() == b.to_dict()
    assert a.reference["reference_code"] == "SYC"
    with pytest.raises(LeakageError):
        fit_preprocess(rec, cfg, None, reference=ref)
    with pytest.raises(ValidationError, match="reference"):
        fit_preprocess(rec, cfg, end)


def test_activity_alignment_covers_each_sample_interval(world):
    df = pd.DataFrame({"time": ["2020-01-01 00:00", "2020-01-01 03:00", "2020-01-01 06:00"],
                       "Kp": [1.0, 2.0, 3.0]})
    name, idx = as_activity_index(df, "kp")
    assert name == "Kp" and idx.attrs["cadence_s"] == 10800.0
    rec = read_record([str(world / "SYA.nc")]).isel(time=slice(0, 600))
    got = align_activity(idx, name, rec)
    np.testing.assert_array_equal(got[[0, 179, 180, 359, 360, 539, 540]],
                                  [1.0, 1.0, 2.0, 2.0, 3.0, 3.0, np.nan])
    # labelled by the end of its interval, the sample at 03:00 covers 02:59-03:00
    by_end = align_activity(idx, name, rec, by_end=True)
    np.testing.assert_array_equal(by_end[[0, 180, 181]], [np.nan, 1.0, 2.0])


def test_resample_and_night_steps_run_in_order(world):
    rec = read_record([str(world / "SYA.nc")])
    cfg = PreprocessConfig.from_dict({"night": {"start_hour": 0.0, "end_hour": 4.0},
                                      "resample": {"period_s": 600.0}})
    out = apply_preprocess(rec, FittedPreprocess(config=cfg))
    assert out.attrs["sampling_period_s"] == 600.0
    h = out.attrs["history"]
    assert h.index("resample") < h.index("select_local_night")


@pytest.mark.parametrize("table, words", [
    ("[preprocess]\nsmooth = true\n", "unknown step"),
    ("[preprocess]\ndespike = { window = 600.0 }\n", "has no setting 'window'"),
    ("[preprocess]\ndespike = { threshold = 5.0 }\n", "needs window_s"),
    ("[preprocess]\ndespike = { window_s = \"10 min\" }\n", "wrong type"),
    ("[preprocess]\nfilter = { order = 4 }\n", "needs low_hz, high_hz or band"),
    ("[preprocess]\nfilter = { band = \"Pc9\" }\n", "unknown band"),
    ("[preprocess]\nresample = { period_s = -60.0 }\n", "positive period_s"),
    ("[preprocess]\nresample = { period_s = 600.0, how = \"sum\" }\n", "unknown how"),
    ("[preprocess]\nnight = { start_hour = 25.0 }\n", "0..24"),
    ("[preprocess]\nregression = { on = \"kp\" }\n", "activity\" or \"reference"),
    ("[preprocess]\nregression = { on = \"reference\", fit = \"ratio\" }\n", "unknown fit"),
    ("[preprocess]\ncomponents = \"X, Y\"\ndespike = 3\n", "must be a table or true"),
    ("[preproces]\n", "unknown table"),
])
def test_bad_preprocess_tables_exit_2_naming_the_file(world, tmp_path, table, words):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(table)
    out = tmp_path / "m"
    r = CliRunner().invoke(main, ["train", "--record", str(world / "SYA.nc"), "--catalog",
                                  str(world / "catalog.csv"), "--config", str(cfg),
                                  "-o", str(out)])
    assert r.exit_code == 2, r.output
    assert words in r.output and "bad.toml" in r.output
    assert not out.exists()


def test_reader_returns_all_three_tables(tmp_path):
    p = tmp_path / "d.toml"
    p.write_text("[windows]\nstride_s = 60.0\n" + PRE)
    t = read_detector_tables(p)
    assert t["windows"] == {"stride_s": 60.0} and t["train"] == {}
    cfg = PreprocessConfig.from_dict(t["preprocess"])
    assert cfg.components == ("X", "Y", "Z") and cfg.step("scale") == {}
    with pytest.raises(ConfigError):
        PreprocessConfig.from_dict({"scale": {"enabled": 1}})
    assert json.loads(json.dumps(cfg.to_dict())) == cfg.to_dict()
