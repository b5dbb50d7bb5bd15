"""The pseudo-GT annotators: EFT's mapped per-example fine-tuning equals fine-tuning each example alone,
the fitting reduces the 2D error and its prior holds it back, the CLIFF annotator leaves its pretrained
model alone."""

from __future__ import annotations

import copy

import pytest
import torch

from posebook.data.image_sets import build_image_set
from posebook.data.world import WorldConfig
from posebook.experiments.cliff.common import build_model, skeleton
from posebook.models import cliff as cliff_model
from posebook.models.hmr import crop_camera, mean_parameters
from posebook.optim import annotators as A
from posebook.optim.trainer import TrainSettings

pytestmark = pytest.mark.slow

SIZES = dict(backbone="small", width=8, hidden=32)
VARIANT = cliff_model.VARIANTS["cliff"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    images = build_image_set(WorldConfig(size=6, seed=3, source="procedural", crop_size=32, render=False,
                                         joint_sets=("cmu31", "h36m17")),
                             cache_dir=tmp_path_factory.mktemp("cache"))
    targets = cliff_model.ImageTargets.from_world(images.world, images.images)
    cam = crop_camera(targets.root, targets.K, targets.bbox_center, targets.bbox_size)
    model = build_model(SIZES, VARIANT, mean_parameters(targets.rotations, targets.shape, cam), 0, torch.device("cpu"))
    return targets, model, skeleton(torch.device("cpu"))


def _error(sk, out, targets) -> torch.Tensor:
    joints = cliff_model.posed_joints(sk, out.rotations, out.shape)
    return cliff_model.reprojection_error(joints, out.cam, targets, "full").square().mean(dim=(1, 2))


def test_eft_mapped_equals_each_example_alone(setup):
    targets, model, sk = setup
    mapped = A.eft_annotator(model, targets, VARIANT, sk, steps=3, lr=1e-3, chunk=4)
    for i in (0, 5):  # the second chunk too
        alone = copy.deepcopy(model).eval()
        one = targets.take(torch.tensor([i]))
        opt = torch.optim.Adam(alone.parameters(), lr=1e-3)
        for _ in range(3):
            out = alone(one.images, cliff_model.bbox_input(VARIANT, one))
            loss = A.KEYPOINT_WEIGHT * _error(sk, out, one).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            final = alone(one.images, cliff_model.bbox_input(VARIANT, one))
        torch.testing.assert_close(mapped.raw[i], final.raw[0], atol=1e-5, rtol=1e-4)
    start = cliff_model.predict(model, targets, VARIANT)
    assert float(_error(sk, mapped, targets).mean()) < float(_error(sk, start, targets).mean())


def test_fitting_fits_the_2d_and_its_prior_holds_it(setup):
    targets, model, sk = setup
    init = cliff_model.predict(model, targets, VARIANT)
    free = A.fitting_annotator(init, targets, sk, steps=60, lr=1e-2, prior_weight=0.0)
    held = A.fitting_annotator(init, targets, sk, steps=60, lr=1e-2, prior_weight=1e4)
    assert float(_error(sk, free, targets).mean()) < 0.5 * float(_error(sk, init, targets).mean())
    moved = lambda out: float((out.rotations - init.rotations).abs().mean())  # noqa: E731
    assert moved(held) < 0.2 * moved(free)
    with pytest.raises(ValueError, match="steps must be >= 1"):
        A.fitting_annotator(init, targets, sk, steps=0)


def test_regressor_annotator_returns_the_prior_and_leaves_the_model(setup):
    targets, model, sk = setup
    before = copy.deepcopy(model.state_dict())
    pseudo, prior, run = A.regressor_annotator(model, targets, VARIANT, sk, TrainSettings(steps=5, batch=4, lr=1e-3),
                                               seed=0)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])
    torch.testing.assert_close(prior.raw, cliff_model.predict(model, targets, VARIANT).raw)
    assert run.steps_done == 5 and not torch.equal(pseudo.raw, prior.raw)
