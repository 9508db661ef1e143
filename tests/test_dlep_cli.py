"""``geoanom dlep evaluate``: tables on stdout, results JSON with provenance, exit 2 with a
message on bad input, and the ``--geomag-scores`` path when the fusion module is there."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from geoanom.catalog_frame import make_catalog
from geoanom.cli import main
from geoanom.io.catalog import write_catalog_csv

torch.set_num_threads(1)

FAST = ["--epochs", "2", "--indim", "8", "--no-progress", "-w", "5", "--n-events", "10"]


def write_poisson_catalog(path, *, seed: int, n: int, lat: tuple[float, float],
                          lon: tuple[float, float]):
    """A Poisson catalog (one event a day on average, M 3 + exponential) in a box, as CSV."""
    rng = np.random.default_rng(seed)
    days = np.cumsum(rng.exponential(1.0, n))
    t = np.datetime64("2001-01-01T00:00:00", "ns") + (days * 86_400e9).astype("timedelta64[ns]")
    mags = np.round(3.0 + rng.exponential(0.45, n), 1)
    cat = make_catalog(t, rng.uniform(*lat, n), rng.uniform(*lon, n), mags)
    write_catalog_csv(cat, path)
    return path


@pytest.fixture(scope="module")
def catalog_csv(tmp_path_factory):
    return write_poisson_catalog(tmp_path_factory.mktemp("cat") / "synthetic_catalog.csv",
                                 seed=5, n=700, lat=(30.0, 31.0), lon=(100.0, 101.0))


def test_evaluate_prints_tables_and_writes_results(catalog_csv, tmp_path):
    out = tmp_path / "results.json"
    r = CliRunner().invoke(main, ["dlep", "evaluate", "--catalog", str(catalog_csv),
                                  "--region", "custom", "--box", "30,31,100,101",
                                  "--edges", "3.3,3.6,4.0,4.5", "--protocol", "both",
                                  "--methods", "dlep,dlep-att,2019f", "--seeds", "2",
                                  *FAST, "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "Table III" in r.output and "Table IV" in r.output
    assert "custom (kfold (leaky))" in r.output and "custom (chrono)" in r.output
    assert "LEAKY" in r.output
    d = json.loads(out.read_text())
    assert d["type"] == "geoanom.DLEPResults"
    assert set(d["results"]) == {"kfold", "chrono"}
    assert set(d["results"]["chrono"]) == {"dlep", "dlep-att", "2019f"}
    assert d["results"]["kfold"]["dlep"]["seeds"] == [0, 1]
    prov = d["provenance"]
    assert prov["config_hash"] and str(catalog_csv) in prov["inputs"]
    assert prov["config"]["dlep"]["epochs"] == 2
    assert d["samples"]["n_samples"] > 40


def test_json_output_and_tsne(catalog_csv, tmp_path):
    out, png = tmp_path / "r.json", tmp_path / "tsne.png"
    r = CliRunner().invoke(main, ["dlep", "evaluate", "--catalog", str(catalog_csv),
                                  "--region", "custom", "--box", "30,31,100,101",
                                  "--edges", "quantiles", "--methods", "dlep",
                                  "--protocol", "chrono", *FAST, "--seeds", "1", "--json",
                                  "--tsne", str(png),
                                  "-o", str(out)])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["config"]["region"]["edges"] == "quantiles"
    assert png.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("args, needle", [
    (["--region", "atlantis"], "unknown DLEP region"),
    (["--region", "custom", "--edges", "3,4,5,6"], "--box"),
    (["--region", "custom", "--box", "30,31,100", "--edges", "3,4,5,6"], "--box"),
    (["--region", "custom", "--box", "31,30,100,101", "--edges", "3,4,5,6"], "latitude"),
    (["--region", "custom", "--lat", "30,31", "--edges", "3,4,5,6"], "--lon"),
    (["--region", "japan", "--methods", "dlep,magic"], "unknown method"),
    (["--region", "japan", "--methods", "geomag-only"], "--geomag-scores"),
])
def test_bad_input_exits_2_with_a_message(catalog_csv, tmp_path, args, needle):
    r = CliRunner().invoke(main, ["dlep", "evaluate", "--catalog", str(catalog_csv), *args,
                                  *FAST, "-o", str(tmp_path / "x.json")])
    assert r.exit_code == 2
    assert needle in r.output
    assert not (tmp_path / "x.json").exists()


def test_unreadable_catalog_exits_2(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("this,is,not\n1,2\n")
    r = CliRunner().invoke(main, ["dlep", "evaluate", "--catalog", str(bad), "--region",
                                  "japan", "-o", str(tmp_path / "x.json")])
    assert r.exit_code == 2
    assert "error" in r.output


def test_geomag_scores_add_the_fused_variants(catalog_csv, tmp_path):
    import xarray as xr

    from geoanom.detector.score import write_scores

    # hourly windows over the catalog span for one station inside the box
    t = np.arange(np.datetime64("2000-12-01T00:00", "ns"), np.datetime64("2003-01-01T00:00",
                                                                         "ns"),
                  np.timedelta64(1, "h"))
    rng = np.random.default_rng(0)
    err = rng.gamma(2.0, 1.0, t.size)
    ds = xr.Dataset({"rmse": ("window", err), "score": ("window", err),
                     "start": ("window", t), "end": ("window", t + np.timedelta64(1, "h"))},
                    attrs={"iaga_code": "SYN", "latitude_deg": 30.5, "longitude_deg": 100.5})
    scores = write_scores(ds, tmp_path / "scores.nc")
    out = tmp_path / "r.json"
    r = CliRunner().invoke(main, ["dlep", "evaluate", "--catalog", str(catalog_csv),
                                  "--region", "custom", "--box", "30,31,100,101",
                                  "--edges", "3.3,3.6,4.0,4.5", "--methods", "dlep",
                                  "--protocol", "chrono", *FAST, "--seeds", "1",
                                  "--geomag-scores", str(scores), "-o", str(out)])
    assert r.exit_code == 0, r.output
    d = json.loads(out.read_text())
    assert {"dlep", "dlep+geomag", "geomag-only"} <= set(d["results"]["chrono"])
    assert str(scores) in d["provenance"]["inputs"]


def test_table1_warning_once_on_stderr_and_kept_in_json(tmp_path):
    # a preset region (Sichuan) whose synthetic catalog has too few M>=5.5 events for the
    # paper's class-5 count: the Table I warning goes to stderr once, not to stdout
    path = write_poisson_catalog(tmp_path / "sichuan.csv", seed=7, n=400, lat=(29.0, 35.0),
                                 lon=(99.0, 105.0))
    out = tmp_path / "r.json"
    args = ["dlep", "evaluate", "--catalog", str(path), "--region", "sichuan", "--methods",
            "majority", "--protocol", "chrono", *FAST, "--seeds", "1", "-o", str(out)]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    warnings = json.loads(out.read_text())["config"]["table1_check"]["warnings"]
    assert any("class 5" in w for w in warnings)
    for w in warnings:
        assert r.stderr.count(w) == 1
        assert w not in r.stdout
    assert "Table I check (Sichuan)" in r.stdout
    # --json: stdout is the JSON alone, the warning still on stderr
    r = CliRunner().invoke(main, [*args, "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["config"]["table1_check"]["warnings"] == warnings
    assert all(r.stderr.count(w) == 1 for w in warnings)
