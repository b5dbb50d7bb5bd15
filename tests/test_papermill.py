"""The cheapest chapter, notebooks/geometry/geometry.ipynb, run end to end through papermill's Python API.

What `make book` relies on: papermill injects a `-p` style parameter, the kernel sees it, every cell
runs without an error output, and results go to $POSEBOOK_RESULTS_DIR (here under tmp_path, so the
checkout is not written to). Measured: `python -m papermill` on it takes 16 s wall (28 cells) and
this test 22 s on a loaded 2-core CPU; it also builds the Anny body, hence ``slow``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

papermill = pytest.importorskip("papermill")
nbformat = pytest.importorskip("nbformat")

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "geometry" / "geometry.ipynb"
SEED = 7  # not the notebook's default (0), so seeing it proves the injection reached the kernel


def _stream_text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")


@pytest.mark.slow
def test_geometry_notebook_runs_with_an_injected_parameter(tmp_path, monkeypatch):
    if not NOTEBOOK.is_file():
        pytest.skip(f"{NOTEBOOK} not found (pair it from the .md with `make sync`)")
    results = tmp_path / "results"
    monkeypatch.setenv("POSEBOOK_RESULTS_DIR", str(results))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    out_path = tmp_path / "geometry.out.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOK), str(out_path), parameters={"profile": "quick", "seed": SEED},
        kernel_name="python3", cwd=str(tmp_path), progress_bar=False, execution_timeout=600,
    )
    nb = nbformat.read(out_path, as_version=4)
    errors = [(i, o.get("ename"), o.get("evalue")) for i, cell in enumerate(nb.cells)
              for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"error outputs in {NOTEBOOK.name}: {errors}"
    injected = [c for c in nb.cells if "injected-parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(injected) == 1 and f"seed = {SEED}" in injected[0].source
    # The first code cell after the parameters prints ctx.describe(): the kernel's own view of the run.
    described = [ast.literal_eval(line) for cell in nb.cells if cell.cell_type == "code"
                 for line in _stream_text(cell).splitlines() if line.startswith("{'profile'")]
    assert described, "no ctx.describe() output found"
    assert described[0]["seed"] == SEED and described[0]["profile"] == "quick"
    assert any(results.rglob("*.csv")), f"no experiment result written under {results}"


@pytest.mark.parametrize("parameters, message", [
    ({"depht_m": 50}, "no parameter 'depht_m' (did you mean 'depth_m'?)"),
    ({"nonsense": 1}, "no parameter 'nonsense'"),
    ({"depth_m": -5}, "parameter 'depth_m' must be > 0"),
    ({"depth_m": "abc"}, "parameter 'depth_m' must be float"),
    ({"profile": "huge"}, "parameter 'profile' must be one of"),
    ({"seed": -1}, "parameter 'seed' must be an integer in [0, 2**63)"),
])
def test_bad_parameters_stop_the_notebook_at_once(parameters, message, tmp_path, monkeypatch):
    if not NOTEBOOK.is_file():
        pytest.skip(f"{NOTEBOOK} not found (pair it from the .md with `make sync`)")
    monkeypatch.setenv("POSEBOOK_RESULTS_DIR", str(tmp_path / "results"))
    out_path = tmp_path / "geometry.out.ipynb"
    with pytest.raises(papermill.PapermillExecutionError) as err:
        papermill.execute_notebook(str(NOTEBOOK), str(out_path), parameters=parameters, kernel_name="python3",
                                   cwd=str(tmp_path), progress_bar=False, execution_timeout=120)
    assert err.value.ename == "ValueError" and message in err.value.evalue
    assert not (tmp_path / "results").exists(), "nothing may run before the parameters are checked"
