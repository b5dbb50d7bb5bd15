"""Evaluation metrics reported by the five papers (MPJPE, PA-MPJPE, N-MPJPE, PVE, PA-PVE, PCK, AUC,
MPJAE, minMPJPE, min-PA-MPJPE, acceleration error, relative depth error).

Convention for every function here:

- Inputs are positions in **metres** (or rotation matrices); outputs are **millimetres**, **degrees**
  or **percent**, as the papers report them.
- Every function returns **per-sample** values: the trailing point/joint axes are reduced, all leading
  batch axes are kept, e.g. ``mpjpe(pred (B, J, 3), target (B, J, 3)) -> (B,)``. A dataset number is
  then ``values.mean()`` (or a per-action mean of means, as the Human3.6M protocols do); nothing
  here averages over samples silently.
- ``root`` (where offered) centres both point sets on a root before measuring: an ``int`` joint index,
  or a sequence of indices whose mean is the root (e.g. the mid-hip pelvis of LSP-14 sets, as VIBE
  does). ``None`` (default) measures the points as given. The papers root-align at the pelvis for
  MPJPE/PVE/PCK/AUC (CLIFF Sec. 4: "first aligns ... at the pelvis"; SGRE Sec. 4.1: "after aligning
  root joints"; ZeDO/PersPose evaluate root-relative joints), so benchmark code passes the pelvis.
- Shapes must match exactly (no broadcasting between prediction and target) so that a transposed or
  mis-sized input fails loudly instead of being averaged.
- Non-finite input is never turned into a number: a sample whose prediction or target holds a NaN or
  +-inf coordinate (or rotation entry) gets a non-finite value, the other samples are unaffected.
  That value is NaN, except that the plain distance errors (``mpjpe``, ``pve``, ``accel_error``,
  ``depth_error``) may give +inf for an infinite coordinate. In particular ``pck``/``auc`` do not count
  a NaN joint as "wrong", and ``min_mpjpe``/``min_pa_mpjpe`` do not skip a broken hypothesis: both
  give NaN. So ``values.mean()`` over a dataset is NaN as soon as one sample is; nothing here skips
  NaNs, and nothing raises on them (a check would force a device sync per call).
"""

from __future__ import annotations

import operator
from typing import Sequence, Union

import torch

from posebook.geometry.procrustes import similarity_align
from posebook.geometry.rotations import geodesic_distance

__all__ = [
    "MM_PER_M",
    "PCK_THRESHOLD_M",
    "AUC_THRESHOLDS_M",
    "mpjpe",
    "pa_mpjpe",
    "n_mpjpe",
    "pve",
    "pa_pve",
    "pck",
    "auc",
    "angle_error",
    "mpjae",
    "min_mpjpe",
    "min_pa_mpjpe",
    "accel_error",
    "depth_error",
]

MM_PER_M = 1000.0
#: MPI-INF-3DHP 3DPCK threshold (Mehta et al. 2017): 150 mm.
PCK_THRESHOLD_M = 0.15
#: MPI-INF-3DHP AUC thresholds, 0:5:150 mm (31 values) as in the benchmark's mpii_compute_3d_pck.m.
AUC_THRESHOLDS_M = tuple(0.005 * k for k in range(31))

Root = Union[int, Sequence[int], None]


def _check_same_shape(
    pred: torch.Tensor, target: torch.Tensor, what: str, expected: str, tail: tuple[int | None, ...]
) -> None:
    """Require equal shapes whose trailing dims match ``tail`` (None = any size)."""
    if pred.shape != target.shape:
        raise ValueError(
            f"{what}: prediction and target must have the same shape; got {tuple(pred.shape)} and "
            f"{tuple(target.shape)}."
        )
    if pred.ndim < len(tail) or any(
        size is not None and pred.shape[pred.ndim - len(tail) + i] != size for i, size in enumerate(tail)
    ):
        raise ValueError(f"{what}: expected shape {expected}; got {tuple(pred.shape)}.")


def _root_centre(points: torch.Tensor, root: Root) -> torch.Tensor:
    """Subtract the root (a joint, or the mean of several joints) from (..., J, D) points."""
    if root is None:
        return points
    try:
        index = [operator.index(i) for i in root] if isinstance(root, Sequence) else [operator.index(root)]
    except TypeError:
        index = []
    if not index:
        raise ValueError(
            f"root must be None, a joint index, or a non-empty sequence of joint indices; got {root!r}."
        )
    n = points.shape[-2]
    if any(not -n <= i < n for i in index):
        raise ValueError(f"root index {root} is out of range for {n} joints.")
    return points - points[..., index, :].mean(-2, keepdim=True)


def _joint_distances(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(..., J, 3) x2 -> (..., J) Euclidean distances in metres."""
    return torch.linalg.vector_norm(pred - target, dim=-1)


def mpjpe(pred: torch.Tensor, target: torch.Tensor, root: Root = None) -> torch.Tensor:
    """Mean per-joint position error, MPJPE = 1/J sum_j ||p_j - g_j||, in mm (CLIFF Sec. 4, PRoM Sec. 5).

    Human3.6M "Protocol #1" and the 3DPW/MPI-INF-3DHP MPJPE of the papers use ``root`` = pelvis.

    Args:
        pred: (..., J, 3) predicted joints, metres.
        target: (..., J, 3) ground-truth joints, metres.
        root: joint index (or indices, averaged) to centre both sets on first; None = as given.

    Returns:
        (...,) MPJPE per sample, millimetres.
    """
    _check_same_shape(pred, target, "mpjpe", "(..., J, 3)", (None, 3))
    return _joint_distances(_root_centre(pred, root), _root_centre(target, root)).mean(-1) * MM_PER_M


def pa_mpjpe(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Procrustes-aligned MPJPE (Human3.6M "Protocol #2", reconstruction error), in mm.

    The prediction is first moved by the least-squares similarity transform (scale, rotation,
    translation; :func:`posebook.geometry.procrustes.similarity_align`) onto the target, per sample
    (CLIFF Sec. 4: "eliminating the discrepancies in scale and global rotation"). Translation is part
    of the alignment, so no root-centring is needed.

    Args:
        pred: (..., J, 3) predicted joints, metres.
        target: (..., J, 3) ground-truth joints, metres.

    Returns:
        (...,) PA-MPJPE per sample, millimetres.
    """
    _check_same_shape(pred, target, "pa_mpjpe", "(..., J, 3)", (None, 3))
    aligned, _, _, _ = similarity_align(pred, target)
    return _joint_distances(aligned, target).mean(-1) * MM_PER_M


def n_mpjpe(pred: torch.Tensor, target: torch.Tensor, root: Root = None) -> torch.Tensor:
    """Scale-normalised MPJPE (N-MPJPE, Rhodin et al. 2018; ZeDO supp. Tables 10-11), in mm.

    After optional root-centring, the prediction is multiplied by the least-squares scale
    s = <pred, target> / <pred, pred> (no rotation, no translation), then MPJPE is measured
    (the VideoPose3D/ElePose ``n_mpjpe``). An all-zero prediction gets s = 0.

    Args:
        pred: (..., J, 3) predicted joints, metres.
        target: (..., J, 3) ground-truth joints, metres.
        root: joint index (or indices) to centre both sets on first; the benchmarks use the pelvis.

    Returns:
        (...,) N-MPJPE per sample, millimetres.
    """
    _check_same_shape(pred, target, "n_mpjpe", "(..., J, 3)", (None, 3))
    pred, target = _root_centre(pred, root), _root_centre(target, root)
    num = (pred * target).sum((-2, -1))
    den = (pred * pred).sum((-2, -1))
    zero = den == 0
    scale = torch.where(zero, torch.zeros_like(num), num / torch.where(zero, torch.ones_like(den), den))
    return _joint_distances(scale[..., None, None] * pred, target).mean(-1) * MM_PER_M


def pve(
    pred_vertices: torch.Tensor,
    target_vertices: torch.Tensor,
    pred_root: torch.Tensor | None = None,
    target_root: torch.Tensor | None = None,
) -> torch.Tensor:
    """Per-vertex error, PVE (MPVPE/MVE) = 1/V sum_v ||v_pred - v_gt||, in mm (CLIFF Sec. 4).

    CLIFF: PVE "does the same alignment as MPJPE at first", i.e. each mesh is translated so that its
    own pelvis joint (regressed from that mesh) is at the origin; pass those pelvis positions as
    ``pred_root`` and ``target_root``. Leave both None to measure the vertices as given.

    Args:
        pred_vertices: (..., V, 3) predicted mesh vertices, metres.
        target_vertices: (..., V, 3) ground-truth mesh vertices, metres.
        pred_root: optional (..., 3) point subtracted from every predicted vertex (its pelvis).
        target_root: optional (..., 3) point subtracted from every ground-truth vertex.

    Returns:
        (...,) PVE per sample, millimetres.
    """
    _check_same_shape(pred_vertices, target_vertices, "pve", "(..., V, 3)", (None, 3))
    if (pred_root is None) != (target_root is None):
        raise ValueError(
            "pve: give both pred_root and target_root (root alignment of both meshes) or neither."
        )
    if pred_root is not None:
        batch = pred_vertices.shape[:-2] + (3,)
        if pred_root.shape != batch or target_root.shape != batch:
            raise ValueError(
                f"pve: pred_root/target_root must have shape {tuple(batch)} (one 3D point per mesh); got "
                f"{tuple(pred_root.shape)} and {tuple(target_root.shape)}."
            )
        pred_vertices = pred_vertices - pred_root[..., None, :]
        target_vertices = target_vertices - target_root[..., None, :]
    return _joint_distances(pred_vertices, target_vertices).mean(-1) * MM_PER_M


def pa_pve(pred_vertices: torch.Tensor, target_vertices: torch.Tensor) -> torch.Tensor:
    """Procrustes-aligned per-vertex error (PA-MPVPE, FreiHAND; PRoM Table 1), in mm.

    The similarity transform is fitted on the vertices themselves, then PVE is measured.

    Args:
        pred_vertices: (..., V, 3) predicted mesh vertices, metres.
        target_vertices: (..., V, 3) ground-truth mesh vertices, metres.

    Returns:
        (...,) PA-PVE per sample, millimetres.
    """
    _check_same_shape(pred_vertices, target_vertices, "pa_pve", "(..., V, 3)", (None, 3))
    aligned, _, _, _ = similarity_align(pred_vertices, target_vertices)
    return _joint_distances(aligned, target_vertices).mean(-1) * MM_PER_M


def _pck_curve(distances: torch.Tensor, thresholds: torch.Tensor) -> torch.Tensor:
    """(..., J) distances, (K,) thresholds -> (..., K) percentage of joints with distance < threshold.

    A sample with a non-finite distance (NaN or inf input) gets NaN, not "that joint is wrong"."""
    # Strict "<" as in the MPI-INF-3DHP evaluation script (and ZeDO/PoseAug ports of it).
    correct = distances[..., None, :] < thresholds[:, None]
    pct = correct.to(distances.dtype).mean(-1) * 100.0
    finite = torch.isfinite(distances).all(-1, keepdim=True)
    return torch.where(finite, pct, torch.full_like(pct, float("nan")))


def pck(
    pred: torch.Tensor, target: torch.Tensor, threshold: float = PCK_THRESHOLD_M, root: Root = None
) -> torch.Tensor:
    """3DPCK: percentage of joints with ||p_j - g_j|| < threshold (Mehta et al. 2017, MPI-INF-3DHP).

    MPI-INF-3DHP convention (ZeDO Table 3, PersPose Table 1): threshold 150 mm, root(pelvis)-aligned
    joints, no Procrustes alignment, strict inequality (a joint exactly at the threshold is wrong).

    Args:
        pred: (..., J, 3) predicted joints, metres.
        target: (..., J, 3) ground-truth joints, metres.
        threshold: distance threshold in metres (default 0.15 m = 150 mm).
        root: joint index (or indices) to centre both sets on first; the benchmark uses the pelvis.

    Returns:
        (...,) PCK per sample, percent in [0, 100]. With equal J per sample its mean over samples equals
        the pooled fraction of correct joints. NaN for a sample with a NaN/inf coordinate.
    """
    _check_same_shape(pred, target, "pck", "(..., J, 3)", (None, 3))
    distances = _joint_distances(_root_centre(pred, root), _root_centre(target, root))
    return _pck_curve(distances, distances.new_tensor([threshold]))[..., 0]


def auc(
    pred: torch.Tensor,
    target: torch.Tensor,
    thresholds: Sequence[float] | torch.Tensor = AUC_THRESHOLDS_M,
    root: Root = None,
) -> torch.Tensor:
    """Area under the 3DPCK curve, as the MEAN of PCK over the thresholds, in percent.

    MPI-INF-3DHP convention (Mehta et al. 2017; ZeDO Table 3, PersPose Table 1): thresholds 0, 5, ...,
    150 mm (31 values), strict "<". Because the 0 mm threshold never counts a joint as correct
    (error < 0 is impossible), the largest attainable AUC is 30/31 = 96.77 %, even for a perfect
    prediction.

    Args:
        pred: (..., J, 3) predicted joints, metres.
        target: (..., J, 3) ground-truth joints, metres.
        thresholds: (K,) thresholds in metres (default 0:0.005:0.15).
        root: joint index (or indices) to centre both sets on first; the benchmark uses the pelvis.

    Returns:
        (...,) AUC per sample, percent; NaN for a sample with a NaN/inf coordinate.
    """
    _check_same_shape(pred, target, "auc", "(..., J, 3)", (None, 3))
    distances = _joint_distances(_root_centre(pred, root), _root_centre(target, root))
    thr = torch.as_tensor(thresholds, dtype=distances.dtype, device=distances.device).reshape(-1)
    if thr.numel() == 0:
        raise ValueError("auc: thresholds must contain at least one value.")
    return _pck_curve(distances, thr).mean(-1)


def angle_error(R_pred: torch.Tensor, R_target: torch.Tensor, *, check: bool = True) -> torch.Tensor:
    """Geodesic angle between predicted and true rotations, in degrees (PRoM Table 2a; per joint of MPJAE).

    theta = angle(R_pred^T R_target) in [0, 180], computed by
    :func:`posebook.geometry.rotations.geodesic_distance` with the atan2 form, which stays accurate
    near 0 and 180 degrees where arccos of the (clamped) trace loses half the float digits, and is
    never NaN for finite matrices. A NaN or inf entry in either matrix gives NaN for that pair.

    Args:
        R_pred: (..., 3, 3) predicted rotation matrices.
        R_target: (..., 3, 3) ground-truth rotation matrices.
        check: refuse matrices that are not rotations (ValueError naming the worst one); False in
            training loops whose outputs are rotations by construction (no GPU sync).

    Returns:
        (...,) angles in degrees.
    """
    _check_same_shape(R_pred, R_target, "angle_error", "(..., 3, 3)", (3, 3))
    return torch.rad2deg(geodesic_distance(R_pred, R_target, check=check))


def mpjae(R_pred: torch.Tensor, R_target: torch.Tensor, *, check: bool = True) -> torch.Tensor:
    """Mean per-joint angle error, MPJAE = 1/J sum_j angle(R_pred,j R_gt,j^T), in degrees (SGRE Table 4).

    The 3DPW evaluation script compares GLOBAL joint rotations (composed along the kinematic tree) of
    the SMPL joints [0, 1, 2, 4, 5, 16, 17, 18, 19] (pelvis, hips, knees, shoulders, elbows); its
    PA variant first left-multiplies the predictions by the Procrustes rotation fitted on the joint
    positions, i.e. ``mpjae(R_pa[..., None, :, :] @ R_pred, R_target)`` with ``R_pa`` from
    :func:`posebook.geometry.procrustes.similarity_align`. SGRE (Table 4) does not say which joints.

    Args:
        R_pred: (..., J, 3, 3) predicted joint rotation matrices.
        R_target: (..., J, 3, 3) ground-truth joint rotation matrices.
        check: as in :func:`angle_error`.

    Returns:
        (...,) MPJAE per sample, degrees.
    """
    _check_same_shape(R_pred, R_target, "mpjae", "(..., J, 3, 3)", (None, 3, 3))
    return angle_error(R_pred, R_target, check=check).mean(-1)


def _check_hypotheses(pred_hyps: torch.Tensor, target: torch.Tensor, what: str) -> None:
    if pred_hyps.ndim != target.ndim + 1 or pred_hyps.shape[:-3] + pred_hyps.shape[-2:] != target.shape:
        raise ValueError(
            f"{what}: expected pred_hyps (..., S, J, 3) and target (..., J, 3) with the same leading dims; "
            f"got {tuple(pred_hyps.shape)} and {tuple(target.shape)}."
        )
    if target.ndim < 2 or target.shape[-1] != 3 or pred_hyps.shape[-3] == 0:
        raise ValueError(
            f"{what}: need at least one hypothesis of (J, 3) joints; got {tuple(pred_hyps.shape)}."
        )


def _nan_unless_all_finite(per_hyp: torch.Tensor) -> torch.Tensor:
    """(..., S) errors -> the same, all NaN in a sample where one hypothesis error is NaN or inf
    (``amin`` would otherwise skip an infinite one and return the best of the rest)."""
    finite = torch.isfinite(per_hyp).all(-1, keepdim=True)
    return torch.where(finite, per_hyp, torch.full_like(per_hyp, float("nan")))


def min_mpjpe(pred_hyps: torch.Tensor, target: torch.Tensor, root: Root = None) -> torch.Tensor:
    """Best-of-S MPJPE, minMPJPE = min_s MPJPE(p^(s), g), in mm (ZeDO Sec. 4, following GFPose).

    ZeDO runs S hypotheses (initial poses) per sample and reports, per sample, the MPJPE of the
    hypothesis closest to the ground truth, averaged over samples (``eval_multi`` in the official code).
    The official code reports PCK/AUC for S > 1 on that same best-MPJPE hypothesis; its index is
    ``mpjpe(pred_hyps, target[..., None, :, :].expand_as(pred_hyps), root).argmin(-1)``.

    Args:
        pred_hyps: (..., S, J, 3) S predicted hypotheses per sample, metres.
        target: (..., J, 3) ground-truth joints, metres.
        root: joint index (or indices) to centre every hypothesis and the target on first.

    Returns:
        (...,) minMPJPE per sample, millimetres; NaN if any hypothesis (or the target) holds a NaN/inf.
    """
    _check_hypotheses(pred_hyps, target, "min_mpjpe")
    per_hyp = mpjpe(pred_hyps, target[..., None, :, :].expand_as(pred_hyps), root=root)
    return _nan_unless_all_finite(per_hyp).amin(-1)


def min_pa_mpjpe(pred_hyps: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Best-of-S PA-MPJPE = min_s PA-MPJPE(p^(s), g), in mm (ZeDO Tables 2, 4, 6, 9 with S > 1).

    The minimum is taken independently of :func:`min_mpjpe`: the official ZeDO evaluation
    (``eval_multi(protocol2=True)``) Procrustes-aligns every hypothesis and keeps the smallest error,
    so the hypothesis chosen for PA-MPJPE may differ from the one chosen for MPJPE.

    Args:
        pred_hyps: (..., S, J, 3) S predicted hypotheses per sample, metres.
        target: (..., J, 3) ground-truth joints, metres.

    Returns:
        (...,) min-PA-MPJPE per sample, millimetres; NaN if any hypothesis (or the target) holds a NaN/inf.
    """
    _check_hypotheses(pred_hyps, target, "min_pa_mpjpe")
    per_hyp = pa_mpjpe(pred_hyps, target[..., None, :, :].expand_as(pred_hyps))
    return _nan_unless_all_finite(per_hyp).amin(-1)


def accel_error(pred: torch.Tensor, target: torch.Tensor, root: Root = None) -> torch.Tensor:
    """Acceleration error per frame, in mm/frame^2 (HMMR, Kanazawa et al. 2019; VIBE; CLIFF supp. Table 1).

    a_t = x_{t-1} - 2 x_t + x_{t+1} (second finite difference, no division by the frame interval);
    error_t = 1/J sum_j ||a_t,j(pred) - a_t,j(gt)|| for the interior frames t = 1..T-2. Multiply by
    fps^2 to get mm/s^2. VIBE evaluates pelvis-centred joints (``root`` = pelvis / mid-hip).

    Args:
        pred: (..., T, J, 3) predicted joint trajectories, metres, consecutive frames.
        target: (..., T, J, 3) ground-truth joint trajectories, metres.
        root: joint index (or indices) to centre each frame on first; None = as given.

    Returns:
        (..., T-2) acceleration error per interior frame, millimetres per frame^2; average over all
        frames of all sequences for the reported number.
    """
    _check_same_shape(pred, target, "accel_error", "(..., T, J, 3)", (None, None, 3))
    if pred.shape[-3] < 3:
        raise ValueError(f"accel_error: need at least 3 frames on axis -3; got T={pred.shape[-3]}.")

    def second_difference(x: torch.Tensor) -> torch.Tensor:
        return x[..., :-2, :, :] - 2.0 * x[..., 1:-1, :, :] + x[..., 2:, :, :]

    accel_pred = second_difference(_root_centre(pred, root))
    accel_target = second_difference(_root_centre(target, root))
    return _joint_distances(accel_pred, accel_target).mean(-1) * MM_PER_M


def depth_error(pred_depth: torch.Tensor, target_depth: torch.Tensor, root: Root = None) -> torch.Tensor:
    """Relative-depth error ``1/J sum_j |d_j(pred) - d_j(gt)|``, in mm (PersPose Sec. 5.1, Table 2).

    PersPose: "the mean absolute difference between the estimated and ground-truth relative depths of
    joints", relative depth d_j = z_j - z_root (camera z, forward). Pass depths already relative to the
    root, or absolute z with ``root`` set to subtract the root's depth from each set.

    Args:
        pred_depth: (..., J) predicted depths (camera z), metres; for 3D joints pass ``joints[..., 2]``.
        target_depth: (..., J) ground-truth depths, metres.
        root: joint index (or indices, averaged) whose depth is subtracted from both; None = as given.

    Returns:
        (...,) depth error per sample, millimetres.
    """
    _check_same_shape(pred_depth, target_depth, "depth_error", "(..., J)", (None,))
    if root is not None:
        pred_depth = _root_centre(pred_depth[..., None], root)[..., 0]
        target_depth = _root_centre(target_depth[..., None], root)[..., 0]
    return (pred_depth - target_depth).abs().mean(-1) * MM_PER_M
