"""The ``geoanom`` command line: one click group, one subcommand per task.

Each area registers its commands from its own module (``geoanom.cli.<area>``, a list
``commands``); this module only builds the group, turns errors into exit code 2, maps
``-v/-q`` to logging (and ``-q`` silences progress bars), reads ``--config FILE.toml``
defaults, and prints shell-completion scripts.

Defaults file: tables named after commands, keys named after their long options (without
``--``; ``-`` or ``_``), e.g.::

    [train]
    seed = 3

    [fetch.geomag]
    service = "intermagnet"

    [dlep.evaluate]
    seeds = 5

Explicit flags win over the file. ``GEOANOM_CONFIG`` names a default file.
"""

from __future__ import annotations

import logging
import sys
import warnings
from pathlib import Path

import click

from geoanom._version import __version__
from geoanom.errors import ConfigError, GeoanomError, GeoanomWarning

COMPLETE_VAR = "_GEOANOM_COMPLETE"


class _Group(click.Group):
    """A group that turns any GeoanomError into one paragraph on stderr and exit code 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except GeoanomError as exc:
            click.echo(f"geoanom: error: {exc}", err=True)
            ctx.exit(2)


class _StderrHandler(logging.Handler):
    """Log records to whatever ``sys.stderr`` is when they are emitted (so test runners
    and redirections that swap the stream see them)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:  # noqa: BLE001 - logging must never raise
            self.handleError(record)


def _show_warning(message, category, filename, lineno, file=None, line=None,
                  _default=warnings.showwarning) -> None:
    """geoanom's own warnings as one ``geoanom: warning: ...`` line on stderr (no source path:
    the message says what to change); any other warning as Python shows it."""
    if issubclass(category, GeoanomWarning):
        click.echo(f"geoanom: warning: {message}", err=True)
    else:
        _default(message, category, filename, lineno, file, line)


def configure_logging(verbose: int = 0, quiet: bool = False) -> int:
    """Set the level of the ``geoanom`` logger from ``-v`` (count) and ``-q``; return the
    effective level.

    Default WARNING (inherited from the root logger), ``-v`` INFO, ``-vv`` DEBUG, ``-q``
    ERROR. Messages go to stderr. ``-q`` also silences progress bars
    (:func:`geoanom._progress.set_quiet`).
    """
    from geoanom._progress import set_quiet

    logger = logging.getLogger("geoanom")
    if quiet:
        logger.setLevel(logging.ERROR)
    elif verbose:
        logger.setLevel(logging.DEBUG if verbose >= 2 else logging.INFO)
    else:
        # no flag: inherit (WARNING unless the embedding application chose otherwise)
        logger.setLevel(logging.NOTSET)
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        h = _StderrHandler()
        h.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        logger.addHandler(h)
    set_quiet(quiet)
    return logger.getEffectiveLevel()


def _read_toml(path: Path) -> dict:
    from geoanom._toml import read_toml

    return read_toml(path, what="defaults file")


def _defaults_for(cmd: click.Command, table: dict, where: str, path: Path,
                  ctx: click.Context) -> dict:
    """Check one table against the options of ``cmd``; return it as a click default_map."""
    out: dict = {}
    # a key may be the option as typed ("min-interval", "json") or its parameter name
    names: dict[str, str] = {}
    shown: list[str] = []
    for p in cmd.params:
        if not p.name or p.name == "help":
            continue
        longs = [o[2:] for o in (*p.opts, *p.secondary_opts) if o.startswith("--")]
        shown.append(longs[0] if longs else p.name)
        for alias in (p.name, *longs):
            names[alias.replace("-", "_")] = p.name
    for key, value in table.items():
        sub = cmd.get_command(ctx, key) if isinstance(cmd, click.Group) else None
        if isinstance(value, dict):
            if sub is None:
                known = sorted(cmd.list_commands(ctx)) if isinstance(cmd, click.Group) else []
                raise ConfigError(f"[{where}.{key}] names no command", path=path,
                                  expected="one of " + ", ".join(f"[{where}.{k}]" for k in known)
                                  if known else f"options of '{where}', not a table",
                                  found=f"[{where}.{key}]")
            out[key] = _defaults_for(sub, value, f"{where}.{key}", path, ctx)
            continue
        name = names.get(key.replace("-", "_"))
        if name is None:
            raise ConfigError(f"[{where}] has no option '{key}'", path=path,
                              expected="one of " + ", ".join(sorted(shown)) if shown
                              else "no keys (this command takes no options)", found=key)
        out[name] = value
    return out


def load_defaults(path: str | Path, group: click.Group, ctx: click.Context) -> dict:
    """Read a defaults TOML into a click ``default_map`` for ``group``.

    Tables are command names (``[train]``, ``[fetch.geomag]``, ``[dlep.evaluate]``); keys
    are option names. Unknown tables or keys are a ConfigError naming the file.
    """
    from geoanom._toml import located

    p = Path(path)
    with located(p):
        return _defaults_of(_read_toml(p), p, group, ctx)


def _defaults_of(doc: dict, p: Path, group: click.Group, ctx: click.Context) -> dict:
    out: dict = {}
    for key, value in doc.items():
        if not isinstance(value, dict):
            raise ConfigError("top-level keys are not allowed in a defaults file", path=p,
                              expected="tables named after commands, e.g. [train]",
                              found=f"{key} = {value!r}")
        cmd = group.get_command(ctx, key)
        if cmd is None:
            raise ConfigError(f"[{key}] names no geoanom command", path=p,
                              expected="one of " + ", ".join(
                                  f"[{c}]" for c in sorted(group.list_commands(ctx))),
                              found=f"[{key}]")
        out[key] = _defaults_for(cmd, value, key, p, ctx)
    return out


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="geoanom")
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors on stderr (no progress bars).")
@click.option("--config", "config_file", default=None, envvar="GEOANOM_CONFIG",
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="TOML of defaults: tables named after commands ([train], [fetch.geomag], "
                   "[dlep.evaluate]...), keys named after options; explicit flags win. "
                   "Also read from $GEOANOM_CONFIG.")
@click.pass_context
def main(ctx: click.Context, verbose: int, quiet: bool, config_file: Path | None) -> None:
    """Geomagnetic anomaly detection with negative learning, honest significance tests,
    and DLEP magnitude-class prediction.

    Shell completion: eval "$(geoanom completion bash)" (or zsh, fish).
    """
    configure_logging(verbose, quiet)
    warnings.showwarning = _show_warning
    if config_file is not None:
        defaults = load_defaults(config_file, main, ctx)
        ctx.default_map = {**(ctx.default_map or {}), **defaults}


@click.command("completion")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell-completion script for SHELL.

    \b
    bash:  eval "$(geoanom completion bash)"   (in ~/.bashrc; bash >= 4.4)
    zsh:   eval "$(geoanom completion zsh)"    (in ~/.zshrc)
    fish:  geoanom completion fish > ~/.config/fish/completions/geoanom.fish

    The same scripts come from click's own variable:
    eval "$(_GEOANOM_COMPLETE=bash_source geoanom)".
    """
    from click.shell_completion import get_completion_class

    cls = get_completion_class(shell)
    if cls is None:  # pragma: no cover - the Choice above lists only shells click knows
        raise ConfigError("unsupported shell", expected="bash, zsh or fish", found=shell)
    click.echo(cls(main, {}, "geoanom", COMPLETE_VAR).source())


def _register() -> None:
    from geoanom.cli import (
        config,
        data,
        demo,
        detector,
        dlep,
        fetch,
        prereg,
        significance,
        study,
        synth,
    )

    for module in (data, synth, config, detector, significance, prereg, dlep, fetch, demo, study):
        for cmd in module.commands:
            main.add_command(cmd)
    main.add_command(completion)


_register()
