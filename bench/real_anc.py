"""The detector end to end on real data: ANC 2014 (MAGDAS EE-index) with the global catalog.

    python bench/real_anc.py [--work DIR] [--seeds 0 1 2] [--preprocess none|ulf]

The same command-line runs as :mod:`real_mmb` (train, score, test for negative learning and
the plain autoencoder; held-out AUC matched to the labelled window set), on the 2014 daily
files of the ANC tarball, unpacked into ``WORK/ANC_EEindex`` (never into the repository).

Data: MAGDAS EE-index of Ancon (ANC), Kyushu University / ICSWSE; NEIC "significant
earthquakes" table 1965-2016. Paths default to ``../shared/data`` beside the repository.
"""

from __future__ import annotations

import sys
import tarfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from real_mmb import CONFIGS, SHARED, main  # noqa: E402

TARBALL = SHARED / "geomag" / "peru_ANC_magdas_eeindex" / "ANC_EEindex_2012_2014_pmin.tar.gz"


def anc_2014_files(dest: Path) -> list[Path]:
    """The 2014 daily files, unpacked from the tarball into ``dest`` on first use."""
    dest.mkdir(parents=True, exist_ok=True)
    files = sorted(dest.glob("ANC_EEindex/EEindex2014*pmin.ANC"))
    if not files:
        with tarfile.open(TARBALL) as tf:
            members = [m for m in tf.getmembers()
                       if m.isfile() and Path(m.name).name.startswith("EEindex2014")]
            try:
                tf.extractall(dest, members=members, filter="data")
            except TypeError:  # Python without extraction filters (< 3.10.12)
                tf.extractall(dest, members=members)  # noqa: S202 - our own data tarball
        files = sorted(dest.glob("ANC_EEindex/EEindex2014*pmin.ANC"))
    return files


if __name__ == "__main__":
    main({
        "name": "ANC",
        "records": anc_2014_files(Path("/tmp/geoanom_real_ANC_files")),
        "catalog": SHARED / "catalogs" / "global_significant_M5.5_1965_2016_database.csv",
        "config": CONFIGS / "anc_2014.toml",
        "protocol": CONFIGS / "anc_protocol.toml",
    })
