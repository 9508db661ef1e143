"""``geoanom demo --quick``: the report folder, its keys, and numbers consistent with each
other and with the files they come from."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr
from click.testing import CliRunner

from geoanom.cli import main
from geoanom.demo import DETECTORS, RESULT_KEYS, DemoConfig, attach_labels, heldout_auc
from geoanom.errors import ValidationError
from geoanom.provenance import config_hash

#: the whole demo runs once for this module (about 10 s)
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "report"
    r = CliRunner().invoke(main, ["demo", "-o", str(out), "--quick", "--seed", "0"],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    stdout = json.loads(r.stdout.strip().splitlines()[-1])
    return out, json.loads((out / "results.json").read_text()), stdout, r


def test_report_folder_has_every_file_it_lists(report):
    out, res, stdout, _ = report
    assert set(res) == set(RESULT_KEYS)
    assert res["type"] == "geoanom.DemoResult"
    for key, rel in res["files"].items():
        p = out / rel
        assert p.is_file(), key
        if rel.endswith(".png"):
            assert p.read_bytes()[:4] == b"\x89PNG" and p.stat().st_size > 10_000, rel
    names = {p.name for p in (out / "figures").glob("*.png")}
    assert {"components.png", "components_bandpassed.png", "residuals.png",
            "score_series.png", "heldout_roc.png"} <= names
    assert {p.name for p in (out / "scores").glob("*.nc")} == {"SYA_nl.nc", "SYA_ae.nc",
                                                               "SYC_nl.nc"}
    # nothing half-written is left behind
    assert not list(out.rglob("*.part"))
    assert stdout["summary"] == str(out / "summary.md")


def test_provenance_and_config(report):
    _, res, _, _ = report
    prov = res["provenance"]
    assert prov["config"] == res["config"]
    assert prov["config_hash"] == config_hash(res["config"])
    assert prov["seeds"] == {"seed": 0}
    assert prov["geoanom_version"]
    assert res["config"]["quick"] is True
    assert res["config"] == json.loads(json.dumps(DemoConfig.quick_config(0).to_dict()))


def test_heldout_auc_matches_the_scores_file(report):
    from sklearn.metrics import roc_auc_score

    out, res, stdout, _ = report
    for name, short in (("negative_learning", "nl"), ("plain_autoencoder", "ae")):
        ds = xr.load_dataset(out / "scores" / f"SYA_{short}.nc")
        prov = json.loads(ds.attrs["geoanom_provenance"])
        assert prov["geoanom_version"] and prov["config"]["model"]["weights_sha256"]
        m = (ds["split"].values.astype(str) == "test") & (ds["label"].values >= 0) \
            & np.isfinite(ds["rmse"].values)
        y = ds["label"].values[m]
        h = res["detector"][name]["heldout"]
        assert h["n_seismic"] == int((y == 1).sum()) and h["n_normal"] == int((y == 0).sum())
        assert h["auc"] == pytest.approx(roc_auc_score(y, ds["rmse"].values[m]), abs=1e-12)
        assert stdout["heldout_auc"][name] == pytest.approx(h["auc"])
        assert res["detector"][name]["lambda"] == DETECTORS[name]
    assert "residual_Z" in xr.open_dataset(out / "scores" / "SYA_nl.nc").variables


def test_significance_numbers_match_the_result_files(report):
    out, res, stdout, _ = report
    sig = res["significance"]
    for name, short in (("negative_learning", "nl"), ("plain_autoencoder", "ae")):
        d = json.loads((out / "significance" / f"SYA_{short}.json").read_text())
        s = sig[name]
        assert s["primary"]["p_value"] == d["primary"]["p_value"]
        assert s["primary"]["n_independent_events"] == d["primary"]["n_independent_events"]
        assert s["legacy"]["p_value"] == d["legacy"]["p_value"]
        assert d["protocol_hash"] == sig["protocol_hash"]
        assert d["primary"]["n_surrogates"] == res["config"]["surrogates"]
        # the test used the detector's own split, not the protocol's fallback
        assert d["primary"]["test_period"]["split_source"] == "scores"
        assert d["protocol"]["lead"]["max_days"] == res["config"]["lead_days"][1]
        # a legacy p below the calibrated one is the seed paper's inflation made visible
        lp = d["legacy"]["p_value"]
        assert lp is None or 0.0 <= lp <= 1.0
        assert stdout["primary_p"][name] == s["primary"]["p_value"]


def test_summary_states_the_numbers_of_the_results(report):
    out, res, _, _ = report
    text = (out / "summary.md").read_text()
    w = res["world"]
    assert f"Precursor strength {w['precursor_strength']:g}" in text
    assert f"{w['n_precursor_windows_SYA']} M >= 5 events SYA sees" in text
    for name in ("negative_learning", "plain_autoencoder"):
        auc = res["detector"][name]["heldout"]["auc"]
        assert (f"{auc:.3f}" if auc is not None else "n/a") in text
        assert res["significance"][name]["primary"]["verdict"] in text
    assert res["significance"]["protocol_hash"] in text
    assert "## DLEP" in text


def test_dlep_section_consistent(report):
    out, res, _, _ = report
    dl = res["dlep"]
    # the demo world is built so that DLEP runs: any other status is a failed step
    assert dl["status"] == "ok", dl
    assert set(dl["variants"]) == {"dlep", "dlep+geomag", "geomag-only"}
    for v in dl["variants"].values():
        cm = np.asarray(v["confusion"])
        assert cm.shape == (5, 5)
        # every test sample (the latest n_test) is predicted once, in one of the test folds
        assert cm.sum() == dl["n_test"]
        assert v["acc_mean"] == pytest.approx(np.mean(v["acc"]))
        assert 0.0 <= v["acc_mean"] <= 1.0
    assert dl["geomag_coverage"]["n_with_any_data"] > 0
    assert (out / "figures" / "dlep_table.png").is_file()


def test_quiet_flag_silences_progress(tmp_path, monkeypatch):
    import geoanom.demo as demo_mod

    seen = {}

    def fake_run(output, cfg, progress=True):
        seen["progress"] = progress
        raise demo_mod.ConfigError("stop here")

    monkeypatch.setattr(demo_mod, "run_demo", fake_run)
    r = CliRunner().invoke(main, ["-q", "demo", "-o", str(tmp_path / "x"), "--quick"])
    assert r.exit_code == 2 and seen == {"progress": False}


def test_output_that_is_a_file_exits_2(tmp_path):
    f = tmp_path / "not_a_folder"
    f.write_text("x")
    r = CliRunner().invoke(main, ["demo", "-o", str(f), "--quick"])
    assert r.exit_code == 2
    assert "existing file" in r.output


def test_attach_labels_refuses_another_grid():
    t = np.datetime64("2020-01-01", "ns") + np.arange(5) * np.timedelta64(2, "h")
    scores = xr.Dataset({"start": ("window", t), "rmse": ("window", np.arange(5.0))})
    ws = xr.Dataset({"start": ("window", t[[1, 3]]), "label": ("window", [1, 0]),
                     "split": ("window", ["train", "test"]), "event_id": ("window", ["e", ""])})
    out = attach_labels(scores, ws)
    assert out["label"].values.tolist() == [-1, 1, -1, 0, -1]
    # windows dropped from the window set inside the test period stay in the test period
    assert out["split"].values.tolist() == ["gap", "train", "gap", "test", "test"]
    assert heldout_auc(out)["n_seismic"] == 0
    bad = ws.assign(start=("window", t[[1, 3]] + np.timedelta64(1, "m")))
    with pytest.raises(ValidationError, match="same window grid"):
        attach_labels(scores, bad)
