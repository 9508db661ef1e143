"""THE time constants: one place for the number of nanoseconds in a second and in a day and the
days in a year, so that no module carries its own copy.

Times in geoanom are tz-naive UTC ``datetime64[ns]``; durations in configuration are in
seconds (``*_s``) or days (``*_days``).
"""

from __future__ import annotations

#: Nanoseconds per second.
NS_PER_S = 1_000_000_000
#: Seconds per (UTC, leap-second-free) day.
S_PER_DAY = 86_400
#: Nanoseconds per day.
NS_PER_DAY = S_PER_DAY * NS_PER_S
#: Days per Julian year (the year of the circular-shift surrogates, declustering windows and
#: secular drift).
DAYS_PER_YEAR = 365.25

__all__ = ["NS_PER_S", "S_PER_DAY", "NS_PER_DAY", "DAYS_PER_YEAR"]
