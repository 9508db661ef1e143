"""Scoring a record in chunks: exact agreement with a direct forward pass, bounded batches,
masking, residuals, the netCDF round trip, and the baselines behind the same interface."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from geoanom.detector.baselines import activity_scores, zh_ratio_scores
from geoanom.detector.nn.artifact import load_model, save_model
from geoanom.detector.nn.bilstm import BiLSTMAutoencoder, window_errors
from geoanom.detector.preprocess import RobustScaler
from geoanom.detector.score import read_scores, score_record, write_scores
from geoanom.errors import ValidationError
from geoanom.record import make_record

torch.set_num_threads(1)

PERIOD_S = 60.0
L, S = 30, 10  # window 30 min, stride 10 min


def _record(n=1000, seed=0, gap=(200, 230)):
    rng = np.random.default_rng(seed)
    t = np.datetime64("2020-01-01T00:00", "ns") + np.arange(n) * np.timedelta64(60, "s")
    k = np.arange(n)
    comps = {"X": 20000 + 10 * np.sin(2 * np.pi * k / 1440) + rng.normal(0, 1, n),
             "Y": 100 + rng.normal(0, 1, n),
             "Z": 40000 + rng.normal(0, 2, n)}
    comps["Z"][gap[0]:gap[1]] = np.nan
    return make_record(t, comps, attrs={"iaga_code": "TST", "latitude_deg": 40.0,
                                        "longitude_deg": 20.0, "sampling_period_s": PERIOD_S})


def _artifact(tmp_path, rec, min_valid_fraction=0.5):
    torch.manual_seed(0)
    m = BiLSTMAutoencoder(3, hidden_size=6, latent_size=3, output_bound=5.0)
    x = np.stack([rec[c].values for c in "XYZ"], axis=1)
    sc = RobustScaler.fit(x[:500], components=["X", "Y", "Z"])
    meta = {"scaler": sc.to_dict(), "training": {"seed": 0},
            "windows": {"components": ["X", "Y", "Z"], "sampling_period_s": PERIOD_S,
                        "window_length_s": L * PERIOD_S, "stride_s": S * PERIOD_S,
                        "n_steps": L, "min_valid_fraction": min_valid_fraction}}
    return save_model(tmp_path / "model", m, meta), sc


def _direct(model_dir, rec, sc):
    """The reference: every window built explicitly and passed through the model at once."""
    lm = load_model(model_dir)
    x = np.stack([rec[c].values for c in "XYZ"], axis=1)
    valid = np.isfinite(x)
    z = np.where(valid, sc.transform(x), 0).astype(np.float32)
    n_win = (len(x) - L) // S + 1
    xs = np.stack([z[i * S:i * S + L] for i in range(n_win)])
    vs = np.stack([valid[i * S:i * S + L] for i in range(n_win)])
    xt, vt = torch.from_numpy(xs), torch.from_numpy(vs)
    with torch.no_grad():
        x_hat = lm.model(xt, vt)
        e, ec = window_errors(xt, x_hat, vt)
    return np.sqrt(e.numpy()), np.sqrt(ec.numpy()), xs, vs, x_hat.numpy()


def _usable(vs, max_missing_fraction):
    """Windows whose every component misses at most ``max_missing_fraction``, computed here
    by hand (the rule of geoanom.detector.windows.window_is_valid)."""
    return np.all(1.0 - vs.mean(axis=1) <= max_missing_fraction + 1e-12, axis=1)


def test_chunked_scores_equal_a_direct_forward_pass(tmp_path):
    rec = _record()
    mdir, sc = _artifact(tmp_path, rec)
    rmse, ec, _, vs, _ = _direct(mdir, rec, sc)
    ds = score_record(mdir, rec, chunk_windows=7, device="cpu")
    assert ds.sizes["window"] == (1000 - L) // S + 1 == len(rmse)
    ok = _usable(vs, 0.5)
    assert (~ok).sum() >= 1  # windows inside the Z gap are not scored
    np.testing.assert_allclose(ds["rmse"].values[ok], rmse[ok], rtol=1e-5)
    np.testing.assert_allclose(ds["err_Z"].values[ok], ec[ok, 2], rtol=1e-5)
    assert np.all(np.isnan(ds["rmse"].values[~ok]))
    np.testing.assert_allclose(ds["valid_fraction"].values, vs.mean(axis=(1, 2)), rtol=1e-12)
    assert np.array_equal(ds["score"].values, ds["rmse"].values, equal_nan=True)
    assert ds["start"].values[3] == np.datetime64("2020-01-01T00:30", "ns")
    assert ds["end"].values[3] - ds["start"].values[3] == np.timedelta64(L * 60, "s")
    # the chunk size changes nothing
    other = score_record(mdir, rec, chunk_windows=1000, device="cpu")
    np.testing.assert_allclose(other["rmse"].values, ds["rmse"].values, rtol=1e-5,
                               equal_nan=True)
    assert ds.attrs["iaga_code"] == "TST" and ds.attrs["window_length_s"] == L * PERIOD_S
    prov = json.loads(ds.attrs["geoanom_provenance"])
    assert prov["config"]["model"]["weights_sha256"] == load_model(mdir).weights_sha256
    assert len(prov["config"]["record"]["components_sha256"]) == 64


def test_the_model_never_sees_more_than_one_chunk(tmp_path, monkeypatch):
    rec = _record()
    mdir, _ = _artifact(tmp_path, rec)
    lm = load_model(mdir)
    sizes = []
    forward = lm.model.forward

    def spy(x, valid=None):
        sizes.append(x.shape[0])
        return forward(x, valid)

    monkeypatch.setattr(lm.model, "forward", spy)
    score_record(lm, rec, chunk_windows=8)
    assert max(sizes) == 8 and sum(sizes) == (1000 - L) // S + 1


def test_invalid_samples_do_not_change_scores_and_sparse_windows_are_not_scored(tmp_path):
    rec = _record()
    mdir, _ = _artifact(tmp_path, rec, min_valid_fraction=0.8)
    ds = score_record(mdir, rec)
    # a flagged sample holding garbage: the flag rules, the value is never read
    rec2 = rec.copy(deep=True)
    rec2["Z"].values[200:230] = 1e9
    rec2["Z_flag"].values[200:230] = 1
    ds2 = score_record(mdir, rec2)
    np.testing.assert_array_equal(ds["rmse"].values, ds2["rmse"].values)
    # windows whose Z misses more than 20 % of its samples (the 30-min gap): NaN, even
    # where the share valid over all components is above 0.8
    _, _, _, vs, _ = _direct(mdir, rec, RobustScaler.from_dict(load_model(mdir).meta["scaler"]))
    ok = _usable(vs, 0.2)
    vf = ds["valid_fraction"].values
    assert np.all(np.isnan(ds["rmse"].values[~ok]))
    assert np.all(np.isfinite(ds["rmse"].values[ok]))
    assert (~ok & (vf >= 0.8)).sum() >= 1


def test_scoring_keeps_exactly_the_windows_training_keeps(tmp_path):
    """Issue 15, defect 3: training keeps a window only if every component misses at most
    max_missing_fraction; scoring used the overall valid share, so windows training refused
    (Z missing 4 of 30 samples: 13 %, overall 96 % valid) were scored and tested."""
    from geoanom.detector.windows import make_windows

    rec = _record(gap=(205, 209))
    ws = make_windows(rec, length_s=L * PERIOD_S, stride_s=S * PERIOD_S,
                      max_missing_fraction=0.1)
    torch.manual_seed(0)
    m = BiLSTMAutoencoder(3, hidden_size=6, latent_size=3, output_bound=5.0)
    sc = RobustScaler.fit(np.stack([rec[c].values for c in "XYZ"], axis=1)[:500],
                          components=["X", "Y", "Z"])
    # what geoanom.detector.nn.train writes into model.json for this window set
    meta = {"scaler": sc.to_dict(), "training": {"seed": 0},
            "windows": {"components": ["X", "Y", "Z"], "sampling_period_s": PERIOD_S,
                        "window_length_s": L * PERIOD_S, "stride_s": S * PERIOD_S,
                        "n_steps": L, "min_valid_fraction": 0.9,
                        "config": json.loads(ws.attrs["config"])}}
    ds = score_record(save_model(tmp_path / "model", m, meta), rec)
    scored = ds["start"].values[np.isfinite(ds["rmse"].values)]
    refused = np.setdiff1d(ds["start"].values, ws["start"].values)
    assert refused.size >= 1 and np.all(ds["valid_fraction"].values[
        np.isin(ds["start"].values, refused)] > 0.9)
    np.testing.assert_array_equal(scored, ws["start"].values)
    assert json.loads(ds.attrs["geoanom_provenance"])["config"]["windows"][
        "max_missing_fraction"] == pytest.approx(0.1)


def test_residuals_are_the_mean_over_covering_windows(tmp_path):
    rec = _record(n=200)
    mdir, sc = _artifact(tmp_path, rec)
    _, _, xs, vs, x_hat = _direct(mdir, rec, sc)
    ds = score_record(mdir, rec, residuals=True, chunk_windows=4)
    # sample 25 is covered by windows 0, 1, 2 (starts 0, 10, 20)
    expect = np.mean([xs[w, 25 - 10 * w, 0] - x_hat[w, 25 - 10 * w, 0] for w in range(3)])
    assert ds["residual_X"].values[25] == pytest.approx(expect * sc.scale[0], rel=1e-4)
    assert ds["residual_X"].attrs["units"] == "nT"
    # the samples after the last window are covered by none: NaN
    last_end = int(ds.sizes["window"] - 1) * S + L
    assert np.all(np.isnan(ds["residual_X"].values[last_end:]))


def test_record_that_does_not_fit_the_model(tmp_path):
    rec = _record()
    mdir, _ = _artifact(tmp_path, rec)
    with pytest.raises(ValidationError, match="lacks components"):
        score_record(mdir, rec.drop_vars(["Y", "Y_flag"]))
    rec2 = rec.copy()
    rec2.attrs = dict(rec.attrs, sampling_period_s=1.0)
    with pytest.raises(ValidationError, match="cadence"):
        score_record(mdir, rec2)


def test_scores_netcdf_round_trip(tmp_path):
    rec = _record()
    mdir, _ = _artifact(tmp_path, rec)
    ds = score_record(mdir, rec)
    path = write_scores(ds, tmp_path / "scores.nc")
    back = read_scores(path)
    np.testing.assert_array_equal(back["rmse"].values, ds["rmse"].values)
    np.testing.assert_array_equal(back["start"].values, ds["start"].values)
    prov = json.loads(back.attrs["geoanom_provenance"])
    assert prov["config"]["model"]["weights_sha256"] == ds.attrs["model_weights_sha256"]
    assert not list(tmp_path.glob(".scores.nc*"))  # no temporary left behind
    with pytest.raises(ValidationError):
        read_scores(tmp_path / "nope.nc")


def test_zh_ratio_finds_enhanced_vertical_ulf_power():
    rng = np.random.default_rng(1)
    n = 2000
    rec = _record(n=n, gap=(0, 0))
    z = rec["Z"].values.copy()
    # windows 10..19 (samples 100..219 at stride 10): Z gains band noise in the ULF band
    k = np.arange(100, 220)
    z[100:220] += 10 * np.sin(2 * np.pi * 0.004 * 60 * k + rng.uniform(0, 6))
    rec["Z"] = ("time", z, rec["Z"].attrs)
    ds = zh_ratio_scores(rec, window_length_s=L * PERIOD_S, stride_s=S * PERIOD_S,
                         band_hz=(0.002, 0.008))
    assert ds.sizes["window"] == (n - L) // S + 1
    assert ds.attrs["score_kind"] == "zh_ratio"
    inside = ds["score"].values[10:17]
    outside = np.r_[ds["score"].values[:5], ds["score"].values[30:]]
    assert inside.min() > 5 * np.median(outside)


def test_activity_score_is_the_max_of_the_index_over_each_window():
    rec = _record(n=600, gap=(0, 0))
    t = pd.date_range("2020-01-01", periods=5, freq="3h")
    act = pd.Series([1.0, 5.0, 2.0, 0.0, 7.0], index=t)
    ds = activity_scores(rec, act, window_length_s=L * PERIOD_S, stride_s=S * PERIOD_S)
    s = ds["score"].values
    start = pd.to_datetime(ds["start"].values)
    # window 0 lies in the first 3-h interval; the window starting 02:40 straddles 03:00
    assert s[0] == 1.0
    i = int(np.flatnonzero(start == pd.Timestamp("2020-01-01 02:40"))[0])
    assert s[i] == 5.0
    assert s[int(np.flatnonzero(start == pd.Timestamp("2020-01-01 06:00"))[0])] == 2.0


def test_baselines_share_the_score_layout(tmp_path):
    rec = _record()
    mdir, _ = _artifact(tmp_path, rec)
    model = score_record(mdir, rec)
    zh = zh_ratio_scores(rec, window_length_s=L * PERIOD_S, stride_s=S * PERIOD_S)
    act = activity_scores(rec, xr.Dataset({"kp": ("time", [1.0, 2.0])},
                                          coords={"time": pd.date_range("2020-01-01", periods=2,
                                                                        freq="1D")}),
                          window_length_s=L * PERIOD_S, stride_s=S * PERIOD_S)
    for ds in (zh, act):
        assert ds.sizes == model.sizes
        np.testing.assert_array_equal(ds["start"].values, model["start"].values)
        for v in ("score", "valid_fraction"):
            assert v in ds
        for a in ("iaga_code", "score_kind", "geoanom_provenance", "window_length_s"):
            assert a in ds.attrs


CLI_TOML = """
[windows]
window_length_s = 3600.0
stride_s = 7200.0
components = ["X", "Y", "Z"]
lead_days = [1.0, 10.0]
buffer_days = 2.0
post_event_exclusion_days = 5.0
normal_margin_magnitude = 0.0
split_fractions = [0.6, 0.15, 0.25]

[train]
hidden_size = 4
latent_size = 2
max_epochs = 2
batches_per_epoch = 2
"""


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory):
    from geoanom.synthetic import PrecursorConfig, make_world

    d = tmp_path_factory.mktemp("world")
    w = make_world(1, 240, cadence_s=300.0, n_stations=1, precursor_strength=3.0,
                   precursor=PrecursorConfig(lead_min_days=1, lead_max_days=10),
                   etas={"background_rate_per_day": 2.0})
    w.save(d)
    (d / "detector.toml").write_text(CLI_TOML)
    return d


def test_cli_train_then_score(world_dir, tmp_path):
    from click.testing import CliRunner

    from geoanom.cli import main
    from geoanom.provenance import file_sha256

    rec, cat, cfg = world_dir / "SYA.nc", world_dir / "catalog.csv", world_dir / "detector.toml"
    runner = CliRunner()
    r = runner.invoke(main, ["train", "--record", str(rec), "--catalog", str(cat), "--config",
                             str(cfg), "-o", str(tmp_path / "m"), "--device", "cpu",
                             "--no-progress"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["epochs_run"] == 2 and summary["split_counts"]["train"]["seismic"] > 0
    meta = load_model(tmp_path / "m").meta
    assert meta["provenance"]["inputs"][str(rec)] == file_sha256(rec)
    assert meta["windows"]["components"] == ["X", "Y", "Z"]
    r = runner.invoke(main, ["score", "--model", str(tmp_path / "m"), "--record", str(rec),
                             "-o", str(tmp_path / "s.nc")])
    assert r.exit_code == 0, r.output
    ds = read_scores(tmp_path / "s.nc")
    assert ds.sizes["window"] == (240 * 288 - 12) // 24 + 1
    assert json.loads(ds.attrs["geoanom_provenance"])["config"]["inputs"][str(rec)] == \
        file_sha256(rec)
    assert {"err_X", "err_Y", "err_Z", "rmse", "mae"} <= set(ds.data_vars)


def test_cli_bad_inputs_exit_2(world_dir, tmp_path):
    from click.testing import CliRunner

    from geoanom.cli import main

    runner = CliRunner()
    r = runner.invoke(main, ["score", "--model", str(tmp_path), "--record",
                             str(world_dir / "SYA.nc"), "-o", str(tmp_path / "s.nc")])
    assert r.exit_code == 2 and "model.json is missing" in r.output
    bad = tmp_path / "bad.toml"
    bad.write_text("[train]\nhiden_size = 3\n")
    r = runner.invoke(main, ["train", "--record", str(world_dir / "SYA.nc"), "--catalog",
                             str(world_dir / "catalog.csv"), "--config", str(bad), "-o",
                             str(tmp_path / "m")])
    assert r.exit_code == 2 and "hiden_size" in r.output and str(bad) in r.output


def test_record_checksum_ignores_chunking_and_sees_a_changed_value(tmp_path, monkeypatch):
    import geoanom.detector.score as score_mod

    rec = _record()
    mdir, _ = _artifact(tmp_path, rec)

    def checksum(ds):
        return json.loads(ds.attrs["geoanom_provenance"])["config"]["record"][
            "components_sha256"]

    a = checksum(score_record(mdir, rec, chunk_windows=5))
    monkeypatch.setattr(score_mod, "HASH_BLOCK", 64)  # many blocks: a different tree
    b = checksum(score_record(mdir, rec, chunk_windows=50))
    monkeypatch.undo()
    assert checksum(score_record(mdir, rec, chunk_windows=50)) == a
    assert b != a  # the block size is part of the definition (fixed: HASH_BLOCK)
    rec2 = rec.copy(deep=True)
    rec2["Y"].values[999] += 1e-9
    assert checksum(score_record(mdir, rec2)) != a


def test_scoring_progress_goes_to_stderr_only(tmp_path, monkeypatch, capsys):
    """The bar of windows scored is drawn on stderr (forced here: capsys is no terminal),
    never on stdout, and drawing it changes no score."""
    import geoanom.detector.score as sc

    monkeypatch.setenv("GEOANOM_PROGRESS", "1")
    rec = _record()
    lm, _ = _artifact(tmp_path, rec)
    with_bar = sc.score_record(lm, rec, progress=None)
    cap = capsys.readouterr()
    assert "scoring windows" in cap.err and cap.out == ""
    without = sc.score_record(lm, rec, progress=False)
    assert "scoring windows" not in capsys.readouterr().err
    np.testing.assert_array_equal(with_bar["rmse"].values, without["rmse"].values)
