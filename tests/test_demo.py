"""``geoanom demo``: a study on the built-in synthetic world, through the study's own code
path; the report folder, its numbers against its files, and (full run) the truth found."""

from __future__ import annotations

import json

import pytest
import xarray as xr
from click.testing import CliRunner

from geoanom.cli import main
from geoanom.demo import DemoConfig


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "report"
    r = CliRunner().invoke(main, ["demo", "-o", str(out), "--quick", "--seed", "0",
                                  "--no-progress"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    stdout = json.loads(r.stdout.strip().splitlines()[-1])
    return out, json.loads((out / "results.json").read_text()), stdout


@pytest.mark.slow  # the quick demo runs once for these (about 20 s)
def test_report_folder_has_every_file(report):
    out, res, stdout = report
    assert res["type"] == "geoanom.StudyResult" and res["study"] == "geoanom-demo"
    for name in ("summary.md", "results.json", "demo_study.toml", "world/SYA.nc",
                 "world/SYB.nc", "world/catalog.csv", "world/truth.json"):
        assert (out / name).is_file(), name
    for code in ("SYA", "SYB"):
        for det in ("negative_learning", "plain_autoencoder", "activity"):
            assert (out / "stations" / code / f"scores_{det}.nc").is_file()
    figs = res["files"]["figures"]
    assert "forest" in figs and any(k.startswith("timeline_SYA") for k in figs)
    for rel in figs.values():
        p = out / rel
        assert p.read_bytes()[:4] == b"\x89PNG" and p.stat().st_size > 5_000, rel
    assert not list(out.rglob("*.part"))
    assert stdout["summary"] == str(out / "summary.md")


@pytest.mark.slow  # the quick demo runs once for these (about 20 s)
def test_provenance_and_config(report):
    _, res, _ = report
    prov = res["provenance"]
    assert prov["config_hash"] == res["config_hash"]
    assert prov["seeds"] == {"seed": 0} and prov["geoanom_version"]
    assert res["demo"]["config"] == DemoConfig.quick_config(0).to_dict()
    w = res["demo"]["world"]
    assert w["precursor_station"] == "SYA" and w["null_station"] == "SYB"
    assert w["n_precursor_windows"] > 0


@pytest.mark.slow  # the quick demo runs once for these (about 20 s)
def test_truth_table_matches_the_tests(report):
    out, res, stdout = report
    tv = res["demo"]["truth_vs_verdict"]
    for key, v in tv.items():
        code, det = key.split("/")
        te = res["stations"][code]["detectors"][det]["test"]
        assert v["verdict"] == te["verdict"] and v["p_value"] == te["p_value"]
        assert v["carries_precursors"] == (code == "SYA")
        assert v["should_be_found"] == (code == "SYA" and det != "activity")
        assert stdout["verdicts"][key]["verdict"] == v["verdict"]
        r = json.loads((out / res["stations"][code]["detectors"][det]["test_file"])
                       .read_text())
        assert r["primary"]["p_value"] == te["p_value"]
    text = (out / "summary.md").read_text()
    assert "## The synthetic world and its truth" in text
    for v in tv.values():
        assert v["verdict"] in text


@pytest.mark.slow  # the quick demo runs once for these (about 20 s)
def test_demo_config_reruns_through_geoanom_study(report):
    """The demo writes its study config: geoanom study on it resumes every unit."""
    out, res, _ = report
    r = CliRunner().invoke(main, ["study", "--config", str(out / "demo_study.toml"), "-o",
                                  str(out), "--data-root", str(out), "--no-figures"],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "units already done (resumed)" in r.stderr
    again = json.loads((out / "results.json").read_text())
    assert again["config_hash"] == res["config_hash"]
    for code in ("SYA", "SYB"):
        a = res["stations"][code]["detectors"]["negative_learning"]["test"]["p_value"]
        assert again["stations"][code]["detectors"]["negative_learning"]["test"]["p_value"] == a
    ds = xr.load_dataset(out / "stations" / "SYA" / "scores_negative_learning.nc")
    assert json.loads(ds.attrs["geoanom_provenance"])["config"]["study"] == "geoanom-demo"


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


@pytest.mark.slow
def test_full_demo_finds_the_precursors_where_they_are(tmp_path):
    """The full demo reaches verdicts (>= 10 independent events): SYA's precursors are
    found, SYB (the same events, no precursors) gives nothing."""
    from geoanom.demo import run_demo

    res = run_demo(tmp_path / "full", DemoConfig(), progress=False)
    tv = res["demo"]["truth_vs_verdict"]
    sya, syb = tv["SYA/negative_learning"], tv["SYB/negative_learning"]
    assert sya["n_independent_events"] >= 10 and syb["n_independent_events"] >= 10
    assert sya["verdict"].startswith("significant") and sya["agrees_with_truth"]
    assert syb["verdict"].startswith("not significant") and syb["agrees_with_truth"]
