"""Real data end to end through the command line: MMB March 2011 with the Japan catalog.

A small, fast version of ``bench/real_mmb.py``: the windows of ``bench/configs/mmb_2011-03.toml``
with a tiny model and two short epochs, then ``geoanom score`` and ``geoanom test`` with few
surrogates. It checks structure and sane values, not skill (there is no skill to check on one
held-out aftershock).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from click.testing import CliRunner

from geoanom.cli import main

ROOT = Path(__file__).resolve().parents[1]
BENCH_CONFIG = ROOT / "bench" / "configs" / "mmb_2011-03.toml"
BENCH_PROTOCOL = ROOT / "bench" / "configs" / "mmb_protocol.toml"

FAST_TRAIN = """[train]
hidden_size = 8
latent_size = 4
batch_size = 32
max_epochs = 2
patience = 1
ramp_epochs = 1
batches_per_epoch = 4
lr = 0.003
seed = 0
"""

FAST_SURROGATES = {"n = 9999": "n = 199", "n_secondary = 999": "n_secondary = 19",
                   "n_bootstrap = 1999": "n_bootstrap = 99", "n_legacy = 499": "n_legacy = 19",
                   "n_fake_catalogs = 20": "n_fake_catalogs = 2"}

#: 2011-03-22 09:44 M6.4, 456 km from MMB: the only seen target of the test period
#: (an aftershock of Tohoku; the config does not decluster).
TEST_EVENT = "25034"


@pytest.fixture(scope="module")
def mmb_run(geomag_dir, catalogs_dir, tmp_path_factory):
    """Train, score and test once; the tests below read the outputs."""
    import torch

    torch.set_num_threads(1)
    d = tmp_path_factory.mktemp("mmb")
    text = BENCH_CONFIG.read_text(encoding="utf-8")
    (d / "config.toml").write_text(text[:text.index("[train]")] + FAST_TRAIN, encoding="utf-8")
    proto = BENCH_PROTOCOL.read_text(encoding="utf-8")
    for old, new in FAST_SURROGATES.items():
        assert old in proto
        proto = proto.replace(old, new)
    (d / "protocol.toml").write_text(proto, encoding="utf-8")
    rec = str(geomag_dir / "japan_MMB_2011-03" / "mmb_2011_march.txt")
    cat = str(catalogs_dir / "japan_usgs_1990_2019_EarthquakeNPP.csv")
    runner = CliRunner()
    out = {"dir": d}
    for name, args in (
        ("train", ["train", "--record", rec, "--catalog", cat, "--config",
                   str(d / "config.toml"), "-o", str(d / "model"), "--device", "cpu",
                   "--no-progress"]),
        ("score", ["score", "--model", str(d / "model"), "--record", rec, "-o",
                   str(d / "scores.nc"), "--device", "cpu"]),
        ("test", ["test", "--scores", str(d / "scores.nc"), "--catalog", cat, "--protocol",
                  str(d / "protocol.toml"), "-o", str(d / "result.json")]),
    ):
        res = runner.invoke(main, args, catch_exceptions=False)
        assert res.exit_code == 0, res.output
        out[name] = res.output
    # the JSON summary is the last stdout line; warnings on stderr may follow it
    out["train_json"] = json.loads(next(line for line in reversed(out["train"].splitlines())
                                        if line.startswith("{")))
    out["scores"] = xr.load_dataset(d / "scores.nc")
    out["result"] = json.loads((d / "result.json").read_text())
    out["model_json"] = json.loads((d / "model" / "model.json").read_text())
    return out


def test_training_leaves_labelled_val_and_test_windows(mmb_run):
    counts = mmb_run["train_json"]["split_counts"]
    for split in ("train", "val", "test"):
        assert counts[split]["seismic"] > 0 and counts[split]["normal"] > 0, counts
    # the model was selected on the validation AUC (both classes there), never on training
    assert mmb_run["train_json"]["metric"] == "val_auc"
    assert 0.0 <= mmb_run["train_json"]["best_metric"] <= 1.0


def test_model_json_records_the_run(mmb_run):
    meta = mmb_run["model_json"]
    assert meta["windows"]["components"] == ["H", "D", "Z"]
    assert meta["windows"]["n_steps"] == 60
    assert meta["training"]["max_epochs"] == 2
    assert len(meta["log"]) == meta["metrics"]["epochs_run"] <= 2
    assert all(np.isfinite(r["train_loss"]) for r in meta["log"])
    # the split periods are stored, and the test period is the last 35 % of March
    bounds = meta["split_periods"]
    assert bounds["train"]["last_end"] < bounds["val"]["first_start"]
    assert bounds["val"]["last_end"] < bounds["test"]["first_start"]
    assert bounds["test"]["first_start"].startswith("2011-03-2")


def test_scores_cover_march_on_the_window_grid(mmb_run):
    sc = mmb_run["scores"]
    # 31 days of 1-minute data, 1-hour windows every 30 minutes
    assert sc.sizes["window"] == (31 * 1440 - 60) // 30 + 1
    starts = sc["start"].values.astype("datetime64[m]")
    assert str(starts[0]) == "2011-03-01T00:00"
    assert np.all(np.diff(starts).astype(int) == 30)
    rmse = sc["rmse"].values
    assert np.isfinite(rmse).all()  # MMB March 2011 has no gaps
    assert np.all(rmse > 0)
    # errors are in scaled units: typical windows are O(1), not nT
    assert 1e-3 < np.median(rmse) < 10


def test_geoanom_test_result_on_real_scores(mmb_run):
    r = mmb_run["result"]
    for key in ("protocol", "protocol_hash", "legacy", "primary", "effect_sizes", "baselines",
                "placebos", "multiplicity", "guardrails", "provenance"):
        assert key in r
    prim, leg = r["primary"], r["legacy"]
    # one held-out event: the guard-rail withholds any verdict
    assert prim["n_independent_events"] == 1
    assert prim["significant"] is None
    assert "not assessable" in prim["verdict"]
    assert 0.0 <= prim["auc"] <= 1.0
    assert prim["p_value"] >= 1.0 / (prim["n_surrogates"] + 1)
    # the test period is the model's own (scores carry its split): 6-hour bins from the bin
    # of the first test window to 2011-04-01, less the post-event exclusion
    assert prim["test_period"]["split_source"] == "scores"
    first = mmb_run["model_json"]["split_periods"]["test"]["first_start"]
    assert prim["test_period"]["start"][:10] == first[:10]
    start = np.datetime64(prim["test_period"]["start"][:19], "h")
    n_test_bins = int((np.datetime64("2011-04-01T00", "h") - start).astype(int) // 6)
    assert n_test_bins - 8 <= prim["n_bins"] <= n_test_bins
    assert 0.0 <= leg["auc"] <= 1.0 and 0.0 < leg["p_value"] <= 1.0
    assert leg["n_seismic"] > 0 and leg["n_normal"] > 0
    warnings = " ".join(r["guardrails"]["warnings"])
    assert "declustering is 'none'" in warnings
    assert "fewer than 10" in prim["verdict"] or "< 10" in warnings


def test_held_out_windows_rest_on_one_aftershock(mmb_run, geomag_dir, catalogs_dir):
    """The bench's held-out AUC: scored windows matched to the labelled test windows."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("real_mmb", ROOT / "bench" / "real_mmb.py")
    real_mmb = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(real_mmb)
    ws = real_mmb.window_labels([geomag_dir / "japan_MMB_2011-03" / "mmb_2011_march.txt"],
                                catalogs_dir / "japan_usgs_1990_2019_EarthquakeNPP.csv",
                                mmb_run["dir"] / "config.toml")
    ho = real_mmb.held_out(mmb_run["dir"] / "scores.nc", ws)
    assert ho["test"]["events"] == [TEST_EVENT]
    assert ho["test"]["n_sequences"] == 1
    assert ho["test"]["n_seismic"] > 0 and ho["test"]["n_normal"] > 0
    assert 0.0 <= ho["test"]["auc"] <= 1.0
    # the window counts agree with what training reported
    counts = mmb_run["train_json"]["split_counts"]
    for split in ("val", "test"):
        assert ho[split]["n_seismic"] == counts[split]["seismic"]
        assert ho[split]["n_normal"] == counts[split]["normal"]
