"""The references a pip install ships (`geoanom docs io|mapping|study|protocol`, shipped
studies): they print, they cover every key the readers accept, and setup.cfg packages them."""

from __future__ import annotations

import configparser
import dataclasses
import fnmatch
from pathlib import Path

import pytest
from click.testing import CliRunner

from geoanom._toml import parse_toml
from geoanom.cli import main
from geoanom.cli.config import SHIPPED_DOCS

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("page", sorted(SHIPPED_DOCS))
def test_each_page_prints(page):
    r = CliRunner().invoke(main, ["docs", page])
    assert r.exit_code == 0 and r.output.startswith("# ")
    r = CliRunner().invoke(main, ["docs", page, "--path"])
    assert r.exit_code == 0 and Path(r.output.strip()).is_file()


def test_mapping_page_names_every_mapping_key():
    from geoanom.io.table import TableMapping

    text = (ROOT / "geoanom" / SHIPPED_DOCS["mapping"]).read_text(encoding="utf-8")
    keys = [f.name for f in dataclasses.fields(TableMapping) if f.name != "path"]
    missing = [k for k in keys if f"`{k}`" not in text]
    assert not missing, f"mapping.md lacks {missing}"


def test_study_page_names_every_study_table_and_key():
    from geoanom.study import config as sc
    from geoanom.study.config import DEFAULT_POWER

    text = (ROOT / "geoanom" / SHIPPED_DOCS["study"]).read_text(encoding="utf-8")
    tables = [t for t in sc._TOP if f"[{t}]" not in text and f"[[{t}]]" not in text]
    keys = [k for k in (*sc._STUDY_KEYS, *DEFAULT_POWER) if f"`{k}`" not in text]
    assert not tables and not keys, f"study.md lacks tables {tables}, keys {keys}"


def test_shipped_studies_print_and_parse():
    r = CliRunner().invoke(main, ["docs", "study", "--show", "magdas"])
    assert r.exit_code == 0
    assert parse_toml(r.output)["study"]["name"] == "magdas-euel-daily"
    r = CliRunner().invoke(main, ["docs", "study", "--show", "magdaz"])
    assert r.exit_code == 2 and "aeta-weekly, magdas" in r.output


def test_setup_cfg_ships_the_pages_and_studies():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    globs = [g.strip() for g in cfg["options.package_data"]["geoanom"].split(",")]
    shipped = [*SHIPPED_DOCS.values(),
               *(f"studies/{p.name}" for p in (ROOT / "geoanom" / "studies").glob("*.toml"))]
    missing = [f for f in shipped if not any(fnmatch.fnmatch(f, g) for g in globs)]
    assert not missing, f"setup.cfg package_data does not ship {missing}"
