"""geoanom.stats: rank statistics, the Molchan diagram, surrogate nulls and the significance
protocol of PROTOCOL.md (``geoanom test``).

Modules: :mod:`~geoanom.stats.ranks` (Mann-Whitney U, AUC, effect sizes),
:mod:`~geoanom.stats.molchan` (Molchan diagram, ASS, probability gain),
:mod:`~geoanom.stats.surrogate` (circular shifts, sequence shuffles, stationary bootstrap),
:mod:`~geoanom.stats.protocol` (``Protocol``, ``load_protocol``, ``run_test``) and
:mod:`~geoanom.stats.result` (``TestResult``).
"""

from geoanom.stats.protocol import Protocol, load_protocol, protocol_hash, run_test
from geoanom.stats.result import TestResult

__all__ = ["Protocol", "TestResult", "load_protocol", "protocol_hash", "run_test"]
