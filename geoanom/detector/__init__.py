"""geoanom.detector: everything that turns a station record into anomaly scores.

One detector is one object: a :class:`~geoanom.detector.config.DetectorConfig` (windows,
labels, training, preprocessing) fitted by :func:`~geoanom.detector.api.fit_detector` into a
:class:`~geoanom.detector.api.Detector`, which scores records, saves itself and has one hash.
The CLI, the study, the power runs and the demo all fit and score through those functions.

Modules: ``config`` (the settings), ``api`` (fit, score, save, load), ``preprocess`` (steps
before windowing), ``windows`` (window sets and splits), ``nn`` (the BiLSTM autoencoder and
its training), ``score`` (scoring), ``distributed`` (scoring on dask), ``baselines`` (the
activity-only and other reference scorers) and ``suggest`` (settings fitted to a record).
"""
