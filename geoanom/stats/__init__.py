"""geoanom.stats: rank statistics, the Molchan diagram, surrogate nulls and the significance
protocol of PROTOCOL.md (``geoanom test``).

Modules: :mod:`~geoanom.stats.ranks` (Mann-Whitney U, AUC, effect sizes),
:mod:`~geoanom.stats.molchan` (Molchan diagram, ASS, probability gain),
:mod:`~geoanom.stats.surrogate` (circular shifts, sequence shuffles, stationary bootstrap),
:mod:`~geoanom.stats.protocol` (``Protocol``, ``load_protocol``, ``protocol_hash``: the
settings), :mod:`~geoanom.stats.test` (``run_test``: the order of the steps) and
:mod:`~geoanom.stats.result` (``TestResult``, ``summary_text``).
The steps of ``run_test``, one module each: :mod:`~geoanom.stats.alarm`,
:mod:`~geoanom.stats.nulls`, :mod:`~geoanom.stats.primary`, :mod:`~geoanom.stats.effects`,
:mod:`~geoanom.stats.alarm_baselines`, :mod:`~geoanom.stats.placebo`,
:mod:`~geoanom.stats.multiplicity`, :mod:`~geoanom.stats.legacy`,
:mod:`~geoanom.stats.guards`. Labels and "seen by the station": :mod:`geoanom.labels`.
"""

from geoanom.stats.protocol import Protocol, load_protocol, protocol_hash
from geoanom.stats.result import TestResult
from geoanom.stats.test import run_test

__all__ = ["Protocol", "TestResult", "load_protocol", "protocol_hash", "run_test"]
