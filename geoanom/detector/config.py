"""The detector's settings: one :class:`DetectorConfig` object, one hash.

A detector TOML holds three tables, each the fields of one settings object::

    [windows]       # geoanom.detector.windows.WindowConfig: windows, labels, splits
    [train]         # geoanom.detector.nn.train.TrainConfig: network and negative learning
    [preprocess]    # geoanom.detector.preprocess.PreprocessConfig: steps before windowing

:meth:`DetectorConfig.hash` is the SHA-256 of the canonical JSON of :meth:`to_dict`, so two
configs with the same settings have the same hash whatever file or order they came from.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from geoanom._toml import located, read_toml, toml_value
from geoanom.detector.nn.train import TrainConfig
from geoanom.detector.preprocess import PreprocessConfig
from geoanom.detector.windows import WindowConfig
from geoanom.errors import ConfigError
from geoanom.provenance import object_sha256

#: The tables of a detector TOML, in the order they are written.
SECTIONS = ("windows", "train", "preprocess")


def read_detector_tables(path: str | os.PathLike | None) -> dict[str, dict]:
    """The raw tables of a detector TOML, ``{"windows": {...}, "train": {...},
    "preprocess": {...}}`` (empty dicts when ``path`` is None or a table is absent).

    An unknown table or a table that is not a table raises :class:`ConfigError` naming the
    file (and the line where the TOML reader gives one).
    """
    out: dict[str, dict] = {k: {} for k in SECTIONS}
    if path is None:
        return out
    p = Path(path)
    doc = read_toml(p, what="detector config file")
    unknown = sorted(set(doc) - set(SECTIONS))
    if unknown:
        raise ConfigError("unknown table(s) in the detector config: " + ", ".join(unknown),
                          path=p, expected="[windows], [train] and [preprocess]",
                          found=", ".join(unknown))
    for k in SECTIONS:
        if not isinstance(doc.get(k, {}), dict):
            raise ConfigError(f"'{k}' must be a table", path=p, expected=f"[{k}]",
                              found=type(doc[k]).__name__)
        out[k] = dict(doc.get(k, {}))
    return out


@dataclass(frozen=True)
class DetectorConfig:
    """Everything that decides a detector before it sees data.

    Attributes
    ----------
    windows
        Window length, stride, validity, the label rule and the splits.
    train
        Architecture, negative-learning loss and optimiser settings, seed.
    preprocess
        The ``[preprocess]`` steps (empty: the record is windowed as it is).
    path
        The file it was read from, for messages only (not part of :meth:`to_dict` or
        :meth:`hash`).
    """

    windows: WindowConfig = field(default_factory=WindowConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    path: str | None = field(default=None, compare=False)

    @classmethod
    def from_dict(cls, tables: dict[str, Any], *,
                  path: str | os.PathLike | None = None) -> DetectorConfig:
        """Build from ``{"windows": ..., "train": ..., "preprocess": ...}`` (each optional).

        A :class:`ConfigError` raised by one of the tables names ``path`` when given.
        """
        unknown = sorted(set(tables) - set(SECTIONS))
        if unknown:
            raise ConfigError("unknown table(s) in the detector config: " + ", ".join(unknown),
                              path=path, expected="[windows], [train] and [preprocess]",
                              found=", ".join(unknown))
        try:
            return cls(windows=WindowConfig.from_dict(dict(tables.get("windows") or {})),
                       train=TrainConfig.from_dict(dict(tables.get("train") or {})),
                       preprocess=PreprocessConfig.from_dict(tables.get("preprocess") or {},
                                                             path=path),
                       path=None if path is None else str(path))
        except ConfigError as exc:
            if path is not None and exc.path is None:
                exc.path = str(path)
            raise

    @classmethod
    def from_toml(cls, path: str | os.PathLike | None, **overrides: dict) -> DetectorConfig:
        """Read a detector TOML (``None``: the package defaults).

        ``overrides`` maps a table name to keys that replace the file's (``train={"seed":
        3}`` for ``geoanom train --seed 3``).
        """
        with located(path):
            tables = read_detector_tables(path)
            for name, kv in overrides.items():
                if name not in SECTIONS:
                    raise ConfigError(f"unknown detector config table {name!r}",
                                      expected=", ".join(SECTIONS), found=name)
                tables[name] = {**tables[name], **kv}
            return cls.from_dict(tables, path=path)

    def to_dict(self) -> dict[str, dict]:
        """JSON-ready ``{"windows": ..., "train": ..., "preprocess": ...}``; :meth:`from_dict`
        inverts it."""
        return {"windows": self.windows.to_dict(), "train": self.train.to_dict(),
                "preprocess": self.preprocess.to_dict()}

    def to_toml(self) -> str:
        """The detector TOML text that :meth:`from_toml` reads back to an equal config.

        Settings that are ``None`` (the defaults that are computed, such as
        ``embargo_days``) are left out, so they read back as ``None``.
        """
        lines: list[str] = []
        for name, table in self.to_dict().items():
            lines.append(f"[{name}]")
            lines += [f"{k} = {toml_value(v)}" for k, v in table.items()
                      if v is not None and not isinstance(v, dict)]
            lines += [f"{k} = {toml_value({kk: vv for kk, vv in v.items() if vv is not None})}"
                      for k, v in table.items() if isinstance(v, dict)]
            lines.append("")
        return "\n".join(lines)

    def hash(self) -> str:
        """SHA-256 (hex) of the canonical JSON of :meth:`to_dict`."""
        return object_sha256(self.to_dict())

    def replace(self, **tables: Any) -> DetectorConfig:
        """A copy with whole settings objects replaced (``windows=``, ``train=``,
        ``preprocess=``)."""
        return dataclasses.replace(self, **tables)
