"""The book's generated pages: API reference pages, equation index, scorecard, and the HTML extension."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from posebook import claims as C
from posebook.book import api, equations, scorecard as S, sphinx_html
from posebook.runs import StoredResult

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------------------ API


def test_the_committed_api_pages_are_the_generated_ones():
    for relative, text in api.api_pages().items():
        path = ROOT / relative
        assert path.is_file(), f"{relative} is missing: run `posebook book` (it writes the API pages)"
        assert path.read_text() == text, f"{relative} is out of date: run `posebook book` and commit it"


def test_every_module_is_on_exactly_one_api_page_and_every_page_is_in_the_toc():
    pages = api.api_pages()
    listed = [line.split("automodule:: ")[1] for relative, text in pages.items() if not relative.endswith("index.md")
              for line in text.splitlines() if "automodule:: " in line]
    assert sorted(listed) == [m for m in api.modules() if m != "posebook"]
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = {c["file"] for part in toc["parts"] for ch in part["chapters"]
             for c in [ch, *ch.get("sections", [])]}
    assert {p.removesuffix(".md") for p in pages} <= files


def test_a_top_level_module_without_a_layer_is_refused():
    with pytest.raises(ValueError, match="no page in posebook.book.api.LAYERS"):
        api._layer_of("posebook.somethingnew")


# ------------------------------------------------------------------------------------ equations


def test_references_take_the_named_paper_else_the_last_named_else_the_default():
    doc = "PRoM Eq. 37 on the weights ... 0 = Eq. 37 alone. CLIFF's Eq. 7, then Eqs. 8 - 9 and Theorem 2."
    assert list(equations.find_references(doc, None)) == [
        ("PRoM", "Eq.", "37"), ("PRoM", "Eq.", "37"), ("CLIFF", "Eq.", "7"), ("CLIFF", "Eq.", "8-9"),
        ("CLIFF", "Theorem", "2")]
    assert list(equations.find_references("the lifting of Eq. 5", "PersPose")) == [("PersPose", "Eq.", "5")]
    assert list(equations.find_references("the lifting of Eq. 5", None)) == []  # no paper: not guessed


def test_a_reference_to_another_work_is_not_a_papers():
    assert list(equations.find_references("minimising ... (Umeyama 1991, Eqs. 40-42)", "CLIFF")) == []


def test_the_index_links_known_implementations():
    index = equations.equation_index()
    rows = {(r.paper, r.equation): r.targets for r in index.itertuples()}
    assert "func:posebook.geometry.camera.cam_crop_to_full" in rows[("CLIFF", "Eq. 7")]
    assert "func:posebook.geometry.rays.project_to_rays" in rows[("ZeDO", "Eq. 4")]
    assert list(dict.fromkeys(index["paper"])) == list(equations.PAPERS)
    text = equations.to_markdown(index)
    assert "{py:func}`~posebook.geometry.camera.cam_crop_to_full`" in text


# ------------------------------------------------------------------------------------ scorecard


def test_every_claimed_experiment_is_shown_on_a_page_with_an_anchor():
    sections = S.experiment_sections(ROOT)
    for chapter in S.CHAPTERS:
        for experiment in chapter.claims:
            assert experiment in sections, f"no notebook runs {experiment}"
            assert sections[experiment].anchor, f"{experiment}: no heading with an anchor above its cell"


def test_sections_follow_myst_slugs_and_skip_code_cells(tmp_path):
    page = tmp_path / "notebooks" / "topic" / "page.md"
    page.parent.mkdir(parents=True)
    page.write_text("# Title: more\n\n## 1. Table $x$ *one*\n\n```{code-cell} ipython3\n# a comment, not a heading\n"
                    "a = run_experiment(\"t.first\")\n```\n\n## 1. Table $x$ *one*\n\nrun_experiment('t.second')\n")
    found = S.experiment_sections(tmp_path)
    assert found["t.first"] == S.Section("notebooks/topic/page", "Title: more", "1. Table  one", "1-table--one")
    assert found["t.second"].anchor == "1-table--one-1"  # a repeated heading gets MyST's -1
    assert found["t.first"].link() == "[Title § 1. Table  one](../notebooks/topic/page.ipynb#1-table--one)"


def _claims(frame: pd.DataFrame, meta=None) -> pd.DataFrame:
    claim = C.Claim("X", "Table 1", "a beats b", "err", paper_value="1 vs 2")
    row = C.judge_paired(claim, "a", frame["a"], "b", frame["b"], evidence=C.Evidence.of(frame, meta))
    return pd.DataFrame([row])


def _run(a, b, profile="long") -> StoredResult:
    frame = pd.DataFrame({"seed": range(len(a)), "a": a, "b": b})
    return StoredResult(frame, {"profile": profile, "device": "cpu", "data_source": "toy", "created_utc": "2026-12-02"},
                        Path("x.csv"))


def test_the_scorecard_puts_quick_and_reference_side_by_side_and_lists_claims_not_rerun():
    chapter = S.Chapter("X", "book/x", {"x.exp": _claims},
                        ((C.Claim("X", "Table 9", "X is the best on a benchmark", "err", paper_value="1.0"), "licensed"),))
    runs = {"quick": _run([1.0], [2.0], "quick"), "long": _run([3.0, 3.0, 1.0], [2.0, 2.0, 2.0])}
    card = S.scorecard(quick=lambda name: runs["quick"], reference=lambda name: runs["long"], chapters=[chapter])
    assert list(card.columns) == list(S.COLUMNS)
    rerun, not_rerun = card.iloc[0], card.iloc[1]
    assert (rerun["quick"], rerun["reference"]) == ("holds", "inconclusive")
    assert "1/3 seeds" in rerun["reference numbers"] and rerun["data"] == "toy"
    assert (not_rerun["quick"], not_rerun["reference"], not_rerun["reference numbers"]) == (
        S.NOT_RERUN, S.NOT_RERUN, "licensed")
    summary = S.verdict_summary(card)
    assert summary.loc["X", "inconclusive"] == 1 and summary.loc["X", S.NOT_RERUN] == 1
    assert summary.loc["X", "claims"] == 2
    text = S.to_markdown(card, {"x.exp": S.Section("notebooks/x/tables", "X tables: all", "1. T", "1-t")})
    assert "[X tables § 1. T](../notebooks/x/tables.ipynb#1-t)" in text and "licensed" in text


def test_an_experiment_without_any_run_says_so_and_an_older_run_is_named():
    chapter = S.Chapter("X", "book/x", {"x.exp": _claims})
    card = S.scorecard(quick=None, reference=lambda name: None, chapters=[chapter])
    assert card.loc[0, "reference"] == "no run yet"
    stale = _run([1.0], [2.0])
    stale.frame = stale.frame.drop(columns="b")  # stored by code that did not record "b"
    card = S.scorecard(reference=lambda name: stale, chapters=[chapter])
    assert card.loc[0, "reference"] == "no current run" and "'b'" in card.loc[0, "reference numbers"]


def test_every_chapter_has_claims_and_names_what_it_does_not_rerun():
    assert [c.paper for c in S.CHAPTERS] == list(equations.PAPERS)
    for chapter in S.CHAPTERS:
        assert chapter.claims and chapter.not_rerun
        assert all(claim.paper == chapter.paper and reason for claim, reason in chapter.not_rerun)
        assert (ROOT / f"{chapter.page}.md").is_file()


# ------------------------------------------------------------------------------------ HTML extension


def test_repeated_scripts_are_dropped_whatever_their_priority():
    from sphinx.builders.html._assets import _JavaScript

    scripts = [_JavaScript(None, body="const X = 1"), _JavaScript("a.js"), _JavaScript("", body="const X = 1", priority=800),
               _JavaScript("a.js", **{"async": "async"})]
    assert sphinx_html.unique_scripts(scripts) == [scripts[0], scripts[1], scripts[3]]


def _widget_page(with_image: bool = True) -> tuple[str, str]:
    output = {"output_type": "display_data", "data": {"image/png": "iVBORw0KGgo=", "text/plain": "<Image>"}}
    state = {"state": {
        "box": {"model_name": "VBoxModel", "state": {"children": ["IPY_MODEL_slider", "IPY_MODEL_out"]}},
        "slider": {"model_name": "FloatSliderModel", "state": {"description": "sigma", "value": 0.5}},
        "out": {"model_name": "OutputModel", "state": {"outputs": [output] if with_image else []}}}}
    view = '<script type="application/vnd.jupyter.widget-view+json">{"version_major": 2, "model_id": "box"}</script>'
    return f"<p>before</p>{view}<p>after</p>", json.dumps(state)


def test_a_widget_becomes_its_saved_figure_and_a_note():
    body, state = _widget_page()
    out = sphinx_html.static_widgets(body, state)
    assert "widget-view" not in out and "<p>before</p>" in out and "<p>after</p>" in out
    assert 'src="data:image/png;base64,iVBORw0KGgo="' in out and "sigma = 0.5" in out
    inline = sphinx_html.static_widgets(
        body + f'<script type="application/vnd.jupyter.widget-state+json">{state}</script>')
    assert "widget-state" not in inline and "iVBORw0KGgo=" in inline
    assert sphinx_html.static_widgets("<p>no widgets</p>") == "<p>no widgets</p>"


def test_a_widget_without_a_saved_figure_still_leaves_no_control():
    body, state = _widget_page(with_image=False)
    out = sphinx_html.static_widgets(body, state)
    assert "widget-view" not in out and "<img" not in out and "Interactive in Jupyter" in out
