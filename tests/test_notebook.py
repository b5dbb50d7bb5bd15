"""posebook.notebook.check_parameters: papermill's injected values against the parameters cell."""

from __future__ import annotations

import pytest

from posebook.notebook import check_parameters, declared_parameters, positive

PARAMS = '''# papermill parameters
profile = "quick"   # a comment
device = "cpu"
seed = 0
depth_m = 5.0
cmu_dir = None
flag = False
'''


def _namespace(injected: str = "", **values):
    history = ["", PARAMS] + ([f"# Parameters\n{injected}"] if injected else [])
    ns = {"In": history, "profile": "quick", "device": "cpu", "seed": 0, "depth_m": 5.0, "cmu_dir": None,
          "flag": False}
    ns.update(values)
    return ns


def test_declared_and_injected_are_read_from_the_cell_history():
    declared, injected = declared_parameters(["x = 1", PARAMS, "# Parameters\nseed = 3\n"])
    assert declared == {"profile": "quick", "device": "cpu", "seed": 0, "depth_m": 5.0, "cmu_dir": None,
                        "flag": False}
    assert injected == {"seed": 3}


def test_valid_values_pass_and_are_returned():
    values = check_parameters(_namespace("seed = 3\ndepth_m = 2\n", seed=3, depth_m=2), depth_m=positive)
    assert values["seed"] == 3 and values["depth_m"] == 2 and values["profile"] == "quick"
    assert check_parameters({"profile": "quick"}) == {}  # no cell history (a plain script): nothing to check


@pytest.mark.parametrize("injected, values, message", [
    ("depht_m = 50", {"depht_m": 50}, "no parameter 'depht_m' (did you mean 'depth_m'?); its parameters are: profile"),
    ("depth_m = 'abc'", {"depth_m": "abc"}, "parameter 'depth_m' must be float (default 5.0), got 'abc' (str)"),
    ("seed = 1.5", {"seed": 1.5}, "parameter 'seed' must be int"),
    ("seed = True", {"seed": True}, "parameter 'seed' must be int"),
    ("flag = 1", {"flag": 1}, "parameter 'flag' must be bool"),
    ("seed = -2", {"seed": -2}, "parameter 'seed' must be an integer in [0, 2**63)"),
    ("depth_m = float('nan')", {"depth_m": float("nan")}, "parameter 'depth_m' must be finite"),
    ("profile = 'huge'", {"profile": "huge"}, "parameter 'profile' must be one of ['quick', 'long', 'gpu', 'full']"),
    ("device = 'meta'", {"device": "meta"}, "parameter 'device' must be cpu, cuda, cuda:N, mps or auto"),
    ("cmu_dir = [1]", {"cmu_dir": [1]}, "parameter 'cmu_dir' must be None, a string or a number"),
])
def test_bad_values_name_the_parameter_and_what_is_allowed(injected, values, message):
    with pytest.raises(ValueError) as err:
        check_parameters(_namespace(injected, **values))
    assert message in str(err.value)


def test_notebook_checks():
    with pytest.raises(ValueError, match="'depth_m' must be > 0"):
        check_parameters(_namespace("depth_m = -5", depth_m=-5.0), depth_m=positive)
    with pytest.raises(ValueError, match="not a parameter of this notebook"):
        check_parameters(_namespace(), depht=positive)


def test_with_reference_skips_a_reference_stored_by_older_code(monkeypatch, capsys):
    from pathlib import Path

    import pandas as pd

    from posebook import notebook
    from posebook.runs import StoredResult

    quick = StoredResult(pd.DataFrame({"x": [1.0]}), {"experiment_params": {}}, Path("q.csv"))
    old = StoredResult(pd.DataFrame({"y": [2.0]}), {"profile": "long"}, Path("r.csv"))  # no column "x"
    monkeypatch.setattr(notebook, "best_reference", lambda name, seed, **params: old)
    monkeypatch.setattr(StoredResult, "is_current", lambda self: False)

    def claims(frame, meta):
        return pd.DataFrame({"claim": ["x is small"], "paper value": ["-"], "verdict": ["holds"],
                             "ours": [str(frame["x"].iloc[0])]})

    assert notebook.with_reference("test.x", quick, claims) is None
    out = capsys.readouterr().out
    assert "the reference lacks column 'x'" in out and "no reference yet" in out
    quick_broken = StoredResult(pd.DataFrame({"z": [1.0]}), {"experiment_params": {}}, Path("q.csv"))
    with pytest.raises(KeyError):  # the rerun's own frame lacking a column is a real error
        monkeypatch.setattr(notebook, "best_reference", lambda name, seed, **params: None)
        notebook.with_reference("test.x", quick_broken, claims)
