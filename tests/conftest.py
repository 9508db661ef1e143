"""Shared fixtures. Real data is read from ../shared/data (never copied into the repo).

Locally, tests that need it skip when it is absent; under CI=true its absence fails them.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("GEOANOM_SHARED_DATA", ROOT.parent / "shared" / "data"))


def _need(path: Path) -> Path:
    if not path.exists():
        msg = f"real data not found at {path} (expected ../shared/data beside the repository)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real-data folder ``../shared/data``; skip (locally) or fail (CI) if absent."""
    return _need(SHARED_DATA)


@pytest.fixture(scope="session")
def geomag_dir(shared_data: Path) -> Path:
    return _need(shared_data / "geomag")


@pytest.fixture(scope="session")
def catalogs_dir(shared_data: Path) -> Path:
    return _need(shared_data / "catalogs")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Point any cache geoanom keeps at a temporary folder, so tests run offline and clean."""
    monkeypatch.setenv("GEOANOM_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    # a user's own defaults must not change what the tests see
    monkeypatch.delenv("GEOANOM_CONFIG", raising=False)
    monkeypatch.delenv("GEOANOM_PROGRESS", raising=False)
