"""geoanom: negative-learning geomagnetic anomaly detection with honest significance tests.

The public objects are plain functions over xarray and pandas objects; see DESIGN.md.
"""

from geoanom._version import __version__
from geoanom.errors import GeoanomError

__all__ = ["__version__", "GeoanomError"]
