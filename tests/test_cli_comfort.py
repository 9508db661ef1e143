"""Daily comfort on the command line: progress bars, -v/-q, --json, --config defaults, shell
completion, and the generated CLI reference."""

from __future__ import annotations

import importlib.util
import io
import json
import logging
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from geoanom._progress import Progress, progress, progress_enabled, set_quiet
from geoanom.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _restore_global_state(monkeypatch):
    """-v/-q change the geoanom logger and the progress switch: put them back."""
    monkeypatch.delenv("GEOANOM_PROGRESS", raising=False)
    monkeypatch.delenv("GEOANOM_CONFIG", raising=False)
    logger = logging.getLogger("geoanom")
    level = logger.level
    yield
    logger.setLevel(level)
    set_quiet(False)


# ------------------------------------------------------------------------------------------
# progress bars
# ------------------------------------------------------------------------------------------

class _TTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_draws_on_a_terminal_and_ends_the_line():
    s = _TTY()
    with Progress(4, "surrogates", stream=s, min_interval_s=0.0) as bar:
        for _ in range(4):
            bar.update(1, note="p=0.5")
    out = s.getvalue()
    assert out.startswith("\rsurrogates [")
    assert "4/4" in out and "p=0.5" in out and out.endswith("\n")
    assert out.count("\r") == 4
    assert "#" * 24 in out.split("\r")[-1]  # full bar at the end


def test_progress_is_silent_off_a_terminal_and_when_quiet(monkeypatch):
    s = io.StringIO()  # not a tty: a pipe or a log file
    with Progress(3, "x", stream=s) as bar:
        bar.update(3)
    assert s.getvalue() == ""
    t = _TTY()
    set_quiet(True)
    with Progress(3, "x", stream=t, enabled=True) as bar:  # -q wins over a request
        bar.update(3)
    assert t.getvalue() == ""
    set_quiet(False)
    assert progress_enabled(False, _TTY()) is False
    monkeypatch.setenv("GEOANOM_PROGRESS", "1")
    assert progress_enabled(None, io.StringIO()) is True
    monkeypatch.setenv("GEOANOM_PROGRESS", "0")
    assert progress_enabled(True, _TTY()) is False


def test_progress_unknown_total_and_redraw_throttle():
    s = _TTY()
    bar = Progress(None, "events", stream=s, min_interval_s=3600.0)
    for _ in range(50):
        bar.update(1)
    bar.close()
    # the first update draws, the next 49 fall inside the throttle interval
    assert s.getvalue().count("\r") == 1 and "events 1 (" in s.getvalue()


def test_progress_iterator_yields_everything(monkeypatch):
    monkeypatch.setenv("GEOANOM_PROGRESS", "0")
    assert list(progress(range(5), "x")) == [0, 1, 2, 3, 4]
    assert list(progress((i for i in range(3)), "gen")) == [0, 1, 2]


# ------------------------------------------------------------------------------------------
# -v / -q
# ------------------------------------------------------------------------------------------

@pytest.fixture
def noisy_command():
    """A throw-away command that logs at every level and draws a progress bar."""

    @click.command("noisy-test-command")
    def noisy() -> None:
        log = logging.getLogger("geoanom.noisy")
        log.debug("debug-line")
        log.info("info-line")
        log.warning("warning-line")
        log.error("error-line")
        with Progress(2, "work", min_interval_s=0.0) as bar:
            bar.update(2)
        click.echo("result-line")

    main.add_command(noisy)
    yield noisy.name
    main.commands.pop(noisy.name, None)


@pytest.mark.parametrize("flags, shown, hidden", [
    ([], ["warning-line", "error-line"], ["info-line", "debug-line"]),
    (["-v"], ["info-line", "warning-line"], ["debug-line"]),
    (["-vv"], ["debug-line", "info-line"], []),
    (["-q"], ["error-line"], ["warning-line", "info-line"]),
])
def test_verbosity_flags_set_what_reaches_stderr(noisy_command, flags, shown, hidden):
    r = CliRunner().invoke(main, [*flags, noisy_command])
    assert r.exit_code == 0, r.output
    assert r.stdout == "result-line\n"  # logs never pollute stdout
    for s in shown:
        assert s in r.stderr
    for s in hidden:
        assert s not in r.stderr


def test_quiet_silences_a_forced_progress_bar(noisy_command, monkeypatch):
    monkeypatch.setenv("GEOANOM_PROGRESS", "1")
    r = CliRunner().invoke(main, [noisy_command])
    assert "work [" in r.stderr and "2/2" in r.stderr
    r = CliRunner().invoke(main, ["-q", noisy_command])
    assert "work [" not in r.stderr


# ------------------------------------------------------------------------------------------
# --config defaults
# ------------------------------------------------------------------------------------------

def _synth(tmp_path, name, *args, env=None):
    out = tmp_path / name
    r = CliRunner().invoke(main, [*args[:-1], "synth", *args[-1], "-o", str(out)], env=env)
    assert r.exit_code == 0, r.output
    return json.loads((out / "truth.json").read_text())


def test_config_tables_give_defaults_and_flags_win(tmp_path):
    cfg = tmp_path / "defaults.toml"
    cfg.write_text("[synth]\nseed = 5\ndays = 1.0\nstations = 1\n")
    truth = _synth(tmp_path, "a", "--config", str(cfg), [])
    assert truth["seed"] == 5
    assert sorted(truth["gaps"]) == ["SYA"]  # stations = 1 from the file
    truth = _synth(tmp_path, "b", "--config", str(cfg), ["--seed", "7"])
    assert truth["seed"] == 7  # the explicit flag wins
    # the environment variable names a defaults file too
    truth = _synth(tmp_path, "c", [], env={"GEOANOM_CONFIG": str(cfg)})
    assert truth["seed"] == 5


def test_config_nested_tables_and_dashed_keys(tmp_path):
    cfg = tmp_path / "d.toml"
    cfg.write_text("[stations.list]\njson = true\n")
    r = CliRunner().invoke(main, ["--config", str(cfg), "stations", "list"])
    assert r.exit_code == 0, r.output
    assert isinstance(json.loads(r.stdout), list)  # --json came from the file
    cfg.write_text('[fetch.geomag]\nmin-interval = 2.5\nservice = "intermagnet"\n')
    # defaults show in --help, which proves they reached the command
    r = CliRunner().invoke(main, ["--config", str(cfg), "fetch", "geomag", "--help"])
    assert r.exit_code == 0, r.output
    assert "default: intermagnet" in r.stdout and "default: 2.5" in r.stdout


@pytest.mark.parametrize("text, words", [
    ("[trian]\nseed = 1\n", ["[trian] names no geoanom command", "[train]"]),
    ("[synth]\nsede = 1\n", ["[synth] has no option 'sede'", "seed", "precursor-strength"]),
    ("[fetch.geomg]\nx = 1\n", ["[fetch.geomg] names no command", "[fetch.geomag]"]),
    ("seed = 1\n", ["top-level keys are not allowed"]),
    ("[synth\n", ["not valid TOML", "line 1"]),
])
def test_bad_config_is_exit_2_naming_the_file(tmp_path, text, words):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text, encoding="utf-8")
    r = CliRunner().invoke(main, ["--config", str(cfg), "synth", "-o", str(tmp_path / "o")])
    assert r.exit_code == 2
    assert str(cfg) in r.stderr and "Traceback" not in r.stderr
    for w in words:
        assert w in r.stderr
    assert not (tmp_path / "o").exists()


def test_config_value_of_the_wrong_type_is_a_usage_error(tmp_path):
    cfg = tmp_path / "t.toml"
    cfg.write_text('[synth]\ndays = "many"\n')
    r = CliRunner().invoke(main, ["--config", str(cfg), "synth", "-o", str(tmp_path / "o")])
    assert r.exit_code == 2 and "many" in r.stderr


# ------------------------------------------------------------------------------------------
# shell completion
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("shell, marker", [
    ("bash", "complete -o nosort -F"),
    ("zsh", "compdef"),
    ("fish", "complete --no-files --command geoanom"),
])
def test_completion_scripts(shell, marker):
    r = CliRunner().invoke(main, ["completion", shell])
    assert r.exit_code == 0, r.output
    assert marker in r.stdout and "_GEOANOM_COMPLETE" in r.stdout


def _complete(words: str) -> list[str]:
    env = {"_GEOANOM_COMPLETE": "bash_complete", "COMP_WORDS": words,
           "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1))}
    r = CliRunner().invoke(main, [], env=env, prog_name="geoanom")
    return [ln.split(",", 1)[1] for ln in r.stdout.splitlines() if "," in ln]


def test_completion_answers_commands_options_and_choices():
    assert "fetch" in _complete("geoanom fe")
    assert _complete("geoanom fetch ") == ["catalog", "geomag", "indices"]
    assert "--service" in _complete("geoanom fetch geomag --serv")
    assert _complete("geoanom fetch geomag --service ") == ["usgs", "intermagnet"]
    assert _complete("geoanom completion ") == ["bash", "zsh", "fish"]


def test_unknown_shell_is_a_usage_error():
    r = CliRunner().invoke(main, ["completion", "tcsh"])
    assert r.exit_code == 2 and "bash" in r.stderr


# ------------------------------------------------------------------------------------------
# --json on tabular output
# ------------------------------------------------------------------------------------------

def test_significance_test_json_equals_the_result_file(tmp_path):
    import importlib.util as iu

    import numpy as np
    import pandas as pd

    spec = iu.spec_from_file_location("calibration", ROOT / "bench" / "calibration.py")
    calibration = iu.module_from_spec(spec)
    spec.loader.exec_module(calibration)
    ds, cat = calibration.null_world(np.random.default_rng(1), strength=0.0)
    sc = tmp_path / "scores.nc"
    ds.to_netcdf(sc)
    cf = tmp_path / "cat.csv"
    pd.DataFrame({"time": pd.to_datetime(cat["time"]).dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                  "latitude": cat["latitude_deg"], "longitude": cat["longitude_deg"],
                  "depth": cat["depth_km"], "mag": cat["magnitude"], "magType": "mw",
                  "id": cat["event_id"]}).to_csv(cf, index=False)
    pf = tmp_path / "p.toml"
    pf.write_text("[surrogates]\nn = 99\nn_secondary = 9\nn_bootstrap = 99\nn_legacy = 19\n"
                  "n_fake_catalogs = 2\n")
    out = tmp_path / "r.json"
    r = CliRunner().invoke(main, ["test", "--scores", str(sc), "--catalog", str(cf),
                                  "--protocol", str(pf), "-o", str(out), "--json"])
    assert r.exit_code == 0, r.output
    printed = json.loads(r.stdout)  # stdout is one JSON document, nothing else
    assert printed == json.loads(out.read_text())
    assert printed["primary"]["n_surrogates"] == 99


# ------------------------------------------------------------------------------------------
# the CLI reference
# ------------------------------------------------------------------------------------------

def _gen():
    spec = importlib.util.spec_from_file_location("gen_cli_docs",
                                                  ROOT / "tools" / "gen_cli_docs.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _all_commands(cmd: click.Command, path: str, ctx: click.Context):
    yield path, cmd, ctx
    if isinstance(cmd, click.Group):
        for name in cmd.list_commands(ctx):
            sub = cmd.get_command(ctx, name)
            yield from _all_commands(sub, f"{path} {name}",
                                     click.Context(sub, info_name=name, parent=ctx))


def test_reference_lists_every_command_and_option():
    text = _gen().render()
    root = click.Context(main, info_name="geoanom")
    for path, cmd, _ in _all_commands(main, "geoanom", root):
        assert f"\n## {path}\n" in text, path
        for p in cmd.params:
            if isinstance(p, click.Option) and not p.hidden:
                assert f"`{p.opts[-1]}" in text or f" {p.opts[-1]}" in text, (path, p.opts)


def test_docs_cli_md_is_up_to_date():
    doc = ROOT / "docs" / "cli.md"
    assert doc.read_text(encoding="utf-8") == _gen().render(), (
        "docs/cli.md is out of date: run python tools/gen_cli_docs.py")
