"""Fixtures the body-regressor test modules share: the Anny body, a tiny procedural world and its
regression tensors, and a quick context on procedural poses with a world cache of the test's own.

Import the ones a module uses (``from fixtures_bodies import body, data, ...``); pytest finds
fixtures by name in the importing module.
"""

from __future__ import annotations

import pytest

from posebook.body.anny_skeleton import AnnySkeleton
from posebook.body.models import AnnyBody
from posebook.data.world import WorldConfig, build_world
from posebook.models import body_regressor as BR


@pytest.fixture(scope="module")
def body() -> AnnyBody:
    return AnnyBody()


@pytest.fixture(scope="module")
def skeleton(body) -> AnnySkeleton:
    return AnnySkeleton(body)


@pytest.fixture(scope="module")
def world(body, tmp_path_factory):
    config = WorldConfig(size=48, seed=3, source="procedural", joint_sets=("cmu31", "h36m17"), render=False)
    return build_world(config, cache_dir=tmp_path_factory.mktemp("world"), progress=False, body=body)


@pytest.fixture(scope="module")
def data(world) -> BR.RegressionData:
    return BR.RegressionData.from_world(world, "cmu31", "cmu31")


@pytest.fixture
def tiny_env(monkeypatch, tmp_path):
    """Procedural poses (no CMU directory) and a world cache of this test's own."""
    monkeypatch.delenv("POSEBOOK_CMU_DIR", raising=False)
    monkeypatch.setenv("POSEBOOK_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def tiny_ctx(tiny_env):
    """A quick-profile context on the CPU, seed 0, in :func:`tiny_env`."""
    from posebook.runs import make_context

    return make_context("quick", device="cpu", seed=0)
