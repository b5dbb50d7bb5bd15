"""posebook: one package behind a reproducible book on 3D human pose and rotation estimation.

Layers, lowest first; a module imports only from layers below it (``|`` separates siblings, which
never import each other). ``.importlinter`` holds the same order and ``make test`` enforces it::

    files                     atomic writes, content digests of data files
    runs                      profiles, seeds, device, thread cap, result store, code hashes
    geometry | parameters     rotations, cameras, Procrustes, point sampling; the parameter rules
    metrics                   MPJPE, PA-MPJPE, PVE, PCK, angle errors, ...
    body                      kinematics, body models (Anny, SMPL), skeleton and joint-set constants
    data                      CMU mocap, the synthetic world, renderer, benchmark loaders, samplers
    models | diffusion | analysis
                              networks (and their losses), the diffusion prior, gradient analysis
    optim                     the one training loop, training entry points, per-sample optimisers
    claims | report | viz | inventory
                              the claims engine, book tables, plotting theme, data inventory
    experiments               thin recipes, one per chapter (chapters never import each other)
    notebook | book           the notebooks' parameter check; the book's generated pages (API
                              reference, equation index, scorecard) and its HTML extension
    cli                       the ``posebook`` command (notebooks sit above everything)
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("posebook")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
