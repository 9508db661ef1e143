"""The notebooks run top to bottom (nbclient, kernel ``python3``) on synthetic data and on
the real data in ../shared/data (skipped locally when absent, a failure under CI=true)."""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NB_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = ("01_explore_residuals.ipynb", "02_significance.ipynb", "03_dlep_fusion.ipynb")


def _run(name: str, data: str, tmp_path: Path, monkeypatch, shared: Path | None = None):
    nb = nbformat.read(NB_DIR / name, as_version=4)
    # the kernel inherits the environment: the notebook's parameter cell reads it
    monkeypatch.setenv("GEOANOM_NOTEBOOK_DATA", data)
    monkeypatch.setenv("GEOANOM_WORK", str(tmp_path))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    if shared is not None:
        monkeypatch.setenv("GEOANOM_SHARED_DATA", str(shared))
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(NB_DIR)}})
    client.execute()
    return nb


def _outputs(nb) -> str:
    text = []
    for c in nb.cells:
        for o in c.get("outputs", []):
            text.append(o.get("text", ""))
            text.append(str(o.get("data", {}).get("text/plain", "")))
    return "\n".join(text)


def test_notebooks_are_stored_without_outputs():
    for name in NOTEBOOKS:
        nb = nbformat.read(NB_DIR / name, as_version=4)
        nbformat.validate(nb)
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), name
        assert nb.cells[1].metadata.get("tags") == ["parameters"]


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """One work folder per module: the notebooks of one data kind share the example's
    trained model and scores (the first notebook trains, the others reuse)."""
    return tmp_path_factory.mktemp("nbwork")


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_on_synthetic_data(name, work, monkeypatch):
    nb = _run(name, "synthetic", work, monkeypatch)
    out = _outputs(nb)
    assert "synthetic world" in out
    if name.startswith("02"):
        assert "ASS = AUC" in out
    if name.startswith("03"):
        assert "samples have scores" in out


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_on_real_data(name, work, monkeypatch, shared_data):
    nb = _run(name, "real", work, monkeypatch, shared=shared_data)
    out = _outputs(nb)
    assert "MMB" in out
    if name.startswith("01"):
        assert "largest seen event: M9.1" in out or "largest seen event: M9.0" in out


@pytest.mark.slow
@pytest.mark.parametrize("data", ["synthetic", "real"])
def test_real_study_notebook_runs(data, tmp_path, monkeypatch, request):
    """04_real_study on a reduced design: the quick demo study, or MAGDAS DAV + EUS over
    two test years with a small power run."""
    name = "04_real_study.ipynb"
    stored = nbformat.read(NB_DIR / name, as_version=4)
    assert all(not c.get("outputs") for c in stored.cells if c.cell_type == "code")
    assert stored.cells[1].metadata.get("tags") == ["parameters"]
    shared = request.getfixturevalue("shared_data") if data == "real" else None
    out = _outputs(_run(name, data, tmp_path, monkeypatch, shared=shared))
    assert "pooled negative_learning" in out and "independent events" in out
    if data == "real":
        assert "DAV" in out and "detection rate" in out and "random times" in out
    else:
        assert "SYA" in out and "geoanom-demo" in out
