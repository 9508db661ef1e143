"""Prospective tests (``geoanom prereg``): freeze a detector, its protocol, the input
manifests and the pass criteria before the test period; issue alarms bin by bin as data
arrive, into an append-only hash-chained log; evaluate them against a later catalog with the
frozen protocol only; and let anyone audit the claim from the hashes.

Modules: ``protocol`` (the protocol's bins and test as prereg applies them), ``registration``
(:class:`Registration`, :class:`Criteria`, :func:`freeze`, :func:`amend`), ``alarms`` (the
log, the CSV forecast, :func:`issue_alarms`), ``evaluate`` (:func:`evaluate`,
:class:`PreregResult`) and ``verify`` (:func:`audit`). The walkthrough: ``docs/prereg.md``.
"""

from geoanom.prereg.alarms import issue_alarms, read_log
from geoanom.prereg.evaluate import PreregResult, evaluate
from geoanom.prereg.registration import Criteria, Registration, amend, freeze
from geoanom.prereg.verify import audit

__all__ = ["Criteria", "PreregResult", "Registration", "amend", "audit", "evaluate", "freeze",
           "issue_alarms", "read_log"]
