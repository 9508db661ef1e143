"""Every TOML the package reads (detector, protocol, study, mapping, defaults): a misspelled
table or key ends in exit code 2 with a message that names the file, the line of the
misspelling and what was expected; never a traceback."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from geoanom.cli import main
from geoanom.detector.config import DetectorConfig
from geoanom.detector.preprocess import PreprocessConfig

PKG = Path(__file__).resolve().parent.parent / "geoanom"
DEFAULTS = '[train]\nseed = 1\nno-progress = true\n\n[fetch.geomag]\nservice = "usgs"\n'


def _detector_text() -> str:
    return DetectorConfig(preprocess=PreprocessConfig.from_dict(
        {"despike": {"window_s": 600.0}, "scale": {}})).to_toml()


def _files() -> dict[str, tuple[str, callable]]:
    """kind -> (a valid file's text, the command line that reads a file of that kind)."""
    return {
        "detector": (_detector_text(), lambda f, d: [
            "train", "--record", str(d / "r.nc"), "--catalog", str(d / "c.csv"), "--config",
            str(f), "-o", str(d / "m")]),
        "protocol": ((PKG / "stats" / "default_protocol.toml").read_text(), lambda f, d: [
            "test", "--scores", str(d / "s.nc"), "--catalog", str(d / "c.csv"), "--protocol",
            str(f), "-o", str(d / "r.json")]),
        "study": ((PKG / "studies" / "magdas.toml").read_text(), lambda f, d: [
            "study", "--config", str(f), "-o", str(d / "out"), "--data-root", str(d)]),
        "mapping": ((PKG / "mappings" / "magdas-euel.toml").read_text(), lambda f, d: [
            "info", str(d / "x.csv"), "--map", str(f)]),
        "defaults": (DEFAULTS, lambda f, d: ["--config", str(f), "info", str(d / "x.csv")]),
    }


_NAME = re.compile(r"^\s*(\[\[?)\s*([\w.\-]+)\s*\]\]?|^\s*([\w\-]+)\s*=")


#: Tables whose keys are data names (a mapping's component names), not settings.
DATA_TABLES = ("components",)


def _misspellings(text: str):
    """(line number, misspelled text) for every table name and every top-level key of its
    line (the key's or table's last part gets an extra letter)."""
    lines = text.splitlines()
    table = None
    for i, ln in enumerate(lines):
        m = _NAME.match(ln.split("#", 1)[0])
        if not m:
            continue
        if m.group(2):
            table = m.group(2)
        elif table in DATA_TABLES:
            continue
        if m.group(2):
            name = m.group(2)
            if m.group(1) == "[[":
                continue  # arrays of tables ([[station]]) carry data, not names
            new = ln.replace(name, name + "q", 1)
        else:
            name = m.group(3)
            new = ln.replace(name, name + "q", 1)
        yield i + 1, name, "\n".join([*lines[:i], new, *lines[i + 1:]]) + "\n"


def _cases():
    for kind, (text, _) in _files().items():
        for line, name, bad in _misspellings(text):
            yield pytest.param(kind, line, bad, id=f"{kind}-{name}-line{line}")


@pytest.mark.parametrize("kind, line, bad", list(_cases()))
def test_a_misspelled_name_is_exit_2_with_file_and_line(kind, line, bad, tmp_path):
    f = tmp_path / f"{kind}.toml"
    f.write_text(bad, encoding="utf-8")
    for name in ("r.nc", "s.nc", "x.csv", "c.csv"):
        (tmp_path / name).write_text("")
    args = _files()[kind][1](f, tmp_path)
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output and "Error:" not in r.output.split("geoanom: error")[0]
    msg = r.output.strip().splitlines()[-1]
    assert msg.startswith("geoanom: error: ") and str(f) in msg, msg
    assert f", line {line}:" in msg, msg
    assert "expected" in msg, msg


def test_every_kind_has_cases():
    kinds = {c.values[0] for c in _cases()}
    assert kinds == set(_files())
    assert sum(1 for _ in _cases()) > 60
