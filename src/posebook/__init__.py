"""posebook: one package behind a reproducible book on 3D human pose and rotation estimation.

Data flows one way: ``data -> body/geometry -> models/optim -> metrics -> experiments -> notebooks``.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("posebook")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
