"""The API reference pages of the book: one MyST page per layer, each an ``automodule`` per module.

The pages are generated (:func:`write_api_pages`, run by ``posebook book`` before every build) and
committed, so ``_toc.yml`` can list them; a test checks that the committed pages are the generated
ones. Modules are found by walking the package, so a new module appears on its layer's page without
editing anything; a new top-level module or subpackage must be given a layer in :data:`LAYERS`
(the generator refuses to leave it out).
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

__all__ = ["LAYERS", "API_DIR", "modules", "api_pages", "write_api_pages"]

#: Page name -> (title, top-level modules and subpackages of ``posebook``), lowest layer first (the
#: order of ``.importlinter``).
LAYERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "foundation": ("Files, runs and parameters", ("files", "runs", "parameters")),
    "geometry": ("Geometry: rotations, cameras, alignment", ("geometry",)),
    "metrics": ("Metrics", ("metrics",)),
    "body": ("Body models and kinematics", ("body",)),
    "data": ("Data: motion capture, the world, renderer, benchmarks", ("data",)),
    "models": ("Models", ("models",)),
    "diffusion": ("Diffusion prior", ("diffusion",)),
    "analysis": ("Analysis", ("analysis",)),
    "optim": ("Training and optimisation", ("optim",)),
    "claims": ("Claims, tables, plots and data inventory", ("claims", "report", "viz", "inventory")),
    "experiments": ("Experiments (the chapters' recipes)", ("experiments",)),
    "top": ("Batches, command line, notebooks and the book's generated pages", ("batch", "cli", "notebook", "book")),
}

#: Where the pages live, relative to the repository root.
API_DIR = Path("book") / "api"


def modules(package: str = "posebook") -> list[str]:
    """Every module of ``package``, subpackages included, in import-path order."""
    root = importlib.import_module(package)
    found = [package]
    for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}."):
        found.append(info.name)
    return sorted(found)


def _layer_of(module: str) -> str:
    top = module.split(".")[1]
    for page, (_, members) in LAYERS.items():
        if top in members:
            return page
    raise ValueError(f"module {module} (top-level {top!r}) has no page in posebook.book.api.LAYERS: "
                     f"add {top!r} to the layer it belongs to (see .importlinter)")


def api_pages() -> dict[str, str]:
    """``{relative path: MyST text}`` for the index page and one page per layer."""
    by_page: dict[str, list[str]] = {page: [] for page in LAYERS}
    for module in modules():
        if module != "posebook":
            by_page[_layer_of(module)].append(module)
    pages = {}
    index = ["# API reference", "",
             "Generated from the docstrings (`posebook.book.api`): one page per layer of the package, lowest "
             "first; a module imports only from layers above it on this list (`.importlinter`). The "
             "[equation index](../equations.md) lists which function implements which paper equation.", "",
             "```{eval-rst}", ".. automodule:: posebook", "   :no-members:", "```", ""]
    for page, (title, _) in LAYERS.items():
        index.append(f"- [{title}]({page}.md)")
        lines = [f"# {title}", ""]
        for module in by_page[page]:
            lines += [f"## `{module}`", "", "```{eval-rst}", f".. automodule:: {module}", "   :members:",
                      "   :show-inheritance:", "```", ""]
        pages[(API_DIR / f"{page}.md").as_posix()] = "\n".join(lines).rstrip() + "\n"
    pages[(API_DIR / "index.md").as_posix()] = "\n".join(index).rstrip() + "\n"
    return pages


def write_api_pages(root: str | Path) -> list[Path]:
    """Write the pages under ``root`` (the repository), only those whose text changed; returns them."""
    written = []
    for relative, text in api_pages().items():
        path = Path(root) / relative
        if not path.is_file() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            written.append(path)
    return written
