"""DistributedDataParallel training (gloo, CPU): two ranks launched with torchrun follow the
single-process loss curve; each global batch is split evenly and exactly across ranks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist

from geoanom.detector.nn.artifact import load_model
from geoanom.detector.nn.ddp import launched_distributed, rank_share, train_ddp
from geoanom.detector.nn.train import _epoch_batches, train

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from test_nn_train import small_config, toy_window_set  # noqa: E402

torch.set_num_threads(1)

#: Loss-curve tolerance (relative): the ranks' gradients are summed by an all-reduce, in
#: another order than a single backward pass sums them, and each rank's forward pass runs on
#: a smaller batch; both change float32 results in the last bits, and Adam carries the
#: differences through 4 epochs.
RTOL = 1e-4

_CHILD = textwrap.dedent("""
    import sys
    sys.path.insert(0, {here!r})
    import torch
    torch.set_num_threads(1)
    from test_nn_train import small_config, toy_window_set
    from geoanom.detector.nn.ddp import train_ddp
    train_ddp(toy_window_set(), small_config(max_epochs=4, patience=10), out_dir={out!r},
              device="cpu", progress=False)
""")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_rank_shares_partition_each_global_batch_evenly():
    cfg = small_config(batch_size=16, seismic_fraction=0.5)
    idx_n, idx_s = np.arange(0, 70), np.arange(100, 117)
    for b in _epoch_batches(cfg, 0, idx_n, idx_s):
        shares = [rank_share(b, 8, r, 2) for r in range(2)]
        assert np.array_equal(np.sort(np.concatenate(shares)), np.sort(b))
        for s in shares:
            assert np.isin(s, idx_n).sum() == 4 and np.isin(s, idx_s).sum() == 4
    odd = np.arange(10)  # 7 normal, 3 seismic over 3 ranks: sizes differ by at most 1
    sizes = [rank_share(odd, 7, r, 3).size for r in range(3)]
    assert sum(sizes) == 10 and max(sizes) - min(sizes) <= 1


def test_one_rank_equals_the_single_process_trainer(tmp_path, monkeypatch):
    cfg = small_config(max_epochs=3, patience=10)
    ws = toy_window_set()
    ref = train(ws, cfg, out_dir=tmp_path / "ref", progress=False, device="cpu")
    for k, v in {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port()), "RANK": "0",
                 "WORLD_SIZE": "1", "LOCAL_RANK": "0"}.items():
        monkeypatch.setenv(k, v)
    assert not launched_distributed()
    res = train_ddp(ws, cfg, out_dir=tmp_path / "ddp1", progress=False, device="cpu")
    assert not dist.is_initialized()  # the group it made is torn down
    for a, b in zip(ref.log, res.log, strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-6)
        assert a["val_normal_error"] == pytest.approx(b["val_normal_error"], rel=1e-6)
    assert res.best_epoch == ref.best_epoch


@pytest.mark.slow
def test_two_ranks_with_torchrun_follow_the_single_process_loss_curve(tmp_path):
    cfg = small_config(max_epochs=4, patience=10)
    ref = train(toy_window_set(), cfg, out_dir=tmp_path / "ref", progress=False, device="cpu")
    out = tmp_path / "ddp2"
    script = tmp_path / "child.py"
    script.write_text(_CHILD.format(here=str(HERE), out=str(out)))
    env = dict(os.environ, OMP_NUM_THREADS="1", GLOO_SOCKET_IFNAME="lo")
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nnodes=1",
                        "--nproc_per_node=2", "--rdzv-backend=c10d",
                        f"--rdzv-endpoint=127.0.0.1:{_free_port()}", str(script)],
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    lm = load_model(out)
    log = lm.meta["log"]
    assert [row["world_size"] for row in log] == [2] * 4
    assert lm.meta["provenance"]["distributed"]["world_size"] == 2
    for a, b in zip(ref.log, log, strict=True):
        assert a["n_windows"] == b["n_windows"] and a["n_batches"] == b["n_batches"]
        for k in ("train_loss", "train_normal_error", "train_seismic_penalty",
                  "val_normal_error", "val_seismic_error", "margin"):
            assert b[k] == pytest.approx(a[k], rel=RTOL), (a["epoch"], k)
    assert lm.meta["metrics"]["best_epoch"] == ref.best_epoch
    for k, v in ref.model.state_dict().items():
        torch.testing.assert_close(lm.model.state_dict()[k], v, rtol=RTOL, atol=RTOL)
