"""The API reference's docstrings parse cleanly, checked in seconds instead of at the end of a book build.

The strict book build (warnings are errors) renders every public docstring through autodoc and
napoleon; one malformed "Attributes:" list fails it after ~15 minutes. This test renders the same
docstrings the same way (napoleon's Google style with the book's settings, then docutils) and fails
on any docutils warning, naming the object and the line. Sphinx-only roles (``:func:`` ...) are read as
literals here: whether their targets exist is the book build's job.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import io
import re
from collections.abc import Iterator
from pathlib import Path

import docutils.core
import pytest
import yaml
from docutils import nodes
from docutils.parsers.rst import roles
from sphinx.ext.napoleon import Config
from sphinx.ext.napoleon.docstring import GoogleDocstring

from posebook.book.api import modules

# The book's own napoleon settings, read from its _config.yml so that the two cannot drift apart.
_BOOK_SPHINX = yaml.safe_load((Path(__file__).parents[1] / "_config.yml").read_text())["sphinx"]["config"]
NAPOLEON = Config(**{k: v for k, v in _BOOK_SPHINX.items() if k.startswith("napoleon_")})
SPHINX_ROLES = ("func", "class", "meth", "attr", "mod", "data", "obj", "exc", "ref", "doc", "eq", "term")
# Sphinx reads a field's name (":ivar global_:") as plain text; docutils would read "global_" as a link.
_FIELD_NAME_UNDERSCORE = re.compile(r"^(\s*:(?:ivar|param|type|vartype|raises)\s+\w*?)_:", re.MULTILINE)


def _literal_role(name, rawtext, text, lineno, inliner, options=None, content=None):
    return [nodes.literal(rawtext, text)], []


@functools.cache
def _register_sphinx_roles() -> None:
    for role in SPHINX_ROLES:
        roles.register_local_role(role, _literal_role)


def _public_objects() -> Iterator[tuple[str, object]]:
    """What autodoc documents: each module, its public classes and functions, their public methods."""
    for name in modules():
        if any(part.startswith("_") for part in name.split(".")):
            continue
        module = importlib.import_module(name)
        yield name, module
        for attr, obj in vars(module).items():
            if attr.startswith("_") or getattr(obj, "__module__", None) != name:
                continue
            if not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            yield f"{name}.{attr}", obj
            if inspect.isclass(obj):
                for member, value in vars(obj).items():
                    if member.startswith("_"):
                        continue
                    func = value.fget if isinstance(value, property) else getattr(value, "__func__", value)
                    if inspect.isfunction(func):
                        yield f"{name}.{attr}.{member}", func


def docutils_warnings(docstring: str, what: str) -> str:
    """The docutils warnings (empty when none) of one docstring rendered as autodoc + napoleon would."""
    _register_sphinx_roles()
    rst = _FIELD_NAME_UNDERSCORE.sub(r"\1\\_:", str(GoogleDocstring(docstring, NAPOLEON, what=what)))
    stream = io.StringIO()
    docutils.core.publish_doctree(rst, settings_overrides={"warning_stream": stream, "report_level": 2,
                                                           "halt_level": 5})
    return stream.getvalue().strip()


def test_the_checker_finds_a_malformed_attributes_list():
    # The docstring that failed a book build: a field list continued on an unindented line.
    bad = ("Rows and crops.\n\nAttributes:\n    frames: the rows; joints: (N, 17, 3) joints of\n"
           "    :func:`smpl_h36m_joints`; focal: (N,) focal lengths.\n")
    assert "Field list ends without a blank line" in docutils_warnings(bad, "class")
    good = "Rows and crops.\n\nAttributes:\n    frames: the rows.\n    global_: (N, 3, 3) rotations.\n"
    assert docutils_warnings(good, "class") == ""


def test_every_public_docstring_renders_without_warnings():
    problems = []
    for name, obj in _public_objects():
        doc = inspect.getdoc(obj)
        if not doc:
            continue
        found = docutils_warnings(doc, "class" if inspect.isclass(obj) else "function")
        if found:
            problems.append(f"{name}: {found}")
    if problems:
        pytest.fail("docstrings the book build would warn about (and fail on):\n" + "\n".join(problems))
