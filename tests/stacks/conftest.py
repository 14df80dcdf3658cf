"""Synthesis fixtures for the stack tests: every environment synthesized once per session.

Loading the provider bindings costs seconds per process, so dev, qa, prod and `prodcopy` (prod's file
under another name) are synthesized together, once, without the GCS backend.
"""

from __future__ import annotations

import os
import shutil

import pytest

from infra.config import load_environment
from infra.synth import synth_environments
from tests.stacks.stackkit import ENVIRONMENTS, GCP_ENVS, SynthStack, copy_environment

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory) -> dict[str, SynthStack]:
    """dev, qa, prod and prodcopy synthesized once (no backend) into a temporary cdktf.out."""
    folder = tmp_path_factory.mktemp("envs")
    envs = [load_environment(ENVIRONMENTS / f"{name}.yaml") for name in GCP_ENVS]
    envs.append(copy_environment("prod", "prodcopy", folder))
    outdir = tmp_path_factory.mktemp("synth") / "cdktf.out"
    results = synth_environments(envs, outdir, backend=False)
    yield {env.name: SynthStack(env, result.json_path) for env, result in zip(envs, results)}
    shutil.rmtree(outdir, ignore_errors=True)


@pytest.fixture(scope="session")
def prod(synthesized) -> SynthStack:
    return synthesized["prod"]


@pytest.fixture(scope="session")
def dev(synthesized) -> SynthStack:
    return synthesized["dev"]


@pytest.fixture(scope="session")
def qa(synthesized) -> SynthStack:
    return synthesized["qa"]


@pytest.fixture(params=GCP_ENVS)
def stack(request, synthesized) -> SynthStack:
    """Each GCP environment's stack in turn."""
    return synthesized[request.param]
