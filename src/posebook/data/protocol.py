"""An evaluation protocol, written down: what a chapter's numbers are measured against, printed beside
every table so that a reader can compare them with a paper's (or see why they cannot be compared).

Papers evaluate on the same benchmarks with different conventions (which joints, regressed from
which mesh, which bbox, which focal length, which frames, which units), and the numbers move by
millimetres with each choice (e.g. CLIFF evaluates Human3.6M against SMPL joints, not the mocap
joints: CLIFF issues #103 and #163). A :class:`EvalProtocol` holds those choices as parameters.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd

__all__ = ["EvalProtocol"]


@dataclass(frozen=True)
class EvalProtocol:
    """The choices behind a table's numbers.

    Attributes:
        paper: whose protocol this reproduces ("CLIFF").
        joint_set: joints the position errors are computed on ("h36m17").
        gt_joints: where the ground-truth joints come from.
        root: the joint both skeletons are centred on before MPJPE / PVE.
        vertices: the mesh vertices PVE is computed on.
        bbox: how the bounding box is made, and its scale.
        focal: the focal length the model is given.
        frames: which frames are evaluated (source, rate, split).
        units: of the reported numbers.
        paper_protocol: the paper's own protocol, for comparison.
    """

    paper: str
    joint_set: str
    gt_joints: str
    root: str
    vertices: str
    bbox: str
    focal: str
    frames: str
    units: str = "mm (positions), degrees (rotations)"
    paper_protocol: str = ""

    def table(self) -> pd.DataFrame:
        """Two columns, ``setting`` and ``value``, one row per field."""
        return pd.DataFrame([(k.replace("_", " "), v) for k, v in asdict(self).items() if v],
                            columns=["setting", "value"])

    def line(self) -> str:
        """One line for a caption."""
        return (f"Protocol: {self.joint_set} joints ({self.gt_joints}), centred on the {self.root}; bbox: {self.bbox}; "
                f"focal: {self.focal}; frames: {self.frames}; {self.units}.")
