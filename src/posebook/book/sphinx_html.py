"""A small Sphinx extension for the book's HTML (listed in ``_config.yml``): each script once per page,
and every ipywidgets control replaced by its figure and a note.

Scripts. Jupyter Book 1.x registers sphinx-thebe's inline configuration script (``const THEBE_JS_URL = ...``)
once per read pass; a build that reads twice puts it on the page twice, and the browser stops at the
second ``const`` with "Identifier 'THEBE_JS_URL' has already been declared" (seen by
``tests/test_book_html.py``). Dropping exact repeats of a script (same file, same attributes and
body) before each page is written removes the error and changes nothing else.

Widgets. A static page cannot run a notebook's kernel, so a slider there is a dead control (and the
widget library myst-nb would fetch from a CDN is out of reach offline; ``nb_ipywidgets_js`` is empty
in ``_config.yml``). :func:`static_widgets` replaces each widget view with the images its output
widgets held when the notebook was executed (the widget's initial state, saved in the notebook's
widget state) and a note naming the controls and their values, so the page shows a figure where the
notebook shows the controls.
"""

from __future__ import annotations

import html
import json
import re

from typing import Any

__all__ = ["unique_scripts", "static_widgets", "setup"]


def unique_scripts(scripts: list[Any]) -> list[Any]:
    """``scripts`` without repeats (same filename, attributes and inline body, whatever their priority;
    an inline script's filename None or ""),
    the first kept."""
    seen, kept = set(), []
    for script in scripts:
        attributes = getattr(script, "attributes", {}) or {}
        # neither the priority nor None vs "" for an inline script: the repeat comes back with either
        key = (getattr(script, "filename", str(script)) or "", tuple(sorted((k, str(v)) for k, v in attributes.items())))
        if key not in seen:
            seen.add(key)
            kept.append(script)
    return kept


_STATE = re.compile(r'<script type="application/vnd\.jupyter\.widget-state\+json">(.*?)</script>', re.S)
_VIEW = re.compile(r'<script type="application/vnd\.jupyter\.widget-view\+json">(.*?)</script>', re.S)
_MODEL = "IPY_MODEL_"
NOTE = ("Interactive in Jupyter: run this notebook to use the controls ({controls}). "
        "The static page shows the figure they drew when the book was built.")


def _walk(state: dict, model_id: str, seen: set) -> tuple[list[str], list[str]]:
    """(images as data URIs, "description = value" of the controls) under one widget model."""
    if model_id in seen or model_id not in state:
        return [], []
    seen.add(model_id)
    model = state[model_id].get("state", {})
    images, controls = [], []
    for output in model.get("outputs", []) or []:
        data = output.get("data", {}) if isinstance(output, dict) else {}
        for mime in ("image/png", "image/jpeg"):
            if mime in data:
                payload = data[mime] if isinstance(data[mime], str) else "".join(data[mime])
                images.append(f"data:{mime};base64,{payload.strip()}")
                break
    if "value" in model and model.get("description") is not None:
        controls.append(f"{model.get('description') or 'value'} = {model['value']}")
    for child in model.get("children", []) or []:
        if isinstance(child, str) and child.startswith(_MODEL):
            sub_images, sub_controls = _walk(state, child[len(_MODEL):], seen)
            images += sub_images
            controls += sub_controls
    return images, controls


def static_widgets(body: str, saved_state: str | None = None) -> str:
    """``body`` (a page's HTML) with each widget view replaced by its saved images and a note, and the
    saved widget state removed; a page without widgets is returned unchanged.

    ``saved_state``: the notebook's widget state (JSON) when it is not in ``body`` (myst-nb puts it in
    the page's scripts)."""
    found = _STATE.search(body)
    if not _VIEW.search(body):
        return _STATE.sub("", body)
    text = html.unescape(found.group(1)) if found else saved_state
    try:
        state = json.loads(text)["state"] if text else {}
    except (ValueError, KeyError, TypeError):
        state = {}

    def replace(match: re.Match) -> str:
        try:
            model_id = json.loads(html.unescape(match.group(1)))["model_id"]
        except (ValueError, KeyError):
            model_id = ""
        images, controls = _walk(state, model_id, set())
        note = html.escape(NOTE.format(controls=", ".join(controls) or "none saved"))
        figures = "".join(f'<img src="{src}" alt="the widget\'s figure at its initial settings"/>' for src in images)
        return (f'<div class="admonition note posebook-static-widget"><p class="admonition-title">Interactive '
                f'figure</p><p>{note}</p>{figures}</div>')

    return _STATE.sub("", _VIEW.sub(replace, body))


def _is_widget_state(script: Any) -> bool:
    return (getattr(script, "attributes", None) or {}).get("type") == "application/vnd.jupyter.widget-state+json"


def _page(app, pagename, templatename, context, doctree) -> None:
    scripts = unique_scripts(list(context.get("script_files", [])))
    states = [s.attributes.get("body") for s in scripts if _is_widget_state(s)]
    context["script_files"] = [s for s in scripts if not _is_widget_state(s)]
    if "body" in context:
        context["body"] = static_widgets(context["body"], states[0] if states else None)


def setup(app) -> dict[str, Any]:
    # last: other handlers add page scripts of their own
    app.connect("html-page-context", _page, priority=999)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
