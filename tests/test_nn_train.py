"""Training: balanced batches, validation-only early stopping, determinism, the artifact, and
resume after a SIGKILL equal (bit for bit, CPU) to an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr

from geoanom.detector.nn.artifact import load_model
from geoanom.detector.nn.train import (
    TrainConfig,
    _epoch_batches,
    rank_auc,
    train,
    window_scores,
)
from geoanom.errors import ConfigError, ValidationError

torch.set_num_threads(1)

HERE = Path(__file__).resolve().parent
N, T, C = 160, 24, 2


def toy_window_set(seed: int = 0, n: int = N) -> xr.Dataset:
    """A window set whose truth is known: seismic windows carry a fast oscillation in the
    second component. 24-minute windows, contiguous: 0-89 train, 90-99 gap, 100-124 val,
    125-134 gap, 135-159 test; the first two of every 8 windows are seismic (one sequence per
    8). Scaled with a RobustScaler fitted on the train windows by geoanom.detector.windows."""
    from geoanom.detector.windows import WindowConfig, apply_window_scaler, fit_window_scaler
    from geoanom.labels import LabelRule

    rng = np.random.default_rng(seed)
    k = np.arange(T)
    idx = np.arange(n)
    phase = rng.uniform(0, 2 * np.pi, n)
    amp = rng.uniform(0.5, 1.5, n)
    data = np.empty((n, T, C), np.float64)
    data[:, :, 0] = 20000 + 10 * amp[:, None] * np.sin(2 * np.pi * k / T + phase[:, None])
    data[:, :, 1] = 40000 + 5 * np.cos(2 * np.pi * k / T + phase[:, None])
    data += rng.normal(0, 1, data.shape)
    seismic = (idx % 8) < 2
    data[seismic, :, 1] += 10 * np.sin(2 * np.pi * k / 3)[None, :]
    valid = rng.random(data.shape) > 0.05
    data[~valid] = 0
    split = np.select([idx < 90, idx < 100, idx < 125, idx < 135],
                      ["train", "gap", "val", "gap"], "test")
    label = np.where(seismic, 1, 0).astype(np.int8)
    label[split == "gap"] = -1
    seq = np.where(seismic, np.char.add("seq", (idx // 8).astype(str)), "")
    start = np.datetime64("2020-01-01", "ns") + idx * np.timedelta64(T * 60, "s")
    cfg = WindowConfig(window_length_s=T * 60.0, stride_s=T * 60.0, max_missing_fraction=0.2,
                       label_rule=LabelRule(lead_days=(0.0, 0.05), buffer_days=0.0,
                                            decluster="none"),
                       embargo_days=0.1, split_fractions=(0.6, 0.2, 0.2))
    ds = xr.Dataset(
        {"data": (("window", "step", "component"), data, {"units": "nT"}),
         "valid": (("window", "step", "component"), valid),
         "start": ("window", start), "end": ("window", start + np.timedelta64(T * 60, "s")),
         "label": ("window", label), "event_id": ("window", seq.astype(object)),
         "sequence_id": ("window", seq.astype(object)),
         "distance_km": ("window", np.where(seismic, 50.0, np.nan)),
         "magnitude": ("window", np.where(seismic, 5.5, np.nan)),
         "lead_days": ("window", np.where(seismic, 0.01, np.nan)),
         "split": ("window", split.astype(object)),
         "valid_fraction": ("window", valid.mean(axis=(1, 2)))},
        coords={"component": ["X", "Z"], "step": k})
    ds.attrs = {"iaga_code": "TOY", "latitude_deg": 40.0, "longitude_deg": 20.0,
                "sampling_period_s": 60.0, "window_length_s": T * 60.0,
                "stride_s": T * 60.0, "config": cfg.to_json(), "history": "toy"}
    return apply_window_scaler(ds, fit_window_scaler(ds))


def small_config(**kw) -> TrainConfig:
    args = {"hidden_size": 8, "latent_size": 4, "batch_size": 16, "max_epochs": 4,
            "ramp_epochs": 1, "patience": 3, "lr": 1e-2, "seed": 3}
    args.update(kw)
    return TrainConfig(**args)


def _same_log(a: list[dict], b: list[dict]) -> bool:
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in a]
    return strip == [{k: v for k, v in r.items() if k != "seconds"} for r in b]


def test_batches_are_balanced_and_reproducible():
    cfg = small_config(batch_size=10, seismic_fraction=0.4)
    idx_n, idx_s = np.arange(0, 40), np.arange(100, 105)
    b1 = _epoch_batches(cfg, 2, idx_n, idx_s)
    b2 = _epoch_batches(cfg, 2, idx_n, idx_s)
    assert all(np.array_equal(x, y) for x, y in zip(b1, b2, strict=True))
    assert len(b1) == 7  # ceil(40 normal / 6 per batch)
    for b in b1:
        assert np.sum(b >= 100) == 4 and np.sum(b < 100) == 6
    assert set(np.concatenate(b1)[np.concatenate(b1) < 100]) == set(idx_n)
    # the plain autoencoder (lam = 0) sees normal windows only
    plain = _epoch_batches(small_config(lam=0.0, batch_size=10), 0, idx_n, idx_s)
    assert all(np.all(b < 100) and b.size == 10 for b in plain)


def test_training_writes_the_artifact_and_selects_on_validation(tmp_path):
    ws = toy_window_set()
    res = train(ws, small_config(max_epochs=6), out_dir=tmp_path / "m", device="cpu",
                progress=False)
    assert res.metric_name == "val_auc" and res.epochs_run == len(res.log) >= 1
    lm = load_model(tmp_path / "m")
    doc = lm.meta
    assert doc["training"]["lam"] == 1.0 and len(doc["log"]) == res.epochs_run
    assert {"val_auc", "train_loss", "lambda", "margin"} <= set(doc["log"][0])
    assert doc["scaler"]["fitted_on"] == "train"
    assert doc["windows"]["window_length_s"] == T * 60.0 and doc["windows"]["n_steps"] == T
    assert doc["windows"]["min_valid_fraction"] == pytest.approx(0.8)
    assert doc["provenance"]["seeds"] == {"train": 3}
    # where each split lies in time (windows 0-89 train, 100-124 val, 135-159 test)
    per = doc["split_periods"]
    assert [per[s]["n_windows"] for s in ("train", "val", "test")] == [90, 25, 25]
    t = ws["start"].values
    assert per["val"]["first_start"] == str(t[100]) and per["test"]["first_start"] == str(t[135])
    assert per["train"]["last_end"] == str(ws["end"].values[89])
    # the selected weights are the best validation epoch, and its AUC is recomputable
    # from the validation windows alone
    val = (ws["split"].values == "val") & (ws["label"].values >= 0)
    x = torch.from_numpy(ws["data"].values[val])
    v = torch.from_numpy(ws["valid"].values[val])
    e = window_scores(lm.model, x, v)
    lab = ws["label"].values[val]
    auc = rank_auc(e[lab == 1], e[lab == 0])
    assert auc == pytest.approx(doc["metrics"]["val_auc"], abs=1e-9)
    full = [r["val_auc"] for r in res.log if r["lambda"] >= 1.0]
    assert doc["metrics"]["val_auc"] == max(full)
    assert doc["metrics"]["selected_at_full_lambda"] and doc["metrics"]["selection_fallback"] \
        is None
    # the toy precursor is easy: negative learning separates held-out windows
    assert auc > 0.9


def test_model_selection_waits_for_full_lambda(tmp_path):
    """Issue 15, defect 5: validation AUC was compared from epoch 0, when lambda is still 0,
    so the selected model could be a plain autoencoder from before negative learning. With a
    learning rate too small to change the float32 weights, every epoch scores the same and
    the first epoch (lambda 0) used to win."""
    cfg = small_config(max_epochs=5, ramp_epochs=3, patience=10, lr=1e-12)
    res = train(toy_window_set(), cfg, out_dir=tmp_path / "m", progress=False, device="cpu")
    assert len({r["val_auc"] for r in res.log}) == 1  # nothing to choose between
    assert res.best_epoch == 3 and res.log[3]["lambda"] == 1.0
    m = load_model(tmp_path / "m").meta["metrics"]
    assert m["lambda_at_best_epoch"] == 1.0 and m["selected_at_full_lambda"] is True
    # a run that ends inside the ramp keeps its best ramp epoch, and says so
    short = train(toy_window_set(), small_config(max_epochs=2, ramp_epochs=4),
                  out_dir=tmp_path / "s", progress=False, device="cpu")
    m = load_model(tmp_path / "s").meta["metrics"]
    assert m["selected_at_full_lambda"] is False
    assert m["lambda_at_best_epoch"] == short.log[short.best_epoch]["lambda"] < 1.0


def test_selection_fallback_is_said_on_stderr_and_in_model_json(tmp_path, caplog):
    """Issue 15, defect 6: with no seismic validation window, selection silently switched to
    the mean normal error. Now a WARNING of the ``geoanom`` logger (stderr: the CLI's handler,
    or Python's last-resort handler) and ``metrics.selection_fallback`` in model.json."""
    ws = toy_window_set()
    no_val_seismic = ws.copy()
    no_val_seismic["label"] = xr.where((ws["split"] == "val") & (ws["label"] == 1), -1,
                                       ws["label"]).astype(np.int8)
    res = train(no_val_seismic, small_config(max_epochs=2), out_dir=tmp_path, progress=False,
                device="cpu")
    assert res.metric_name == "neg_val_normal_error"
    said = [r for r in caplog.records if r.name.startswith("geoanom") and
            r.levelname == "WARNING" and "validation AUC is undefined" in r.getMessage()]
    assert len(said) == 1 and "0 seismic and 19 normal" in said[0].getMessage()
    m = load_model(tmp_path).meta["metrics"]
    assert m["metric"] == "neg_val_normal_error"
    assert "0 seismic and 19 normal" in m["selection_fallback"]


def test_negative_learning_pushes_seismic_error_above_the_plain_autoencoder(tmp_path):
    ws = toy_window_set()
    cfg = small_config(max_epochs=7, patience=10)
    nl = train(ws, cfg, out_dir=tmp_path / "nl", progress=False, device="cpu")
    from geoanom.detector.baselines import train_plain_autoencoder

    ae = train_plain_autoencoder(ws, cfg, out_dir=tmp_path / "ae", progress=False, device="cpu")
    assert ae.config.lam == 0.0 and all(r["train_seismic_penalty"] == 0 for r in ae.log)
    # after the same epochs, the seismic/normal error ratio on held-out windows is larger
    ratio = [r.log[-1]["val_seismic_error"] / r.log[-1]["val_normal_error"] for r in (nl, ae)]
    assert ratio[0] > 1.5 * ratio[1]


def test_cpu_training_is_deterministic(tmp_path):
    ws = toy_window_set()
    cfg = small_config(max_epochs=2)
    a = train(ws, cfg, out_dir=tmp_path / "a", progress=False, device="cpu")
    b = train(ws, cfg, out_dir=tmp_path / "b", progress=False, device="cpu")
    assert _same_log(a.log, b.log)
    for k, v in a.model.state_dict().items():
        assert torch.equal(v, b.model.state_dict()[k])
    assert (tmp_path / "a" / "weights.pt").read_bytes() == (tmp_path / "b" / "weights.pt").read_bytes()


def test_progress_bar_goes_to_stderr(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GEOANOM_PROGRESS", "1")  # capsys is not a terminal
    train(toy_window_set(), small_config(max_epochs=1), out_dir=tmp_path, device="cpu",
          progress=True)
    cap = capsys.readouterr()
    assert "epoch 1/1" in cap.err and "val_auc=" in cap.err and cap.out == ""


def test_bad_inputs_are_refused(tmp_path):
    ws = toy_window_set()
    no_seismic = ws.copy()
    no_seismic["label"] = xr.where(ws["split"] == "train", 0, ws["label"]).astype(np.int8)
    with pytest.raises(ValidationError, match="no seismic training windows"):
        train(no_seismic, small_config(), out_dir=tmp_path / "a", progress=False)
    with pytest.raises(ConfigError):
        TrainConfig.from_dict({"hidden": 3})
    train(ws, small_config(max_epochs=1), out_dir=tmp_path / "b", progress=False, device="cpu")
    with pytest.raises(ConfigError, match="different configuration"):
        train(ws, small_config(max_epochs=1, lr=0.5), out_dir=tmp_path / "b", progress=False)


def test_leaky_window_set_is_refused(tmp_path):
    from geoanom.errors import LeakageError

    ws = toy_window_set()
    # a validation window moved into the embargo gap after the train split
    split = ws["split"].values.copy()
    split[95] = "val"
    leaky = ws.assign(split=("window", split))
    with pytest.raises(LeakageError, match="embargo"):
        train(leaky, small_config(), out_dir=tmp_path, progress=False)
    assert not (tmp_path / "checkpoint.pt").exists()  # refused before any training


_CHILD = textwrap.dedent("""
    import sys, time
    import torch
    torch.set_num_threads(1)
    sys.path.insert(0, {here!r})
    from test_nn_train import toy_window_set, small_config
    from geoanom.detector.nn.train import train
    # a pause after each checkpoint gives the parent time to kill us between epochs
    train(toy_window_set(), small_config(max_epochs=4, patience=10), out_dir={out!r},
          device="cpu", progress=False, callback=lambda e, row: time.sleep(30))
""")


@pytest.mark.slow
def test_resume_after_sigkill_equals_an_uninterrupted_run(tmp_path):
    cfg = small_config(max_epochs=4, patience=10)
    ws = toy_window_set()
    ref = train(ws, cfg, out_dir=tmp_path / "ref", progress=False, device="cpu")

    out = tmp_path / "killed"
    env = dict(os.environ, PYTHONHASHSEED="0")
    proc = subprocess.Popen([sys.executable, "-c", _CHILD.format(here=str(HERE), out=str(out))],
                            env=env, stderr=subprocess.PIPE)
    ckpt = out / "checkpoint.pt"
    deadline = time.monotonic() + 120
    while not ckpt.exists():
        if proc.poll() is not None:
            pytest.fail("training child died: " + proc.stderr.read().decode()[-2000:])
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("no checkpoint within 120 s")
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    done = torch.load(ckpt, weights_only=True)
    assert done["epoch"] == 0 and not done["finished"]
    assert not (out / "weights.pt").exists()  # killed before the artifact was written

    seen = []
    res = train(ws, cfg, out_dir=out, progress=False, device="cpu",
                callback=lambda e, row: seen.append(e))
    assert seen == [1, 2, 3]  # epoch 0 came from the checkpoint, not from a re-run
    assert _same_log(res.log, ref.log)
    for k, v in ref.model.state_dict().items():
        assert torch.equal(v, res.model.state_dict()[k]), k
    assert res.best_epoch == ref.best_epoch


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_trains_on_cuda(tmp_path):
    res = train(toy_window_set(), small_config(max_epochs=2), out_dir=tmp_path,
                device="cuda", progress=False)
    assert res.device.startswith("cuda")
    assert load_model(tmp_path).meta["device"].startswith("cuda")
