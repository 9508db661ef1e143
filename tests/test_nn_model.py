"""The BiLSTM autoencoder (shapes, bounded output, masking) and its artifact round trip."""

from __future__ import annotations

import json
import pickle

import pytest
import torch

from geoanom.detector.nn.artifact import load_model, save_model
from geoanom.detector.nn.bilstm import BiLSTMAutoencoder, window_errors
from geoanom.errors import ConfigError, ModelError

torch.set_num_threads(1)


def _model(seed=0, **kw):
    torch.manual_seed(seed)
    args = {"n_components": 3, "hidden_size": 8, "latent_size": 4, "output_bound": 2.0}
    args.update(kw)
    return BiLSTMAutoencoder(**args)


def test_output_shape_and_bound():
    m = _model(num_layers=2)
    x = torch.randn(5, 20, 3) * 100
    with torch.no_grad():
        # make the last layer huge so that only the bound keeps the output in range
        m.to_output.weight.mul_(1e4)
        y = m(x)
    assert y.shape == x.shape
    assert float(y.abs().max()) <= 2.0
    assert float(y.abs().max()) > 1.9  # the bound is reached, not an accident of scale


def test_invalid_samples_do_not_reach_the_model_or_the_error():
    m = _model()
    g = torch.Generator().manual_seed(3)
    x = torch.randn(4, 12, 3, generator=g)
    valid = torch.rand(4, 12, 3, generator=g) > 0.3
    x2 = torch.where(valid, x, torch.full_like(x, 1e6))
    with torch.no_grad():
        y1, y2 = m(x, valid), m(x2, valid)
    assert torch.equal(y1, y2)
    e1, c1 = window_errors(x, y1, valid)
    e2, c2 = window_errors(x2, y2, valid)
    assert torch.equal(e1, e2) and torch.equal(c1, c2)


def test_window_errors_by_hand():
    x = torch.zeros(2, 3, 2)
    x_hat = torch.tensor([[[1.0, 2.0], [3.0, 0.0], [0.0, 0.0]],
                          [[1.0, 1.0], [1.0, 1.0], [1.0, 1.0]]])
    valid = torch.tensor([[[True, True], [True, False], [False, False]],
                          [[False, False], [False, False], [False, False]]])
    e, ec = window_errors(x, x_hat, valid)
    # window 0: valid squared errors 1, 4, 9 -> mean 14/3; per comp (1+9)/2, 4/1
    assert e[0].item() == pytest.approx(14 / 3)
    assert ec[0].tolist() == pytest.approx([5.0, 4.0])
    # window 1 has no valid sample: NaN, not 0
    assert torch.isnan(e[1]) and torch.isnan(ec[1]).all()


def test_bad_arguments_are_refused():
    with pytest.raises(ConfigError):
        BiLSTMAutoencoder(0)
    with pytest.raises(ConfigError):
        BiLSTMAutoencoder(2, output_bound=0)
    with pytest.raises(ConfigError, match="component"):
        _model()(torch.zeros(1, 5, 2))


def test_artifact_round_trip(tmp_path):
    m = _model(seed=5)
    meta = {"scaler": {"type": "RobustScaler", "center": [0, 0, 0], "scale": [1, 1, 1],
                       "components": ["X", "Y", "Z"], "fitted_on": "train"},
            "metrics": {"val_auc": 0.7}, "log": [{"epoch": 0, "val_auc": 0.7}]}
    save_model(tmp_path / "m", m, meta)
    doc = json.loads((tmp_path / "m" / "model.json").read_text())
    assert doc["architecture"] == {"class": "BiLSTMAutoencoder", "args": m.arch_args()}
    assert doc["min_geoanom_version"] and doc["geoanom_version"]
    lm = load_model(tmp_path / "m")
    assert lm.meta["metrics"] == {"val_auc": 0.7} and lm.meta["log"][0]["epoch"] == 0
    x = torch.randn(2, 7, 3)
    with torch.no_grad():
        assert torch.equal(lm.model(x), m.eval()(x))
    # weights.pt is a bare state_dict: readable with weights_only=True
    state = torch.load(tmp_path / "m" / "weights.pt", weights_only=True)
    assert set(state) == set(m.state_dict())


class _Payload:
    """Stands for arbitrary code a pickle could carry."""

    def __reduce__(self):
        return (print, ("this must never run",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_weights_holding_pickled_objects_are_refused(tmp_path, capsys):
    save_model(tmp_path / "m", _model(), {})
    w = tmp_path / "m" / "weights.pt"
    torch.save({"encoder.weight": _Payload()}, w)
    doc = json.loads((tmp_path / "m" / "model.json").read_text())
    doc.pop("weights_sha256")  # so that the unpickling guard, not the checksum, is what fires
    (tmp_path / "m" / "model.json").write_text(json.dumps(doc))
    with pytest.raises(ModelError, match="pickled objects"):
        load_model(tmp_path / "m")
    assert "must never run" not in capsys.readouterr().out
    # a raw pickle (not even a torch file) is refused too
    w.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(ModelError):
        load_model(tmp_path / "m")


def test_replaced_weights_fail_the_checksum(tmp_path):
    save_model(tmp_path / "m", _model(seed=1), {})
    save_model(tmp_path / "other", _model(seed=2), {})
    (tmp_path / "m" / "weights.pt").write_bytes((tmp_path / "other" / "weights.pt").read_bytes())
    with pytest.raises(ModelError, match="checksum"):
        load_model(tmp_path / "m")


def test_model_from_a_newer_geoanom_is_refused(tmp_path):
    save_model(tmp_path / "m", _model(), {})
    p = tmp_path / "m" / "model.json"
    doc = json.loads(p.read_text())
    doc["min_geoanom_version"] = "99.0.0"
    p.write_text(json.dumps(doc))
    with pytest.raises(ModelError, match=r"needs geoanom >= 99\.0\.0") as ei:
        load_model(tmp_path / "m")
    assert str(p) in str(ei.value)


def test_not_a_model_folder(tmp_path):
    with pytest.raises(ModelError, match="model.json is missing"):
        load_model(tmp_path)
    (tmp_path / "model.json").write_text("{not json")
    with pytest.raises(ModelError, match="not valid JSON"):
        load_model(tmp_path)


def test_undefined_metrics_are_written_as_strict_json_null(tmp_path):
    save_model(tmp_path / "m", _model(), {"metrics": {"val_auc": float("nan")},
                                          "log": [{"val_auc": float("inf")}]})
    text = (tmp_path / "m" / "model.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    meta = load_model(tmp_path / "m").meta
    assert meta["metrics"]["val_auc"] is None and meta["log"][0]["val_auc"] is None
