"""Motion-capture readers and writers: Acclaim ASF/AMC (CMU mocap) and BVH -> rotations and positions.

One in-memory form for both formats, :class:`Motion` on a :class:`Skeleton`, in the **bone
convention** of the Acclaim format (the form the CMU README states; :mod:`~posebook.data.mocap.types`
spells it out, with the joint-convention tree :func:`joint_tree` that :func:`save_bvh` writes).
All tensors are float64 on the CPU (``torch``); convert with ``.to(...)`` downstream.

Modules, one job each (everything public is re-exported here: ``from posebook.data.mocap import X``):

- :mod:`~posebook.data.mocap.types`: :class:`Skeleton`, :class:`Motion`, :class:`JointTree`,
  :class:`MocapFormatError`, :func:`bone_forward_kinematics`, :func:`joint_tree` and the shared
  constants (:data:`METRES_PER_INCH`);
- :mod:`~posebook.data.mocap.parsing`: the text, number and Euler-angle helpers the readers share;
- :mod:`~posebook.data.mocap.asf`: :func:`load_asf` (and the CMU units);
- :mod:`~posebook.data.mocap.amc`: :func:`load_amc`, :func:`load_asf_amc`;
- :mod:`~posebook.data.mocap.bvh`: :func:`load_bvh`, :func:`save_bvh`;
- :mod:`~posebook.data.mocap.resample`: :func:`resample`;
- :mod:`~posebook.data.mocap.cmu`: :func:`list_cmu`, :func:`cmu_dir_from_env`, :data:`CMU_DIR_ENV`.
"""

from posebook.data.mocap.amc import load_amc, load_asf_amc
from posebook.data.mocap.asf import load_asf
from posebook.data.mocap.bvh import load_bvh, save_bvh
from posebook.data.mocap.cmu import CMU_DIR_ENV, cmu_dir_from_env, list_cmu
from posebook.data.mocap.parsing import _euler  # noqa: F401  (tests check it against roma)
from posebook.data.mocap.resample import resample
from posebook.data.mocap.types import (
    METRES_PER_INCH,
    JointTree,
    MocapFormatError,
    Motion,
    Skeleton,
    bone_forward_kinematics,
    joint_tree,
)

__all__ = [
    "MocapFormatError",
    "Skeleton",
    "Motion",
    "JointTree",
    "bone_forward_kinematics",
    "joint_tree",
    "load_asf",
    "load_amc",
    "load_asf_amc",
    "load_bvh",
    "save_bvh",
    "resample",
    "list_cmu",
    "cmu_dir_from_env",
    "CMU_DIR_ENV",
    "METRES_PER_INCH",
]
