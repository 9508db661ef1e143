"""Scoring on dask.distributed (a LocalCluster of 2 worker processes) gives exactly the serial
scores: same windows, bitwise-equal errors and residuals, windows straddling chunk and dask
chunk boundaries scored whole, records opened lazily from netCDF."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

pytest.importorskip("dask")
pytest.importorskip("distributed")

from geoanom.detector.distributed import get_client, open_record_lazy, score_records  # noqa: E402
from geoanom.detector.nn.artifact import load_model, save_model  # noqa: E402
from geoanom.detector.nn.bilstm import BiLSTMAutoencoder  # noqa: E402
from geoanom.detector.preprocess import RobustScaler  # noqa: E402
from geoanom.detector.score import score_record  # noqa: E402
from geoanom.errors import ValidationError  # noqa: E402
from geoanom.io.netcdf import read_netcdf, write_netcdf  # noqa: E402
from geoanom.record import make_record  # noqa: E402

# the serial reference and the workers (1 thread each) must use the same torch threads
torch.set_num_threads(1)

PERIOD_S = 60.0
L, S = 30, 10
CHUNK_WINDOWS = 7  # chunks of 7 windows: 70-sample steps, 90-sample slices (20 overlap)


def _record(n, seed, code):
    rng = np.random.default_rng(seed)
    t = np.datetime64("2021-03-01T00:00", "ns") + np.arange(n) * np.timedelta64(60, "s")
    k = np.arange(n)
    comps = {"X": 20000 + 10 * np.sin(2 * np.pi * k / 1440) + rng.normal(0, 1, n),
             "Y": 100 + rng.normal(0, 1, n),
             "Z": 40000 + rng.normal(0, 2, n)}
    comps["Z"][300:340] = np.nan  # a gap across a chunk boundary (chunks start at 280, 350)
    flags = {"X": np.zeros(n, np.int8)}
    flags["X"][500:505] = 1  # flagged samples: their values must never be used
    comps["X"][500:505] = 1e9
    return make_record(t, comps, flags=flags,
                       attrs={"iaga_code": code, "latitude_deg": 40.0, "longitude_deg": 20.0,
                              "sampling_period_s": PERIOD_S})


@pytest.fixture(scope="module")
def client():
    c = get_client("local", workers=2, threads_per_worker=1, memory_limit="1GiB")
    yield c
    c.close()
    c.cluster.close()


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("dask")
    recs = [_record(1203, 0, "AAA"), _record(987, 1, "BBB")]
    torch.manual_seed(0)
    m = BiLSTMAutoencoder(3, hidden_size=6, latent_size=3, output_bound=5.0)
    x = np.stack([recs[0][c].values for c in "XYZ"], axis=1)[:400]
    sc = RobustScaler.fit(x, components=["X", "Y", "Z"])
    meta = {"scaler": sc.to_dict(), "training": {"seed": 0},
            "windows": {"components": ["X", "Y", "Z"], "sampling_period_s": PERIOD_S,
                        "window_length_s": L * PERIOD_S, "stride_s": S * PERIOD_S,
                        "n_steps": L, "min_valid_fraction": 0.8}}
    mdir = save_model(d / "model", m, meta)
    paths = [write_netcdf(r, d / f"{r.attrs['iaga_code']}.nc") for r in recs]
    return mdir, recs, paths


def _assert_same(a, b):
    assert a.sizes == b.sizes
    for name in a.data_vars:
        va, vb = a[name].values, b[name].values
        assert va.dtype == vb.dtype, name
        assert np.array_equal(va, vb, equal_nan=va.dtype.kind == "f"), name
    assert a.attrs["iaga_code"] == b.attrs["iaga_code"]
    pa = json.loads(a.attrs["geoanom_provenance"])["config"]
    pb = json.loads(b.attrs["geoanom_provenance"])["config"]
    assert pa["record"] == pb["record"] and pa["model"] == pb["model"]


@pytest.mark.slow
def test_dask_scores_equal_serial_scores_bitwise(setup, client):
    mdir, recs, paths = setup
    lm = load_model(mdir, device="cpu")
    serial = [score_record(lm, r, chunk_windows=CHUNK_WINDOWS, residuals=True)
              for r in recs]
    # lazily opened, with dask chunks (64 samples) that cut windows and scoring chunks
    lazy = [open_record_lazy(p, chunk_samples=64) for p in paths]
    assert lazy[0]["X"].chunks is not None  # dask-backed: nothing read yet
    dist = score_records(mdir, lazy, client, chunk_windows=CHUNK_WINDOWS, residuals=True,
                         inputs=[[p] for p in paths])
    for s, d in zip(serial, dist, strict=True):
        _assert_same(s, d)
        # the gap and the flagged samples are honoured: some windows unscored, none inf
        assert np.isnan(d["rmse"].values).any() and np.isfinite(d["rmse"].values).sum() > 50
    prov = json.loads(dist[0].attrs["geoanom_provenance"])["config"]
    assert prov["options"]["scheduler"].startswith("dask.distributed")
    assert str(paths[0]) in prov["inputs"]


def test_dask_default_chunks_and_in_memory_records(setup, client):
    mdir, recs, _ = setup
    serial = score_record(mdir, recs[1], device="cpu")
    [dist] = score_records(mdir, [recs[1]], client)
    _assert_same(serial, dist)
    assert dist.sizes["window"] == (987 - L) // S + 1


def test_lazy_record_reads_like_the_eager_reader(setup):
    _, _, paths = setup
    lazy = open_record_lazy(paths[0], chunk_samples=100)
    eager = read_netcdf(paths[0])
    assert lazy.attrs["sampling_period_s"] == eager.attrs["sampling_period_s"] == PERIOD_S
    for v in ("X", "Y", "Z", "X_flag"):
        assert np.array_equal(lazy[v].values, eager[v].values, equal_nan=True)
    assert np.array_equal(lazy["time"].values, eager["time"].values)


def test_lazy_files_that_do_not_abut_are_refused(setup, tmp_path):
    _, recs, _ = setup
    r = recs[0]
    a = write_netcdf(r.isel(time=slice(0, 500)), tmp_path / "a.nc")
    b = write_netcdf(r.isel(time=slice(501, 900)), tmp_path / "b.nc")  # one sample missing
    c = write_netcdf(r.isel(time=slice(500, 900)), tmp_path / "c.nc")
    joined = open_record_lazy([c, a], chunk_samples=128)
    assert np.array_equal(joined["Y"].values, r["Y"].values[:900])
    with pytest.raises(ValidationError, match="abut"):
        open_record_lazy([a, b])


@pytest.mark.slow
def test_cli_score_on_a_scheduler_address(setup, client, tmp_path):
    from click.testing import CliRunner

    from geoanom.cli import main
    from geoanom.detector.score import read_scores

    mdir, recs, paths = setup
    r = CliRunner().invoke(main, ["score", "--model", str(mdir), "--record", str(paths[1]),
                                  "-o", str(tmp_path / "s.nc"), "--scheduler",
                                  client.scheduler.address])
    assert r.exit_code == 0, r.output
    back = read_scores(tmp_path / "s.nc")
    serial = score_record(mdir, read_netcdf(paths[1]), device="cpu")
    for v in ("rmse", "mae", "err_Z", "valid_fraction", "start"):
        assert np.array_equal(back[v].values, serial[v].values, equal_nan=True), v
    r = CliRunner().invoke(main, ["score", "--model", str(mdir), "--record", str(paths[1]),
                                  "-o", str(tmp_path / "t.nc"), "--scheduler",
                                  "tcp://127.0.0.1:1"])
    assert r.exit_code == 2 and "dask scheduler" in r.output
