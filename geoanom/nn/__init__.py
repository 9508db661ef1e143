"""geoanom.nn: the negative-learning BiLSTM autoencoder, its loss, training and artifact.

Public objects (imported here explicitly; each lives in one module):

* :class:`~geoanom.nn.bilstm.BiLSTMAutoencoder`, :func:`~geoanom.nn.bilstm.window_errors`
* :func:`~geoanom.nn.losses.penalty`, :class:`~geoanom.nn.losses.NegativeLearningLoss`
* :class:`~geoanom.nn.train.TrainConfig`, :func:`~geoanom.nn.train.train`,
  :class:`~geoanom.nn.train.TrainResult`
* :func:`~geoanom.nn.artifact.save_model`, :func:`~geoanom.nn.artifact.load_model`,
  :class:`~geoanom.nn.artifact.LoadedModel`
"""

from geoanom.nn.artifact import LoadedModel, load_model, save_model
from geoanom.nn.bilstm import BiLSTMAutoencoder, window_errors
from geoanom.nn.losses import NegativeLearningLoss, penalty
from geoanom.nn.train import TrainConfig, TrainResult, train

__all__ = [
    "BiLSTMAutoencoder", "window_errors", "penalty", "NegativeLearningLoss", "TrainConfig",
    "TrainResult", "train", "save_model", "load_model", "LoadedModel",
]
