"""Skeleton and joint-set constants of the datasets and body models, in one place.

Joint names, parent indices (-1 for a root) and left/right pairs of every joint set the book
uses: the CMU ASF skeleton and Anny's ``cmu_mb`` rig (read by the joint sets of
:mod:`posebook.body.joints`, the mocap readers and the retargeting), Human3.6M's 32 and 17
joints, SMPL's 24, OpenPose COCO-18, COCO-17, LSP-14 and MPI-INF-3DHP's 17 (read by the joint
sets and the benchmark loaders). Each constant's comment says where it comes from. Pure data,
no imports: every layer may read it. Facts about a dataset's files (cameras, subject splits,
valid frames, required keys, the expected layout) stay in the benchmark loaders.
"""

from __future__ import annotations

__all__ = [
    "MODEL_TO_CAMERA",
    "CMU31",
    "CMU31_PARENTS",
    "ANNY_CMU_MB",
    "ANNY_CMU_MB_PARENTS",
    "ASF_TO_BVH",
    "BVH_TO_ASF",
    "H36M32_PARENTS",
    "H36M_JOINTS_TO_REMOVE",
    "H36M17_FROM_32",
    "H36M17_NAMES",
    "H36M17_PARENTS",
    "H36M17_SYMMETRY",
    "SMPL24_NAMES",
    "SMPL24_PARENTS",
    "COCO18_NAMES",
    "COCO17_NAMES",
    "COCO17_EDGES",
    "COCO17_PARENTS",
    "LSP14_NAMES",
    "LSP14_PARENTS",
    "MPI_INF_3DHP17_NAMES",
    "MPI_INF_3DHP17_PARENTS",
]

# ----------------------------------------------------------------------------------------------
# CMU mocap (Acclaim ASF) and Anny's cmu_mb rig
# ----------------------------------------------------------------------------------------------

#: The 31 CMU ASF joints in README (and ASF file) order: the root, then the END of every bone.
CMU31: tuple[str, ...] = (
    "root", "lhipjoint", "lfemur", "ltibia", "lfoot", "ltoes", "rhipjoint", "rfemur", "rtibia",
    "rfoot", "rtoes", "lowerback", "upperback", "thorax", "lowerneck", "upperneck", "head",
    "lclavicle", "lhumerus", "lradius", "lwrist", "lhand", "lfingers", "lthumb", "rclavicle",
    "rhumerus", "rradius", "rwrist", "rhand", "rfingers", "rthumb",
)  # fmt: skip
#: Parents of :data:`CMU31` (the ASF ``:hierarchy``).
CMU31_PARENTS: tuple[int, ...] = (
    -1, 0, 1, 2, 3, 4, 0, 6, 7, 8, 9, 0, 11, 12, 13, 14, 15, 13, 17, 18, 19, 20, 21, 20, 13, 24,
    25, 26, 27, 28, 27,
)  # fmt: skip
#: Anny's ``cmu_mb`` bones (the cgspeed BVH joint names) in the rig's order.
ANNY_CMU_MB: tuple[str, ...] = (
    "Hips", "LHipJoint", "LeftUpLeg", "LeftLeg", "LeftFoot", "LeftToeBase", "LowerBack", "Spine",
    "Spine1", "LeftShoulder", "LeftArm", "LeftForeArm", "LeftHand", "LThumb", "LeftFingerBase",
    "LeftHandFinger1", "Neck", "Neck1", "Head", "RightShoulder", "RightArm", "RightForeArm",
    "RightHand", "RThumb", "RightFingerBase", "RightHandFinger1", "RHipJoint", "RightUpLeg",
    "RightLeg", "RightFoot", "RightToeBase",
)  # fmt: skip
#: Parents of :data:`ANNY_CMU_MB` (anny's ``bone_parents`` for the rig).
ANNY_CMU_MB_PARENTS: tuple[int, ...] = (
    -1, 0, 1, 2, 3, 4, 0, 6, 7, 8, 9, 10, 11, 12, 12, 14, 8, 16, 17, 8, 19, 20, 21, 22, 22, 24,
    0, 26, 27, 28, 29,
)  # fmt: skip
#: ASF bone -> the BVH / Anny bone whose HEAD is at the bone's START (the
#: :mod:`posebook.body.joints` module docstring).
ASF_TO_BVH: dict[str, str] = {
    "root": "Hips",
    "lhipjoint": "LHipJoint", "lfemur": "LeftUpLeg", "ltibia": "LeftLeg", "lfoot": "LeftFoot",
    "ltoes": "LeftToeBase",
    "rhipjoint": "RHipJoint", "rfemur": "RightUpLeg", "rtibia": "RightLeg", "rfoot": "RightFoot",
    "rtoes": "RightToeBase",
    "lowerback": "LowerBack", "upperback": "Spine", "thorax": "Spine1", "lowerneck": "Neck",
    "upperneck": "Neck1", "head": "Head",
    "lclavicle": "LeftShoulder", "lhumerus": "LeftArm", "lradius": "LeftForeArm",
    "lwrist": "LeftHand", "lhand": "LeftFingerBase", "lfingers": "LeftHandFinger1",
    "lthumb": "LThumb",
    "rclavicle": "RightShoulder", "rhumerus": "RightArm", "rradius": "RightForeArm",
    "rwrist": "RightHand", "rhand": "RightFingerBase", "rfingers": "RightHandFinger1",
    "rthumb": "RThumb",
}  # fmt: skip
#: The inverse of :data:`ASF_TO_BVH`: BVH / Anny bone -> ASF bone.
BVH_TO_ASF: dict[str, str] = {bvh: asf for asf, bvh in ASF_TO_BVH.items()}

# ----------------------------------------------------------------------------------------------
# Human3.6M (VideoPose3D files)
# ----------------------------------------------------------------------------------------------

#: Parents of the 32 mocap joints (VideoPose3D common/h36m_dataset.py, h36m_skeleton).
H36M32_PARENTS: tuple[int, ...] = (
    -1, 0, 1, 2, 3, 4, 0, 6, 7, 8, 9, 0, 11, 12, 13, 14, 12,
    16, 17, 18, 19, 20, 19, 22, 12, 24, 25, 26, 27, 28, 27, 30,
)
#: Static or duplicate joints VideoPose3D removes to get the standard 17.
H36M_JOINTS_TO_REMOVE: tuple[int, ...] = (4, 5, 9, 10, 11, 16, 20, 21, 22, 23, 24, 28, 29, 30, 31)
#: Indices of the 17 standard joints among the 32.
H36M17_FROM_32: tuple[int, ...] = tuple(j for j in range(32) if j not in H36M_JOINTS_TO_REMOVE)
#: Names of the 17 joints (3d-pose-baseline's H36M_NAMES for the kept indices).
H36M17_NAMES: tuple[str, ...] = (
    "Hip", "RHip", "RKnee", "RFoot", "LHip", "LKnee", "LFoot", "Spine", "Thorax",
    "Neck/Nose", "Head", "LShoulder", "LElbow", "LWrist", "RShoulder", "RElbow", "RWrist",
)
#: Parents of the 17 joints: the 32-joint tree with removed joints skipped and both shoulders
#: re-attached to the thorax (8), as VideoPose3D's Human36mDataset does.
H36M17_PARENTS: tuple[int, ...] = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)
#: Left/right joint indices of the 17 (the 'keypoints_symmetry' of the 2D files' metadata).
H36M17_SYMMETRY: tuple[tuple[int, ...], tuple[int, ...]] = ((4, 5, 6, 11, 12, 13), (1, 2, 3, 14, 15, 16))

# ----------------------------------------------------------------------------------------------
# SMPL and OpenPose COCO-18 (3DPW's sequenceFiles)
# ----------------------------------------------------------------------------------------------

#: SMPL's 24 joints (jointPositions order) and their parents.
SMPL24_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle",
    "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hand", "right_hand",
)
#: Parents of :data:`SMPL24_NAMES` (SMPL's kinematic tree).
SMPL24_PARENTS: tuple[int, ...] = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21)
#: OpenPose COCO-18 keypoints, the order of 3DPW's 'poses2d'.
COCO18_NAMES: tuple[str, ...] = (
    "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
    "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
    "right_eye", "left_eye", "right_ear", "left_ear",
)

# ----------------------------------------------------------------------------------------------
# COCO-17 and Leeds Sports Pose
# ----------------------------------------------------------------------------------------------

#: COCO's 17 keypoints (the order of COCO annotations and of anny's coco regressor).
COCO17_NAMES: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip
#: COCO's skeleton (pycocotools' person 'skeleton', made 0-based).
COCO17_EDGES: tuple[tuple[int, int], ...] = (
    (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7), (6, 8),
    (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
)  # fmt: skip
#: A spanning tree of COCO-17 rooted at the nose, topologically ordered (for tree algorithms).
COCO17_PARENTS: tuple[int, ...] = (-1, 0, 0, 1, 2, 0, 0, 5, 6, 7, 8, 5, 6, 11, 12, 13, 14)

#: Leeds Sports Pose order.
LSP14_NAMES: tuple[str, ...] = (
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
    "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist",
    "neck", "head_top",
)  # fmt: skip
#: A tree rooted at the neck (hips hang from the same-side shoulder). LSP's order lists limb
#: ends first, so this tree cannot be topologically ordered without reordering the joints.
LSP14_PARENTS: tuple[int, ...] = (1, 2, 8, 9, 3, 4, 7, 8, 12, 12, 9, 10, -1, 12)

# ----------------------------------------------------------------------------------------------
# MPI-INF-3DHP test set
# ----------------------------------------------------------------------------------------------

#: The 17 test-set joints (mpii_get_joints('relevant') of the official test utilities).
MPI_INF_3DHP17_NAMES: tuple[str, ...] = (
    "head_top", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
    "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
    "pelvis", "spine", "head",
)
#: Kinematic tree of the 17 (root: pelvis).
MPI_INF_3DHP17_PARENTS: tuple[int, ...] = (16, 15, 1, 2, 3, 1, 5, 6, 14, 8, 9, 14, 11, 12, -1, 14, 1)


#: Body-model output frame (y up, x = subject's left, z = subject's front) -> camera frame (x right,
#: y down, z forward) for a camera facing the subject's front: 180 deg about x.
MODEL_TO_CAMERA = ((1.0, 0.0, 0.0), (0.0, -1.0, 0.0), (0.0, 0.0, -1.0))
