"""Anny's rest skeleton as a function of its phenotypes, forward kinematics on it, and linear blend
skinning of a fixed subset of its mesh vertices.

Relies on anny 0.6's private ``_get_phenotype_blendshape_coefficients`` (its phenotype ->
blend-shape coefficient map; no public equivalent), hence the ``anny<0.7`` bound in pyproject.
"""

from __future__ import annotations

from typing import Optional

import torch

from posebook.body import joints as joint_sets
from posebook.body import kinematics
from posebook.geometry.points import farthest_point_indices

__all__ = ["NUM_ROTATIONS", "NUM_SHAPE", "AnnySkeleton"]

#: Relative rotations of Anny's ``cmu_mb`` rig (the 31 CMU bones).
NUM_ROTATIONS = 31
#: Anny phenotypes: gender, age, muscle, weight, height, proportions.
NUM_SHAPE = 6


class AnnySkeleton(torch.nn.Module):
    """Anny's rest skeleton as a function of the phenotypes, forward kinematics on it, and skinning of
    a vertex subset.

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

    Vertex subset (``num_vertices > 0``, for the mesh term L_ele(Y_M) of PRoM Eq. 36): ``num_vertices``
    mesh vertices spread evenly over the rest mesh of the mean phenotype (farthest-point sampling,
    :func:`~posebook.geometry.points.farthest_point_indices`; :attr:`vertex_indices`). Anny's rest
    vertices are linear in the same blend-shape coefficients, so their rows at the 360 corners are
    interpolated like the bones; :meth:`vertices` then skins them by Anny's linear blend skinning,
    ``v_s = sum_j w_sj (G_j (r_s - h_j) + p_j)`` (rest vertex r_s, rest head h_j, posed head p_j,
    global rotation G_j, the rows of Anny's skinning weights for the subset), which equals
    ``AnnyBody(...).vertices[:, vertex_indices]`` (``tests/test_prom_body_fidelity.py``) at a cost of
    ~S/13718 of the full mesh.

    Args:
        body: an :class:`~posebook.body.models.AnnyBody` with the ``cmu_mb`` rig (y-up output frame);
            the corners take its device and dtype (``.to()`` moves them).
        num_vertices: S mesh vertices to skin (0: none; :meth:`vertices` then raises).
    """

    def __init__(self, body: torch.nn.Module, *, num_vertices: int = 0) -> None:
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
            if num_vertices < 0:
                raise ValueError(f"num_vertices must be >= 0, got {num_vertices}")
            index = torch.zeros(0, dtype=torch.long, device=axes.device)
            if num_vertices:
                # spread over the mean phenotype's rest mesh (the grid corner nearest to 0.5 everywhere
                # would do as well; the mean is what anny's default body looks like)
                mean = grid.new_full((1, NUM_SHAPE), 0.5)
                mean_coeffs = model._get_phenotype_blendshape_coefficients(
                    mean, mean.new_zeros(1, len(model.local_change_labels)),
                    mean.new_zeros(1, len(model.facial_action_labels)))
                rest = model.get_rest_vertices(mean_coeffs)[0]
                index = farthest_point_indices(rest, int(num_vertices), start=0)
            # blend shapes are linear: their rows for the subset give the subset's rest vertices
            vertices = model.template_vertices[index] + torch.einsum(
                "cvd,bc->bvd", model.blendshapes[:, index], coeffs)
        self.register_buffer("vertex_indices", index)
        self.register_buffer("vertex_corners", vertices @ axes.T)  # (C, S, 3)
        self.register_buffer("vertex_weights", body.skinning_weights[index].to(axes.dtype))  # (S, 31)

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
        points = self._interpolate(self.corners, shape)
        return points[..., :NUM_ROTATIONS, :], points[..., NUM_ROTATIONS:, :]

    def _interpolate(self, corners: torch.Tensor, shape: torch.Tensor) -> torch.Tensor:
        """(C, P, 3) values at the anchor-grid corners -> (..., P, 3) at the phenotypes ``shape``
        (tensor-product hat weights, anny's clamping), on the corners' device, in ``shape``'s dtype."""
        from anny.utils.interpolation import linear_interpolation_coefficients

        if shape.shape[-1] != NUM_SHAPE:
            raise ValueError(f"shape must be (..., {NUM_SHAPE}) Anny phenotypes, got {tuple(shape.shape)}")
        phen = shape.reshape(-1, NUM_SHAPE).to(device=corners.device, dtype=corners.dtype)
        weights = None
        for k, anchors in enumerate(self._anchors()):
            w = linear_interpolation_coefficients(phen[:, k], anchors, extrapolate=self.extrapolate)
            weights = w if weights is None else (weights[:, :, None] * w[:, None, :]).flatten(1)
        return (weights @ corners.flatten(1)).reshape(*shape.shape[:-1], corners.shape[1], 3).to(shape.dtype)

    def offsets(self, shape: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(..., 31, 3) rest offsets ``head[j] - head[pa(j)]`` (``[..., 0] = 0``, as
        ``AnnyBody.rest_offsets``) and (..., 31, 3) tail offsets ``tail[j] - head[j]``."""
        heads, tails = self.rest_points(shape)
        return self._parent_offsets(heads), tails - heads

    def _parent_offsets(self, heads: torch.Tensor) -> torch.Tensor:
        parent = torch.tensor(self.parents[1:], device=heads.device)
        return torch.cat([torch.zeros_like(heads[..., :1, :]), heads[..., 1:, :] - heads[..., parent, :]], dim=-2)

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
        heads, tails, _ = self.pose(rotations, shape, translation)
        return heads, tails

    @property
    def num_vertices(self) -> int:
        """S, the size of the skinned vertex subset."""
        return int(self.vertex_indices.shape[0])

    def pose(self, rotations: torch.Tensor, shape: torch.Tensor, translation: Optional[torch.Tensor] = None,
             with_vertices: bool = False) -> tuple[torch.Tensor, torch.Tensor, Optional[torch.Tensor]]:
        """Posed bone heads, tails and (``with_vertices``) the skinned vertex subset, one forward
        kinematics pass for all three; arguments as :meth:`forward`.

        Returns:
            heads, tails: (..., 31, 3); vertices: (..., S, 3) (PRoM Eq. 36's Y_M on the subset,
            :attr:`vertex_indices` of ``AnnyBody``'s mesh) or None.
        """
        shape = shape.to(rotations.dtype)
        heads_rest, tails_rest = self.rest_points(shape)
        heads_rest, tails_rest = heads_rest.to(rotations.device), tails_rest.to(rotations.device)
        heads, G = kinematics.forward_kinematics(rotations, self._parent_offsets(heads_rest), self.parents,
                                                 translation)
        tails = heads + (G @ (tails_rest - heads_rest)[..., None]).squeeze(-1)
        if not with_vertices:
            return heads, tails, None
        if not self.num_vertices:
            raise ValueError("this AnnySkeleton skins no vertices: build it with AnnySkeleton(body, num_vertices=S)")
        rest = self._interpolate(self.vertex_corners, shape).to(rotations.device)  # (..., S, 3)
        w = self.vertex_weights.to(device=rotations.device, dtype=rotations.dtype)  # (S, 31)
        # sum_j w_sj (G_j (r_s - h_j) + p_j) = (sum_j w_sj G_j) r_s + sum_j w_sj (p_j - G_j h_j)
        blend = torch.einsum("sj,...jab->...sab", w, G)
        shift = heads - (G @ heads_rest[..., None]).squeeze(-1)
        vertices = (blend @ rest[..., None]).squeeze(-1) + torch.einsum("sj,...jd->...sd", w, shift)
        return heads, tails, vertices

    def vertices(self, rotations: torch.Tensor, shape: torch.Tensor,
                 translation: Optional[torch.Tensor] = None) -> torch.Tensor:
        """(..., S, 3) the skinned vertex subset (``AnnyBody(...).vertices[..., vertex_indices, :]``);
        arguments as :meth:`forward`."""
        return self.pose(rotations, shape, translation, with_vertices=True)[2]

    def joints(self, rotations: torch.Tensor, shape: torch.Tensor, joint_set: str,
               translation: Optional[torch.Tensor] = None) -> torch.Tensor:
        """(..., J, 3) the joints of ``joint_set`` (one built on bone heads/tails: cmu31, h36m17,
        lsp14, smpl24; coco17 needs the mesh) by forward kinematics; arguments as :meth:`forward`."""
        if joint_sets.joint_set(joint_set).needs_vertices:
            raise ValueError(f"joint set {joint_set!r} is regressed from mesh vertices; forward kinematics "
                             "gives bone heads and tails only: use cmu31, h36m17, lsp14 or smpl24")
        heads, tails = self(rotations, shape, translation)
        return joint_sets.convert_joints(heads, joint_set, tails=tails)

    def joints_and_vertices(self, rotations: torch.Tensor, shape: torch.Tensor, joint_set: str,
                            translation: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(..., J, 3) joints of ``joint_set`` and (..., S, 3) the skinned vertex subset, from one
        forward kinematics pass (the body regressor's L_Y of PRoM Eq. 36)."""
        if joint_sets.joint_set(joint_set).needs_vertices:
            raise ValueError(f"joint set {joint_set!r} is regressed from mesh vertices; use cmu31, h36m17, lsp14 "
                             "or smpl24")
        heads, tails, vertices = self.pose(rotations, shape, translation, with_vertices=True)
        return joint_sets.convert_joints(heads, joint_set, tails=tails), vertices
