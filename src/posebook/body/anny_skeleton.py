"""Anny's rest skeleton as a function of its phenotypes, and forward kinematics on it (no skinning).

Relies on anny 0.6's private ``_get_phenotype_blendshape_coefficients`` (its phenotype ->
blend-shape coefficient map; no public equivalent), hence the ``anny<0.7`` bound in pyproject.
"""

from __future__ import annotations

from typing import Optional

import torch

from posebook.body import joints as joint_sets
from posebook.body import kinematics

__all__ = ["NUM_ROTATIONS", "NUM_SHAPE", "AnnySkeleton"]

#: Relative rotations of Anny's ``cmu_mb`` rig (the 31 CMU bones).
NUM_ROTATIONS = 31
#: Anny phenotypes: gender, age, muscle, weight, height, proportions.
NUM_SHAPE = 6


class AnnySkeleton(torch.nn.Module):
    """Anny's rest skeleton as a function of the phenotypes, and forward kinematics on it (no skinning).

    Anny's rest bone heads and tails are linear in its blend-shape coefficients
    (``template + sum_c coeff_c * blendshape_c``, anny's ``get_rest_model``), and every coefficient
    is a product of per-phenotype piecewise-linear "hat" weights on fixed anchors (anny's
    ``phenotype_blendshape_weights``: age 5 anchors, gender 2, muscle 3, weight 3, height 2,
    proportions 2). So the rest skeleton is multilinear in each cell of the anchor grid, and
    tensor-product interpolation of its values at the 360 grid corners reproduces it exactly. The
    corners are computed once by anny's own phenotype -> coefficient map (the path
    ``AnnyBody.forward`` takes); afterwards a rest skeleton costs a (B, 360) x (360, 62 * 3) product,
    instead of anny's coefficient map (~1 ms per sample with its backward) or a skinned mesh
    (``AnnyBody.rest_offsets``: ~5 ms per sample) on this CPU. ``tests/test_prom_bodies.py`` checks
    heads, tails and posed joints against ``AnnyBody``.

    Posed bone ``j``: head from :func:`posebook.body.kinematics.forward_kinematics` on the rest
    offsets, tail = head + ``G_j (rest_tail_j - rest_head_j)`` with ``G_j`` its global rotation (the
    tail is rigid in the bone's frame). Works with any 3x3 matrices, orthogonal or not (PRoM feeds
    pseudo rotation matrices to h).

    Args:
        body: an :class:`~posebook.body.models.AnnyBody` with the ``cmu_mb`` rig (y-up output frame);
            the corners take its device and dtype (``.to()`` moves them).
    """

    def __init__(self, body: torch.nn.Module) -> None:
        super().__init__()
        if tuple(getattr(body, "joint_names", ())) != joint_sets.ANNY_CMU_MB:
            raise ValueError("AnnySkeleton needs an AnnyBody with the 'cmu_mb' rig (the 31 CMU bones): "
                             "AnnyBody(rig='cmu_mb')")
        model, axes = body.model, body.axes
        self.parents: list[int] = list(body.parents)
        self.extrapolate = bool(model.extrapolate_phenotypes)
        anchors = [model.anchors[name].detach() for name in body.shape_names]
        for k, a in enumerate(anchors):
            self.register_buffer(f"anchors_{k}", a.clone())
        with torch.no_grad():
            grid = torch.cartesian_prod(*anchors)  # (C, 6), last phenotype varying fastest
            coeffs = model._get_phenotype_blendshape_coefficients(
                grid, grid.new_zeros(1, len(model.local_change_labels)),
                grid.new_zeros(1, len(model.facial_action_labels)))
            heads = model.template_bone_heads + torch.einsum("cpd,bc->bpd", model.bone_heads_blendshapes, coeffs)
            tails = model.template_bone_tails + torch.einsum("cpd,bc->bpd", model.bone_tails_blendshapes, coeffs)
        self.register_buffer("corners", torch.cat([heads, tails], dim=1) @ axes.T)  # (C, 62, 3)

    def _anchors(self) -> list[torch.Tensor]:
        return [getattr(self, f"anchors_{k}") for k in range(NUM_SHAPE)]

    def rest_points(self, shape: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Rest-pose bone heads and tails of the phenotypes ``shape`` (differentiable).

        Args:
            shape: (..., 6) phenotypes (``AnnyBody.shape_names`` order); clamped to anny's anchor
                range as anny does.
        Returns:
            heads, tails: (..., 31, 3) each, anny's native placement, y-up axes, metres; on the
            skeleton's device, in ``shape``'s dtype.
        """
        from anny.utils.interpolation import linear_interpolation_coefficients

        if shape.shape[-1] != NUM_SHAPE:
            raise ValueError(f"shape must be (..., {NUM_SHAPE}) Anny phenotypes, got {tuple(shape.shape)}")
        corners = self.corners
        phen = shape.reshape(-1, NUM_SHAPE).to(device=corners.device, dtype=corners.dtype)
        weights = None
        for k, anchors in enumerate(self._anchors()):
            w = linear_interpolation_coefficients(phen[:, k], anchors, extrapolate=self.extrapolate)
            weights = w if weights is None else (weights[:, :, None] * w[:, None, :]).flatten(1)
        points = (weights @ corners.flatten(1)).reshape(*shape.shape[:-1], 2 * NUM_ROTATIONS, 3).to(shape.dtype)
        return points[..., :NUM_ROTATIONS, :], points[..., NUM_ROTATIONS:, :]

    def offsets(self, shape: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(..., 31, 3) rest offsets ``head[j] - head[pa(j)]`` (``[..., 0] = 0``, as
        ``AnnyBody.rest_offsets``) and (..., 31, 3) tail offsets ``tail[j] - head[j]``."""
        heads, tails = self.rest_points(shape)
        parent = torch.tensor(self.parents[1:], device=heads.device)
        offsets = torch.cat([torch.zeros_like(heads[..., :1, :]),
                             heads[..., 1:, :] - heads[..., parent, :]], dim=-2)
        return offsets, tails - heads

    def forward(self, rotations: torch.Tensor, shape: torch.Tensor,
                translation: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Posed bone heads and tails by forward kinematics.

        Args:
            rotations: (..., 31, 3, 3) relative rotations (any 3x3 matrices), y-up model axes or
                camera axes alike (``[..., 0]`` = root orientation in that frame).
            shape: (..., 6) phenotypes, same leading dims.
            translation: (..., 3) root (Hips head) position, metres; None: the origin.
        Returns:
            heads, tails: (..., 31, 3), equal to ``AnnyBody(...).joints`` / ``.bone_tails``.
        """
        offsets, tail_offsets = self.offsets(shape.to(rotations.dtype))
        heads, G = kinematics.forward_kinematics(rotations, offsets.to(rotations.device),
                                                 self.parents, translation)
        tails = heads + (G @ tail_offsets.to(rotations.device)[..., None]).squeeze(-1)
        return heads, tails

    def joints(self, rotations: torch.Tensor, shape: torch.Tensor, joint_set: str,
               translation: Optional[torch.Tensor] = None) -> torch.Tensor:
        """(..., J, 3) the joints of ``joint_set`` (one built on bone heads/tails: cmu31, h36m17,
        lsp14, smpl24; coco17 needs the mesh) by forward kinematics; arguments as :meth:`forward`."""
        if joint_sets.joint_set(joint_set).needs_vertices:
            raise ValueError(f"joint set {joint_set!r} is regressed from mesh vertices; forward kinematics "
                             "gives bone heads and tails only: use cmu31, h36m17, lsp14 or smpl24")
        heads, tails = self(rotations, shape, translation)
        return joint_sets.convert_joints(heads, joint_set, tails=tails)
