"""The one detector API: DetectorConfig (TOML round trip, hash), fit_detector, Detector.score,
save / load_detector, and model folders written by the previous release (schema 1)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from geoanom.detector.api import Detector, fit_detector, load_detector
from geoanom.detector.config import DetectorConfig
from geoanom.detector.nn.train import TrainConfig
from geoanom.detector.preprocess import PreprocessConfig
from geoanom.detector.windows import WindowConfig
from geoanom.errors import ConfigError
from geoanom.labels import LabelRule
from geoanom.synthetic import make_world

GOLDEN = Path(__file__).parent / "golden" / "model_v1"


def _config(**train) -> DetectorConfig:
    return DetectorConfig(
        windows=WindowConfig(window_length_s=3600.0, stride_s=1800.0,
                             label_rule=LabelRule(lead_days=(0.25, 0.5), buffer_days=0.25,
                                                  post_event_exclusion_days=0.5)),
        train=TrainConfig(hidden_size=4, latent_size=2, max_epochs=2, ramp_epochs=1,
                          batches_per_epoch=3, **train),
        preprocess=PreprocessConfig.from_dict({"despike": {"window_s": 3600.0,
                                                           "threshold": 6.0},
                                               "scale": {}}))


@pytest.fixture(scope="module")
def world():
    return make_world(0, 12)


def test_config_toml_round_trip_keeps_equality_and_hash(tmp_path):
    cfg = _config(seed=3)
    p = tmp_path / "detector.toml"
    p.write_text(cfg.to_toml())
    back = DetectorConfig.from_toml(p)
    assert back == cfg and back.hash() == cfg.hash()
    assert back.path == str(p)  # for messages only, not part of the hash
    assert DetectorConfig.from_dict(cfg.to_dict()).hash() == cfg.hash()


def test_config_hash_follows_every_setting_and_not_the_file_order(tmp_path):
    cfg = _config()
    assert cfg.replace(train=TrainConfig(**{**cfg.train.to_dict(), "lam": 0.0})).hash() \
        != cfg.hash()
    a, b = tmp_path / "a.toml", tmp_path / "b.toml"
    a.write_text("[train]\nseed = 1\nlam = 0.5\n[windows]\nstride_s = 1800.0\n")
    b.write_text("[windows]\nstride_s = 1800.0\n[train]\nlam = 0.5\nseed = 1\n")
    assert DetectorConfig.from_toml(a).hash() == DetectorConfig.from_toml(b).hash()
    assert DetectorConfig.from_toml(a, train={"seed": 2}).train.seed == 2


def test_config_errors_name_the_file(tmp_path):
    p = tmp_path / "detector.toml"
    p.write_text("[window]\nstride_s = 1.0\n")
    with pytest.raises(ConfigError, match="unknown table") as e:
        DetectorConfig.from_toml(p)
    assert str(p) in str(e.value)
    p.write_text("[train]\nhidden_sise = 3\n")
    with pytest.raises(ConfigError, match="hidden_sise") as e:
        DetectorConfig.from_toml(p)
    assert str(p) in str(e.value)


def test_fit_score_save_load_is_one_detector(world, tmp_path):
    rec = world.records["SYA"]
    det = fit_detector(rec, world.catalog, _config(), out_dir=tmp_path / "m", device="cpu",
                       progress=False)
    assert isinstance(det, Detector) and det.preprocessed
    assert det.fit_summary["split_counts"]["train"]["normal"] > 0
    sc = det.score(rec)
    assert "score" in sc and np.array_equal(sc["score"].values, sc["rmse"].values,
                                            equal_nan=True)
    again = load_detector(tmp_path / "m", device="cpu")
    assert again.hash() == det.hash() and again.config == det.config
    np.testing.assert_array_equal(again.score(rec)["rmse"].values, sc["rmse"].values)
    copy = load_detector(det.save(tmp_path / "copy"), device="cpu")
    assert copy.hash() == det.hash()
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    assert meta["detector"]["schema"] == 2
    assert meta["detector"]["config_hash"] == det.config.hash()
    # scoring a window of the record is the whole record's preprocessing, then the windows
    t = rec["time"].values
    part = det.score(rec, start=t[len(t) // 2], end=t[-1])
    assert 0 < part.sizes["window"] < sc.sizes["window"]


def test_cli_train_and_score_are_the_api(world, tmp_path):
    """``geoanom train`` and ``geoanom score`` give the API's numbers (same functions)."""
    from geoanom.cli import main

    paths = world.save(tmp_path / "w")
    cfg = _config()
    (tmp_path / "w" / "detector.toml").write_text(cfg.to_toml())
    rec = next(p for p in paths if p.name == "SYA.nc")
    cat = next(p for p in paths if p.name == "catalog.csv")
    r = CliRunner().invoke(main, ["train", "--record", str(rec), "--catalog", str(cat),
                                  "--config", str(tmp_path / "w" / "detector.toml"), "-o",
                                  str(tmp_path / "cli"), "--no-progress"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["score", "--model", str(tmp_path / "cli"), "--record",
                                  str(rec), "-o", str(tmp_path / "s.nc"), "--no-progress"])
    assert r.exit_code == 0, r.output
    from geoanom.detector.score import read_scores
    from geoanom.io import read_catalog, read_record

    det = fit_detector(read_record(rec), read_catalog(cat), cfg, out_dir=tmp_path / "api",
                       device="cpu", progress=False)
    assert det.hash() == load_detector(tmp_path / "cli", device="cpu").hash()
    np.testing.assert_array_equal(read_scores(tmp_path / "s.nc")["rmse"].values,
                                  det.score(read_record(rec))["rmse"].values)


def test_a_model_folder_of_the_previous_release_loads_and_scores_the_same():
    """tests/golden/model_v1 was written by geoanom 0.1.0 (db40e2b), before model.json
    described the detector (schema 1): its config is rebuilt from the entries it stored,
    and it scores SYA of the same world exactly as that release did."""
    expected = json.loads((GOLDEN / "scores_SYA.json").read_text())
    det = load_detector(GOLDEN, device="cpu")
    assert "detector" not in det.model.meta
    assert det.config.train.hidden_size == 4 and det.config.windows.label_rule.lead_days == (0.25, 0.5)
    assert [s[0] for s in det.config.preprocess.steps] == ["despike", "scale"]
    assert det.period is None and len(det.hash()) == 64
    sc = det.score(make_world(0, 12).records["SYA"])
    np.testing.assert_array_equal(sc["rmse"].values, np.asarray(expected["rmse"]))


def test_negative_learning_is_made_visible(world, tmp_path, caplog):
    """Per epoch, model.json logs the share of seismic windows whose penalty was active and
    the errors of both classes; a penalty that never acts is called the plain autoencoder."""
    from geoanom.plot import plot_training, save_figure

    rec = world.records["SYA"]
    det = fit_detector(rec, world.catalog, _config(), out_dir=tmp_path / "nl", device="cpu",
                       progress=False)
    log = det.model.meta["log"]
    assert all(0.0 <= r["penalty_active_share"] <= 1.0 for r in log)
    assert all(r["n_seismic_seen"] > 0 and r["train_seismic_error"] > 0 for r in log)
    nl = det.model.meta["metrics"]["negative_learning"]
    assert nl["applies"] and nl["penalty_ever_active"]
    assert save_figure(plot_training(log), tmp_path / "training.png").stat().st_size > 1000
    # a hinge margin below every seismic error: the penalty never acts
    cfg = _config(margin_factor=1e-9)
    with caplog.at_level("WARNING", logger="geoanom"):
        det = fit_detector(rec, world.catalog, cfg, out_dir=tmp_path / "off", device="cpu",
                           progress=False)
    nl = det.model.meta["metrics"]["negative_learning"]
    assert nl["penalty_ever_active"] is False
    assert all(r["penalty_active_share"] == 0.0 for r in det.model.meta["log"])
    assert "never active" in caplog.text and "plain autoencoder" in caplog.text
    # lambda = 0 is the plain autoencoder by construction: no penalty to speak of
    ae = fit_detector(rec, world.catalog, _config(lam=0.0), out_dir=tmp_path / "ae",
                      device="cpu", progress=False)
    assert ae.model.meta["metrics"]["negative_learning"]["applies"] is False
    assert ae.model.meta["metrics"]["negative_learning"]["warnings"] == [] or all(
        "never active" not in w for w in ae.model.meta["metrics"]["negative_learning"]["warnings"])


def test_a_later_record_is_all_test_windows(world, tmp_path):
    """Train on the past only (no test split), score what came after: every window of the
    later record is a test window, and the event-level test accepts the scores."""
    import dataclasses

    from geoanom.stats.alarm import check_scores

    rec, cat = world.records["SYA"], world.catalog
    t = rec["time"].values
    cut = t[0] + np.timedelta64(8, "D")
    cfg = _config()
    cfg = cfg.replace(windows=dataclasses.replace(cfg.windows, split_fractions=(0.8, 0.2, 0.0)))
    det = fit_detector(rec.sel(time=slice(None, cut - np.timedelta64(1, "ns"))),
                       cat[cat["time"] < cut], cfg, out_dir=tmp_path / "m", device="cpu",
                       progress=False)
    later = det.score(rec.sel(time=slice(cut, None)))
    assert later.sizes["window"] > 50 and set(later["split"].values) == {"test"}
    whole = det.score(rec)
    sp = whole["split"].values
    assert "train" in set(sp) and (sp[whole["start"].values >= cut] == "test").all()
    check_scores(later)
