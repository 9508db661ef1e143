"""Small frictions a new user met (issue 13, part 6), and the shipped protocol document."""

from __future__ import annotations

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


def test_torch_threads_default_to_one_unless_asked(monkeypatch):
    import pytest
    import torch

    from geoanom.cli.detector import set_torch_threads
    from geoanom.errors import ConfigError

    before = torch.get_num_threads()
    try:
        monkeypatch.delenv("GEOANOM_THREADS", raising=False)
        assert set_torch_threads(None) == 1 and torch.get_num_threads() == 1
        monkeypatch.setenv("GEOANOM_THREADS", "2")
        assert set_torch_threads(None) == 2 and torch.get_num_threads() == 2
        assert set_torch_threads(1) == 1
        monkeypatch.setenv("GEOANOM_THREADS", "two")
        with pytest.raises(ConfigError, match="GEOANOM_THREADS"):
            set_torch_threads(None)
    finally:
        torch.set_num_threads(before)
    assert "--threads" in CliRunner().invoke(main, ["train", "--help"]).output
