"""The README and docs/ say only what runs: every shell block marked runnable is executed.

A block is runnable when its fence reads ```` ```bash runnable ````. The blocks of one file
run top to bottom in one bash process (``set -euo pipefail``) in a fresh temporary folder,
with the package's ``geoanom`` first on PATH, so a later block sees what an earlier one
wrote. Files whose blocks read ``$GEOANOM_SHARED_DATA`` (the real data in ../shared/data)
run only where that folder exists (locally skipped, a failure under CI=true).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^```bash runnable[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)


def runnable_blocks(path: Path) -> list[str]:
    """The runnable shell blocks of a Markdown file, in order."""
    return FENCE.findall(path.read_text(encoding="utf-8"))


def commands(block: str) -> list[str]:
    """The commands of a block: continuation lines (ending in a backslash) joined, blank
    lines and comments dropped."""
    out, cur = [], ""
    for line in block.splitlines():
        if line.rstrip().endswith("\\"):
            cur += line.rstrip()[:-1] + " "
            continue
        cur += line
        if cur.strip() and not cur.lstrip().startswith("#"):
            out.append(cur.strip())
        cur = ""
    return out


def _cases():
    out = []
    for p in DOCS:
        blocks = runnable_blocks(p)
        if not blocks:
            continue
        real = any("GEOANOM_SHARED_DATA" in b for b in blocks)
        marks = [pytest.mark.slow] if real else []
        out.append(pytest.param(p, blocks, real, id=str(p.relative_to(ROOT)), marks=marks))
    return out


def test_the_fence_is_found_and_every_doc_with_geoanom_commands_has_runnable_blocks():
    assert runnable_blocks(ROOT / "README.md"), "the README tour must be runnable"
    assert runnable_blocks(ROOT / "docs" / "tour.md")
    assert runnable_blocks(ROOT / "docs" / "walkthrough.md")


@pytest.mark.parametrize("path, blocks, real", _cases())
def test_runnable_blocks_run(path: Path, blocks: list[str], real: bool, tmp_path, request):
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.update({"OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg", "GEOANOM_PROGRESS": "0"})
    if real:
        env["GEOANOM_SHARED_DATA"] = str(request.getfixturevalue("shared_data"))
    lines = []
    for b in blocks:
        lines += commands(b)
    # echo each command to stderr with its wall time, so a failure says which one
    script = "set -euo pipefail\n" + "\n".join(
        f"echo {shlex.quote('+ ' + c)} >&2\nSECONDS=0\n{c}\necho \"  ($SECONDS s)\" >&2"
        for c in lines)
    t0 = time.perf_counter()
    r = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=900)
    took = time.perf_counter() - t0
    assert r.returncode == 0, (f"{path.name}: a runnable block failed (exit {r.returncode}) "
                               f"after {took:.0f} s\n--- stderr ---\n{r.stderr[-4000:]}\n"
                               f"--- stdout ---\n{r.stdout[-2000:]}")
