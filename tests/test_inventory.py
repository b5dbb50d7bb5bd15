"""`posebook data`: what is found, where it is looked for, how to provide what is missing."""

from __future__ import annotations

import numpy as np

from posebook import cli
from posebook.inventory import data_inventory


def test_inventory_finds_a_smpl_file_and_cmu_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("POSEBOOK_DATA_ROOT", raising=False)
    (tmp_path / "smpl").mkdir()
    V = 5  # a structurally valid file: `posebook data` checks keys and shapes (tests/test_reliability.py)
    np.savez(tmp_path / "smpl" / "SMPL_NEUTRAL.npz", v_template=np.zeros((V, 3)), shapedirs=np.zeros((V, 3, 10)),
             posedirs=np.zeros((V, 3, 207)), J_regressor=np.zeros((24, V)), weights=np.zeros((V, 24)),
             kintree_table=np.zeros((2, 24), dtype=np.int64), f=np.zeros((2, 3), dtype=np.int64))
    cmu = tmp_path / "cmu"
    cmu.mkdir()
    (cmu / "01.asf").write_text(":version 1.10\n")
    (cmu / "01_01.amc").write_text("1\n")
    frame = data_inventory(cmu_dir=cmu, smpl_dir=tmp_path).set_index("item")
    assert frame.loc["body model: SMPL neutral", "status"] == "available"
    assert frame.loc["body model: SMPL male", "status"] == "not found"
    assert "POSEBOOK_SMPL_DIR" in frame.loc["body model: SMPL male", "how"]
    assert frame.loc["motion: CMU mocap", "status"].startswith("available: 1 clips, 1 subjects")
    assert frame.loc["benchmark: h36m_3d", "status"] == "data root not set"


def test_inventory_reports_missing_benchmarks_under_a_root(tmp_path, capsys):
    assert cli.main(["data", "--data-root", str(tmp_path), "--cmu-dir", str(tmp_path / "none")]) == 0
    out = capsys.readouterr().out
    assert "benchmark: h36m_3d: not found" in out and "vision.imar.ro" in out
    assert "motion: CMU mocap: MISSING" in out
