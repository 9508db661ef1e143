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
- :mod:`geoanom.dlep.evaluate`: protocols, ACC/MAUC, tables, t-SNE;
- :mod:`geoanom.dlep.fusion`: anomaly scores as a third stream.
"""
