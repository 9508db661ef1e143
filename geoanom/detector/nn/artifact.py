"""The model artifact: a folder with ``weights.pt`` and ``model.json``.

``weights.pt`` holds a plain ``state_dict`` (tensors only) and is loaded with
``torch.load(..., weights_only=True)``: loading never unpickles code. ``model.json`` holds
everything else needed to use the model: the architecture arguments, the normalisation (the
scaler fitted on the training split), the window configuration, the training configuration,
data provenance, metrics and the per-epoch log, the package version that wrote it and the
minimum package version that can read it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import torch

from geoanom._atomic import atomic_path, atomic_write_text
from geoanom._jsonfile import json_safe
from geoanom._version import __version__
from geoanom.detector.nn.bilstm import BiLSTMAutoencoder
from geoanom.errors import ModelError

FORMAT = "geoanom-model"
FORMAT_VERSION = 1
#: The oldest geoanom that can read what this version writes.
MIN_GEOANOM_VERSION = "0.1.0"
WEIGHTS = "weights.pt"
MODEL_JSON = "model.json"

_ARCHITECTURES = {"BiLSTMAutoencoder": BiLSTMAutoencoder}


def _version_tuple(v: str) -> tuple[int, ...]:
    out = []
    for part in str(v).split("."):
        digits = "".join(ch for ch in part if ch.isdigit())
        if not digits:
            break
        out.append(int(digits))
        if len(digits) != len(part):
            break
    return tuple(out)


@dataclass
class LoadedModel:
    """A model read from an artifact folder, in eval mode on ``device``."""

    model: BiLSTMAutoencoder
    meta: dict
    path: Path
    weights_sha256: str
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))


def _state_dict_bytes(model: torch.nn.Module) -> bytes:
    buf = io.BytesIO()
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    torch.save(state, buf)
    return buf.getvalue()


def save_model(directory: str | os.PathLike, model: BiLSTMAutoencoder, meta: dict) -> Path:
    """Write ``weights.pt`` and ``model.json`` into ``directory`` (each atomically).

    Parameters
    ----------
    directory
        The artifact folder (created if needed).
    model
        The trained model.
    meta
        JSON-safe entries for ``model.json``: ``scaler`` (RobustScaler dict), ``windows``
        (window configuration), ``training`` (training configuration), ``provenance``,
        ``metrics``, ``log`` (per-epoch rows) and anything else the caller wants kept.
        Non-finite numbers (e.g. an undefined AUC) are written as ``null``.

    Returns
    -------
    Path
        ``directory``.
    """
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    data = _state_dict_bytes(model)
    sha = hashlib.sha256(data).hexdigest()
    doc = dict(meta)
    doc.update({
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "geoanom_version": __version__,
        "min_geoanom_version": MIN_GEOANOM_VERSION,
        "architecture": {"class": type(model).__name__, "args": model.arch_args()},
        "weights_file": WEIGHTS,
        "weights_sha256": sha,
    })
    # weights first: a model.json never names weights that are not on disk yet.
    with atomic_path(d / WEIGHTS) as tmp:
        tmp.write_bytes(data)
    doc = json.loads(json.dumps(json_safe(doc), default=str))
    atomic_write_text(d / MODEL_JSON, json.dumps(doc, indent=1, sort_keys=True,
                                                 allow_nan=False))
    return d


def add_model_meta(directory: str | os.PathLike, entries: dict) -> Path:
    """Add (or replace) top-level ``entries`` in an existing ``model.json``, atomically.

    Used for what is decided outside the training loop (e.g. the fitted ``preprocess``
    chain and the raw ``record`` description that ``geoanom score`` checks). The format
    keys written by :func:`save_model` cannot be replaced.
    """
    d = Path(directory)
    doc = read_model_json(d)
    reserved = {"format", "format_version", "geoanom_version", "min_geoanom_version",
                "architecture", "weights_file", "weights_sha256"}
    bad = sorted(set(entries) & reserved)
    if bad:
        raise ModelError("cannot overwrite model.json format keys", path=d / MODEL_JSON,
                         found=", ".join(bad))
    doc.update(json.loads(json.dumps(json_safe(entries), default=str)))
    atomic_write_text(d / MODEL_JSON, json.dumps(doc, indent=1, sort_keys=True,
                                                 allow_nan=False))
    return d / MODEL_JSON


def read_model_json(directory: str | os.PathLike) -> dict:
    """Read and check ``model.json``; raise ModelError if it is missing or incompatible."""
    path = Path(directory) / MODEL_JSON
    if not path.is_file():
        raise ModelError("not a geoanom model folder: model.json is missing",
                         path=Path(directory), expected="weights.pt and model.json")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError("model.json is not valid JSON", path=path,
                         line=getattr(exc, "lineno", None), found=str(exc)) from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ModelError("model.json is not a geoanom model description", path=path,
                         expected=f'"format": "{FORMAT}"',
                         found=str(doc.get("format") if isinstance(doc, dict) else type(doc)))
    need = doc.get("min_geoanom_version")
    if need is None or _version_tuple(need) > _version_tuple(__version__):
        raise ModelError(
            f"this model needs geoanom >= {need} (it was written by geoanom "
            f"{doc.get('geoanom_version')}); this is geoanom {__version__}: upgrade geoanom "
            "or retrain the model", path=path, expected=f"min_geoanom_version <= {__version__}",
            found=str(need))
    fv = doc.get("format_version")
    if not isinstance(fv, int) or fv > FORMAT_VERSION:
        raise ModelError("model.json has a format version this geoanom cannot read", path=path,
                         expected=f"format_version <= {FORMAT_VERSION}", found=str(fv))
    arch = doc.get("architecture") or {}
    if arch.get("class") not in _ARCHITECTURES:
        raise ModelError("unknown model architecture", path=path,
                         expected=" or ".join(_ARCHITECTURES), found=str(arch.get("class")))
    return doc


def load_model(directory: str | os.PathLike, *,
               device: str | torch.device | None = None) -> LoadedModel:
    """Load an artifact folder written by :func:`save_model`.

    Parameters
    ----------
    directory
        The artifact folder.
    device
        Where to put the model; ``None``: CPU.

    Returns
    -------
    LoadedModel
        The model in eval mode and the parsed ``model.json``.

    Raises
    ------
    ModelError
        Missing files, an incompatible ``model.json``, weights that hold pickled objects
        (anything but tensors), weights that do not match the checksum or the architecture.
    """
    d = Path(directory)
    doc = read_model_json(d)
    wpath = d / doc.get("weights_file", WEIGHTS)
    if not wpath.is_file():
        raise ModelError("model weights are missing", path=wpath, expected="a weights.pt file")
    data = wpath.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    if doc.get("weights_sha256") not in (None, sha):
        raise ModelError("weights.pt does not match the checksum in model.json "
                         "(a file was replaced or damaged)", path=wpath,
                         expected=str(doc.get("weights_sha256")), found=sha)
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, AttributeError) as exc:
        raise ModelError("weights.pt holds pickled objects or is not a torch state_dict; "
                         "refusing to unpickle it (only plain tensors are loaded)", path=wpath,
                         expected="a state_dict of tensors",
                         found=str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                         ) from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelError("weights.pt is not a state_dict of tensors", path=wpath,
                         found=type(state).__name__)
    arch = doc["architecture"]
    try:
        model = _ARCHITECTURES[arch["class"]](**arch.get("args", {}))
        model.load_state_dict(state, strict=True)
    except (TypeError, RuntimeError) as exc:
        raise ModelError("weights.pt does not fit the architecture in model.json",
                         path=wpath, found=str(exc).splitlines()[0]) from None
    dev = torch.device(device) if device is not None else torch.device("cpu")
    model.to(dev).eval()
    return LoadedModel(model=model, meta=doc, path=d, weights_sha256=sha, device=dev)
