"""DLEP: magnitude-class prediction of the next main shock from a catalog (Li et al.,
the first seed paper), reimplemented with its baselines and an honest chronological protocol.

Modules (imported on use, so that ``geoanom.dlep.segment`` does not pull in torch):

- :mod:`geoanom.dlep.segment`: samples (main shock, precursory pattern, label), the eight
  region presets of the paper's Table I, custom regions;
- :mod:`geoanom.dlep.indicators`: the eight indicators plus the a-value, NaN-and-mask policy,
  training-fold scaling;
- :mod:`geoanom.dlep.model`: pattern CNN, attention-gated fusion (``FusionNet``, the stream
  contract), the fold-parallel ``GroupedDLEP``;
- :mod:`geoanom.dlep.loss`: the dynamic loss;
- :mod:`geoanom.dlep.baselines`: 2016N, 2019F, 2018CNN;
- :mod:`geoanom.dlep.config`: hyper-parameters (``DLEPConfig``);
- :mod:`geoanom.dlep.methods`: the method names and labels, the extra-stream contract;
- :mod:`geoanom.dlep.folds`: the protocols (shuffled K-fold, chronological) and their folds;
- :mod:`geoanom.dlep.jobs`: (seed, fold) jobs, plans, predictions, job seeds;
- :mod:`geoanom.dlep.metrics`: MAUC, confusion matrix, Brier score;
- :mod:`geoanom.dlep.fit`: fitting one job of one method;
- :mod:`geoanom.dlep.grouped`: the DLEP family trained side by side, and its groups;
- :mod:`geoanom.dlep.results`: per-method results and the results JSON;
- :mod:`geoanom.dlep.evaluate`: one method under one protocol over seeds;
- :mod:`geoanom.dlep.pool`: a table's training on worker processes;
- :mod:`geoanom.dlep.tables`: every method and protocol, tables shaped like the paper's;
- :mod:`geoanom.dlep.paper`: the paper's published numbers;
- :mod:`geoanom.dlep.figures`: the t-SNE figure;
- :mod:`geoanom.dlep.fusion`: anomaly scores as a third stream.

:func:`keep_freed_memory` makes training in this process faster on glibc systems (9 %
less CPU on the Japan paper table) by reusing freed memory (same numbers; see
:mod:`geoanom._malloc`); the ``geoanom dlep`` commands and ``evaluate_table``'s worker
processes call it themselves.
"""

from geoanom._malloc import keep_freed_memory

__all__ = ["keep_freed_memory"]
