"""The package's one-way layers (``.importlinter``), checked by import-linter, a real tool."""

from __future__ import annotations

import sys
from pathlib import Path

from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[1]


def test_the_package_keeps_its_layer_contracts(monkeypatch):
    monkeypatch.chdir(ROOT)
    assert lint_imports(config_filename=str(ROOT / ".importlinter"), no_cache=True, no_logo=True) == 0


def test_a_layer_violation_is_caught(tmp_path, monkeypatch):
    # The same kind of contract on a throw-away package whose lower layer imports the upper one.
    pkg = tmp_path / "fakepkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "high.py").write_text("X = 1\n")
    (pkg / "low.py").write_text("from fakepkg.high import X\n")
    config = tmp_path / ".importlinter"
    config.write_text("[importlinter]\nroot_package = fakepkg\n\n[importlinter:contract:layers]\n"
                      "name = layers\ntype = layers\nlayers =\n    fakepkg.high\n    fakepkg.low\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    sys.modules.pop("fakepkg", None)
    assert lint_imports(config_filename=str(config), no_cache=True, no_logo=True) == 1
