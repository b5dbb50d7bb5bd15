"""Tests for posebook.data.occlusion: each property against a slow per-sample reference."""

from __future__ import annotations

import math

import pytest
import torch

from posebook.data.occlusion import SHAPES, occlude

S, J = 64, 17


def _crops(n: int, seed: int = 0, device: str | torch.device = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """(n, S, S, 3) uint8 noise crops and (n, J, 2) keypoints, a few outside the crop or NaN."""
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, S, S, 3), generator=g, dtype=torch.uint8)
    keypoints = -8 + (S + 16) * torch.rand(n, J, 2, generator=g)
    keypoints[::3, 0] = float("nan")
    return images.to(device), keypoints.to(device)


def _inner(mask: torch.Tensor) -> torch.Tensor:
    """Pixels of a (S, S) mask whose 4 neighbours inside the crop are all in the mask (a loop)."""
    out = torch.zeros_like(mask)
    for i in range(S):
        for j in range(S):
            if mask[i, j]:
                nb = [(i + di, j + dj) for di, dj in ((-1, 0), (1, 0), (0, -1), (0, 1))]
                out[i, j] = all(bool(mask[a, b]) for a, b in nb if 0 <= a < S and 0 <= b < S)
    return out


def _moment_ratio(mask: torch.Tensor) -> float:
    """Area / sqrt(det covariance) of the pixel centres: 12 for a rectangle, 4 pi for an ellipse."""
    i, j = torch.nonzero(mask, as_tuple=True)
    pts = torch.stack([j, i], 1).double() + 0.5
    return float(mask.sum() / torch.det(torch.cov(pts.T)).sqrt())


def test_deterministic_for_a_seed_and_seed_dependent(device):
    images, keypoints = _crops(20, device=device)
    a, b, c = (occlude(images, keypoints, seed) for seed in (3, 3, 4))
    assert a.images.device == images.device and a.masks.device == images.device
    for name in ("images", "masks", "occluded", "coverage", "chosen"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name
    assert not torch.equal(a.masks, c.masks) and not torch.equal(a.images, c.images)


def test_leaves_global_rng_and_input_untouched():
    images, keypoints = _crops(4)
    before, copy = torch.random.get_rng_state(), images.clone()
    occlude(images, keypoints, 0)
    assert torch.equal(torch.random.get_rng_state(), before) and torch.equal(images, copy)


def test_masks_are_exactly_the_changed_pixels(device):
    images, keypoints = _crops(30, device=device)
    out = occlude(images, keypoints, 1)
    changed = (out.images != images).any(-1)
    assert torch.equal(changed, out.masks) and out.masks.any()
    # Occluding the occluded crops again paints the same fill over itself: the nudge must still
    # change every mask pixel (the texture does not depend on the image).
    again = occlude(out.images, keypoints, 1)
    assert torch.equal(again.masks, out.masks)
    assert torch.equal((again.images != out.images).any(-1), out.masks)
    assert (again.images.int() - out.images.int()).abs().max() == 1


def test_occluded_equals_keypoint_pixel_in_mask():
    images, keypoints = _crops(40)
    out = occlude(images, keypoints, 2)
    expected = torch.zeros(40, J, dtype=torch.bool)
    for n in range(40):
        for k in range(J):
            u, v = (float(t) for t in keypoints[n, k])
            if math.isfinite(u) and math.isfinite(v) and 0 <= u < S and 0 <= v < S:
                expected[n, k] = bool(out.masks[n, int(v), int(u)])  # pixel (floor v, floor u)
    assert torch.equal(out.occluded, expected) and expected.any()


def test_occluder_sits_on_an_in_crop_keypoint():
    images, keypoints = _crops(200)
    out = occlude(images, keypoints, 5)
    n = torch.arange(200)
    assert (out.chosen >= 0).all()
    kp = keypoints[n, out.chosen]
    assert ((kp >= 0) & (kp < S)).all()  # never a NaN or truncated keypoint
    assert out.occluded[n, out.chosen].all()
    # Unclipped occluders (none on the crop border): mask centroid = shape centre, within
    # half a half-axis (<= 0.2 S at area <= 0.25) of the keypoint.
    ii, jj = torch.meshgrid(torch.arange(S) + 0.5, torch.arange(S) + 0.5, indexing="ij")
    border = out.masks[:, 0].any(-1) | out.masks[:, -1].any(-1) | out.masks[:, :, 0].any(-1) | out.masks[:, :, -1].any(-1)
    area = out.masks.sum((1, 2))
    centroid = torch.stack([(out.masks * jj).sum((1, 2)), (out.masks * ii).sum((1, 2))], -1) / area[:, None]
    dist = (centroid - kp).norm(dim=-1)[~border]
    assert (~border).sum() > 20 and dist.max() < 0.2 * S


def test_no_keypoint_in_crop_places_it_at_the_centre():
    images, _ = _crops(6)
    keypoints = torch.full((6, J, 2), -5.0)
    out = occlude(images, keypoints, 0)
    assert (out.chosen == -1).all() and not out.occluded.any()
    assert out.masks[:, S // 2, S // 2].all()


@pytest.mark.parametrize("shape, lo, hi", [("rectangle", 11.6, 12.3), ("ellipse", 12.4, 12.7)])
def test_area_range_and_shape(shape, lo, hi):
    # Keypoints at the crop centre and areas <= 0.1: no occluder reaches the crop border.
    images = torch.full((100, S, S, 3), 100, dtype=torch.uint8)
    keypoints = torch.full((100, 1, 2), S / 2)
    out = occlude(images, keypoints, 7, area=(0.05, 0.1), shapes=(shape,))
    frac = out.masks.float().mean((1, 2))
    assert torch.allclose(out.coverage, frac)  # no person mask: fraction of the crop
    assert frac.min() > 0.05 - 0.005 and frac.max() < 0.1 + 0.005  # rasterisation at centres
    assert frac.min() < 0.06 and frac.max() > 0.09  # the range is used, not one size
    ratios = torch.tensor([_moment_ratio(m) for m in out.masks])
    assert lo < ratios.min() and ratios.max() < hi


def test_area_upper_bound_with_clipping():
    images, keypoints = _crops(100)
    frac = occlude(images, keypoints, 8).masks.float().mean((1, 2))
    assert frac.max() < 0.25 + 0.005 and frac.min() > 0  # clipping only removes pixels


def test_texture_is_not_flat_and_outline_is_darker():
    images = torch.full((40, S, S, 3), 128, dtype=torch.uint8)
    out = occlude(images, torch.full((40, 1, 2), S / 2), 9)
    for n in range(40):
        inner = _inner(out.masks[n])
        fill = out.images[n][inner].float()
        outline = out.images[n][out.masks[n] & ~inner].float()
        assert fill.std(0).max() > 10  # a pattern, not one colour
        assert outline.sum(-1).mean() < 0.75 * fill.sum(-1).mean()


def test_coverage_of_person_mask():
    images, keypoints = _crops(10)
    person = torch.zeros(10, S, S, dtype=torch.bool)
    person[:, 10:50, 20:44] = True
    person[9] = False  # an empty person mask: coverage 0
    out = occlude(images, keypoints, 10, person_mask=person)
    for n in range(10):
        total = int(person[n].sum())
        expected = 0.0 if total == 0 else int((out.masks[n] & person[n]).sum()) / total
        assert out.coverage[n].item() == pytest.approx(expected, abs=1e-6)


def test_batch_independence():
    images, keypoints = _crops(12)
    full = occlude(images, keypoints, 11)
    head = occlude(images[:5], keypoints[:5], 11)
    for name in ("images", "masks", "occluded", "coverage", "chosen"):
        assert torch.equal(getattr(full, name)[:5], getattr(head, name)), name
    # Another sample's image does not change sample 0's occluder.
    other = images.clone()
    other[3] = 255 - other[3]
    assert torch.equal(occlude(other, keypoints, 11).images[0], full.images[0])


@pytest.mark.parametrize("kwargs, match", [
    ({"images": "float"}, "uint8"),
    ({"images": "nonsquare"}, r"\(N, S, S, 3\)"),
    ({"images": "rgba"}, r"\(N, S, S, 3\)"),
    ({"keypoints": "count"}, "N=4"),
    ({"keypoints": "dim"}, r"\(N, J, 2\)"),
    ({"keypoints": "int"}, "floating"),
    ({"area": (0.0, 0.2)}, "area"),
    ({"area": (0.3, 0.2)}, "area"),
    ({"area": (0.1, 1.0)}, "area"),
    ({"shapes": ("rectangle", "triangle")}, r"shapes.*'rectangle', 'ellipse'"),
    ({"shapes": ()}, "shapes"),
    ({"person_mask": "float"}, "person_mask"),
    ({"person_mask": "shape"}, "person_mask"),
])
def test_bad_input_raises(kwargs, match):
    images, keypoints = _crops(4)
    bad = {
        "float": images.float(), "nonsquare": images[:, :, :60], "rgba": torch.cat([images, images[..., :1]], -1),
    }
    kp_bad = {"count": keypoints[:3], "dim": keypoints[..., :1], "int": keypoints.long()}
    pm_bad = {"float": torch.zeros(4, S, S), "shape": torch.zeros(4, S, S - 1, dtype=torch.bool)}
    args = {"images": images, "keypoints": keypoints}
    extra = {}
    for key, value in kwargs.items():
        if key == "images":
            args["images"] = bad[value]
        elif key == "keypoints":
            args["keypoints"] = kp_bad[value]
        elif key == "person_mask":
            extra["person_mask"] = pm_bad[value]
        else:
            extra[key] = value
    with pytest.raises(ValueError, match=match):
        occlude(args["images"], args["keypoints"], 0, **extra)


def test_shapes_constant():
    assert SHAPES == ("rectangle", "ellipse")
    out = occlude(*_crops(3), 0, shapes="ellipse")  # one name alone is one shape
    assert out.masks.any()


def test_empty_batch():
    out = occlude(torch.zeros(0, S, S, 3, dtype=torch.uint8), torch.zeros(0, J, 2), 0)
    assert out.images.shape == (0, S, S, 3) and out.occluded.shape == (0, J) and out.coverage.shape == (0,)
