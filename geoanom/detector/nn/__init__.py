"""geoanom.detector.nn: the negative-learning BiLSTM autoencoder, its loss, training and artifact.

Public objects (imported here explicitly; each lives in one module):

* :class:`~geoanom.detector.nn.bilstm.BiLSTMAutoencoder`, :func:`~geoanom.detector.nn.bilstm.window_errors`
* :func:`~geoanom.detector.nn.losses.penalty`, :class:`~geoanom.detector.nn.losses.NegativeLearningLoss`
* :class:`~geoanom.detector.nn.train.TrainConfig`, :func:`~geoanom.detector.nn.train.train`,
  :class:`~geoanom.detector.nn.train.TrainResult`
* :func:`~geoanom.detector.nn.artifact.save_model`, :func:`~geoanom.detector.nn.artifact.load_model`,
  :class:`~geoanom.detector.nn.artifact.LoadedModel`
"""

from geoanom.detector.nn.artifact import LoadedModel, load_model, save_model
from geoanom.detector.nn.bilstm import BiLSTMAutoencoder, window_errors
from geoanom.detector.nn.losses import NegativeLearningLoss, penalty
from geoanom.detector.nn.train import TrainConfig, TrainResult, train

__all__ = [
    "BiLSTMAutoencoder", "window_errors", "penalty", "NegativeLearningLoss", "TrainConfig",
    "TrainResult", "train", "save_model", "load_model", "LoadedModel",
]
