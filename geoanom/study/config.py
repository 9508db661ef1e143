"""The study configuration: one TOML file that says everything a study needs.

Tables (all optional except ``[study]``, ``[[station]]`` and the inputs):

``[study]``
    ``name``, ``seed``, ``detectors`` (any of ``negative_learning``, ``plain_autoencoder``,
    ``activity``; or, for ``kind = "scores"``, the names of score columns), ``test_years``
    (``[first, last]``, inclusive), ``min_train_days``, ``data_root`` (folder that relative
    input paths are resolved against; itself relative to the current folder; default
    ``../shared/data``), ``kind`` (``"record"``: train detectors on station records;
    ``"scores"``: bring your own scores, see :mod:`geoanom.study.inputs`).
``[[station]]``
    ``code``, ``latitude_deg``, ``longitude_deg``, ``role`` (``"seismic"`` or ``"control"``).
``[records]``
    ``files`` (list) and ``map`` (a table mapping, see :mod:`geoanom.study.inputs`).
``[catalog]``
    ``file`` and ``map``.
``[activity]``
    ``kp`` and ``dst`` (index files), ``baseline`` (the index the event-level test uses as
    its activity baseline), ``score`` (the index of the activity-only detector).
``[windows]``
    :class:`geoanom.detector.windows.WindowConfig` fields (``split_fractions`` is set per test year).
``[train]``
    :class:`geoanom.detector.nn.train.TrainConfig` fields (``lam`` is set per detector).
``[preprocess]``
    :class:`geoanom.detector.preprocess.PreprocessConfig` steps, fitted per test year on the
    training period only (before the validation year).
``[protocol]``
    The nested layout of the protocol TOML (:mod:`geoanom.stats.protocol`).
``[power]``
    Injection design (:mod:`geoanom.study.power`).
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from geoanom._toml import located, parse_toml, toml_value
from geoanom.detector.nn.train import TrainConfig
from geoanom.detector.preprocess import PreprocessConfig
from geoanom.detector.windows import WindowConfig
from geoanom.errors import ConfigError
from geoanom.provenance import config_hash
from geoanom.stats.protocol import Protocol

#: Detectors trained on the station record (name -> negative-learning ``lambda``).
TRAINED_DETECTORS = {"negative_learning": 1.0, "plain_autoencoder": 0.0}
#: The detector that needs no training: the activity index itself.
ACTIVITY_DETECTOR = "activity"
SHORT = {"negative_learning": "NL", "plain_autoencoder": "AE", "activity": "activity"}
#: The score variable of a study's SCORES datasets (units, stations, own scores).
SCORE_VAR = "score"

_TOP = {"study", "station", "records", "catalog", "activity", "windows", "train", "protocol",
        "power", "scores", "preprocess"}
_STUDY_KEYS = {"name", "seed", "detectors", "test_years", "min_train_days", "data_root", "kind",
               "score_normalisation", "description"}
#: The defaults of the ``[power]`` table (:mod:`geoanom.study.power`).
DEFAULT_POWER = {"stations": [], "shape": "noise", "strengths": [0.5, 1.0, 2.0, 4.0],
                 "n_injections": 20, "random_time_check": True,
                 "detectors": ["negative_learning"], "retrain": True, "surrogates": 499,
                 "taper_days": 1.0}
#: The keys of the input and design tables (a misspelled key is an error, never ignored).
_TABLE_KEYS = {"records": {"files", "map", "reference"},
               "catalog": {"file", "map", "min_magnitude"},
               "activity": {"kp", "dst", "baseline", "score"},
               "scores": {"archive", "utc_offset_hours"},
               "power": set(DEFAULT_POWER)}
_STATION_KEYS = {"code", "latitude_deg", "longitude_deg", "role"}


@dataclass
class StationSpec:
    """One station (or area) of the study: code, position (degrees), role."""

    code: str
    latitude_deg: float
    longitude_deg: float
    role: str = "seismic"

    def result_entry(self) -> dict:
        """The station's entry in a study's results: role, position, and its detectors
        (filled by the study)."""
        return {"role": self.role, "latitude_deg": self.latitude_deg,
                "longitude_deg": self.longitude_deg, "detectors": {}}


@dataclass
class StudyConfig:
    """A validated study configuration (see the module docstring).

    ``raw`` keeps the parsed TOML (after defaults), which is what is hashed into every
    output; ``path`` is the file it came from.
    """

    raw: dict
    path: Path | None = None
    data_root: Path = Path("../shared/data")
    stations: list[StationSpec] = field(default_factory=list)

    # ---- accessors
    @property
    def study(self) -> dict:
        return self.raw["study"]

    @property
    def name(self) -> str:
        return str(self.study.get("name", "study"))

    @property
    def kind(self) -> str:
        return str(self.study.get("kind", "record"))

    @property
    def seed(self) -> int:
        return int(self.study.get("seed", 0))

    @property
    def detectors(self) -> list[str]:
        return [str(d) for d in self.study["detectors"]]

    @property
    def test_years(self) -> list[int]:
        a, b = self.study["test_years"]
        return list(range(int(a), int(b) + 1))

    @property
    def min_train_days(self) -> float:
        return float(self.study.get("min_train_days", 180.0))

    def table(self, name: str) -> dict:
        return copy.deepcopy(self.raw.get(name, {}))

    def resolve(self, p: str | os.PathLike) -> Path:
        """An input path: absolute as given, else relative to ``data_root``."""
        q = Path(os.path.expanduser(str(p)))
        return q if q.is_absolute() else self.data_root / q

    def station(self, code: str) -> StationSpec:
        for s in self.stations:
            if s.code == code:
                return s
        raise ConfigError("unknown station", path=self.path, expected=", ".join(
            s.code for s in self.stations), found=code)

    def hash(self) -> str:
        """Hash of the whole configuration (what the study's provenance records)."""
        return config_hash(self.raw)

    def window_config(self, **override) -> WindowConfig:
        d = self.table("windows")
        d.update(override)
        try:
            return WindowConfig.from_dict(d)
        except TypeError as exc:
            raise ConfigError("bad [windows] table", path=self.path, found=str(exc)) from None

    def train_config(self, **override) -> TrainConfig:
        d = self.table("train")
        d.update(override)
        return TrainConfig.from_dict(d)

    def protocol(self, **override) -> Protocol:
        p = Protocol.from_dict(self.table("protocol"), path=self.path)
        return p.replace(**override) if override else p


def _bad(path, what: str, expected: str, found: object) -> ConfigError:
    return ConfigError(f"study config: {what}", path=path, expected=expected, found=str(found))


def study_from_dict(d: dict, *, path: str | os.PathLike | None = None,
                    data_root: str | os.PathLike | None = None) -> StudyConfig:
    """Validate a parsed study TOML (see the module docstring) into a :class:`StudyConfig`.

    Parameters
    ----------
    d
        The parsed TOML.
    path
        The file it came from (for messages).
    data_root
        Overrides ``[study] data_root``.
    """
    path = None if path is None else Path(path)
    raw = copy.deepcopy(d)
    unknown = sorted(set(raw) - _TOP)
    if unknown:
        raise _bad(path, "unknown table(s)", ", ".join(sorted(_TOP)), ", ".join(unknown))
    if "study" not in raw:
        raise _bad(path, "missing [study] table", "[study] with detectors and test_years",
                   "none")
    st = raw["study"]
    bad_keys = sorted(set(st) - _STUDY_KEYS)
    if bad_keys:
        raise _bad(path, "unknown [study] key(s)", ", ".join(sorted(_STUDY_KEYS)),
                   ", ".join(bad_keys))
    for name, allowed in _TABLE_KEYS.items():
        tab = raw.get(name, {})
        if not isinstance(tab, dict):
            raise _bad(path, f"[{name}] must be a table", f"[{name}]", type(tab).__name__)
        unknown_keys = sorted(set(tab) - allowed)
        if unknown_keys:
            raise _bad(path, f"unknown [{name}] key(s)", ", ".join(sorted(allowed)),
                       ", ".join(unknown_keys))
    kind = st.setdefault("kind", "record")
    if kind not in ("record", "scores"):
        raise _bad(path, "[study] kind", "'record' or 'scores'", kind)
    dets = st.get("detectors")
    if not isinstance(dets, list) or not dets:
        raise _bad(path, "[study] detectors", "a non-empty list", dets)
    if kind == "record":
        known = set(TRAINED_DETECTORS) | {ACTIVITY_DETECTOR}
        other = [x for x in dets if x not in known]
        if other:
            raise _bad(path, "[study] detectors", ", ".join(sorted(known)), ", ".join(other))
    ty = st.get("test_years")
    if (not isinstance(ty, list) or len(ty) != 2 or not all(isinstance(x, int) for x in ty)
            or ty[0] > ty[1]):
        raise _bad(path, "[study] test_years", "[first, last] years, first <= last", ty)
    st.setdefault("seed", 0)
    st.setdefault("min_train_days", 180.0)
    st.setdefault("score_normalisation", "validation_median")
    if st["score_normalisation"] not in ("validation_median", "none"):
        raise _bad(path, "[study] score_normalisation", "'validation_median' or 'none'",
                   st["score_normalisation"])
    root = data_root if data_root is not None else st.get("data_root", "../shared/data")
    stations = []
    rows = raw.get("station")
    if not isinstance(rows, list) or not rows:
        raise _bad(path, "[[station]] tables", "at least one [[station]] with code, "
                   "latitude_deg, longitude_deg", rows)
    for i, r in enumerate(rows):
        extra = sorted(set(r) - _STATION_KEYS) if isinstance(r, dict) else []
        if extra:
            raise _bad(path, f"unknown key(s) in [[station]] number {i + 1}",
                       ", ".join(sorted(_STATION_KEYS)), ", ".join(extra))
        try:
            stations.append(StationSpec(code=str(r["code"]),
                                        latitude_deg=float(r["latitude_deg"]),
                                        longitude_deg=float(r["longitude_deg"]),
                                        role=str(r.get("role", "seismic"))))
        except (KeyError, TypeError, ValueError) as exc:
            raise _bad(path, f"[[station]] number {i + 1}", "code, latitude_deg, "
                       "longitude_deg", f"{r} ({exc})") from None
        if stations[-1].role not in ("seismic", "control"):
            raise _bad(path, f"[[station]] {stations[-1].code} role", "'seismic' or 'control'",
                       stations[-1].role)
    codes = [s.code for s in stations]
    if len(set(codes)) != len(codes):
        raise _bad(path, "[[station]] codes", "unique codes", codes)
    cfg = StudyConfig(raw=raw, path=path, data_root=Path(root), stations=stations)
    # fail early on bad detector / protocol tables
    if kind == "record":
        cfg.window_config(split_fractions=(0.8, 0.2, 0.0))
        cfg.train_config()
        if raw.get("preprocess"):
            PreprocessConfig.from_dict(raw["preprocess"], path=path)
    cfg.protocol()
    return cfg


def load_study_config(path: str | os.PathLike, *, data_root: str | os.PathLike | None = None
                      ) -> StudyConfig:
    """Read and validate a study TOML file.

    Parameters
    ----------
    path
        The TOML file; a bare name (``magdas``, ``aeta-weekly``) loads a study shipped in
        ``geoanom/studies``.
    data_root
        Folder that relative input paths are resolved against (overrides the file's
        ``[study] data_root``).
    """
    p = Path(path)
    if not p.is_file() and not p.suffix:
        shipped = Path(__file__).resolve().parent.parent / "studies" / f"{p.name}.toml"
        if shipped.is_file():
            p = shipped
    if not p.is_file():
        raise ConfigError("study config not found", path=p, expected="a TOML file or the name "
                          "of a shipped study (magdas, aeta-weekly)")
    text = p.read_text(encoding="utf-8")
    with located(p):
        return study_from_dict(parse_toml(text, path=p, what="study config"), path=p,
                               data_root=data_root)


def config_dict(cfg: StudyConfig) -> dict[str, Any]:
    """The configuration as recorded in outputs (the parsed TOML with defaults)."""
    return copy.deepcopy(cfg.raw)


def study_toml(d: dict, header: str = "") -> str:
    """TOML text of a study dict (tables, arrays of tables, inline tables one level down);
    :func:`load_study_config` reads it back to the same dict."""
    def table(name: str, t: dict) -> list[str]:
        lines = [f"[{name}]"]
        subs = []
        for k, v in t.items():
            if isinstance(v, dict) and name == "protocol":
                subs.append((k, v))
            elif isinstance(v, dict):
                lines.append(f"{k} = {toml_value(v)}")
            elif v is not None:
                lines.append(f"{k} = {toml_value(v)}")
        out = lines + [""]
        for k, v in subs:
            out += table(f"{name}.{k}", v)
        return out

    lines = [f"# {h}" for h in header.splitlines()] + ([""] if header else [])
    for name, t in d.items():
        if isinstance(t, list):
            for row in t:
                lines += [f"[[{name}]]"] + [f"{k} = {toml_value(v)}" for k, v in row.items()]
                lines.append("")
        else:
            lines += table(name, t)
    return "\n".join(lines)
