"""Small frictions a new user met (issue 13, part 6), and the shipped protocol document."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from click.testing import CliRunner

from geoanom.cli import main


def test_stations_show_keeps_a_space_after_the_longest_key():
    r = CliRunner().invoke(main, ["stations", "show", "MMB"])
    assert r.exit_code == 0, r.output
    line = next(x for x in r.output.splitlines() if x.startswith("longitude_0_360_deg"))
    assert re.match(r"longitude_0_360_deg\s+144\.189", line)


def test_the_protocol_document_ships_with_the_package():
    r = CliRunner().invoke(main, ["docs", "protocol", "--path"])
    assert r.exit_code == 0
    path = Path(r.output.strip())
    assert path.is_file() and path.parent.name == "stats"
    text = CliRunner().invoke(main, ["docs", "protocol"]).output
    assert text.startswith("# The significance protocol")
    assert "geoanom docs protocol" in CliRunner().invoke(main, ["test", "--help"]).output


def test_demo_step_counter_counts_the_steps_it_runs():
    from geoanom import demo

    src = inspect.getsource(demo)
    n = int(re.search(r"_Steps\(n=(\d+)", src).group(1))
    assert n == len(re.findall(r"\bsteps\.start\(", src))
