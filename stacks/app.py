"""Build a CDK Terrain App holding one stack per requested environment, and synthesize it.

The entry point chooses the environments (infra/synth.py); nothing here reads files or variables.
"""

from __future__ import annotations

from pathlib import Path

from cdktn import App

from infra.config import Environment
from stacks.environment_stack import EnvironmentStack


def build_app(envs: list[Environment], outdir: Path, *, backend: bool = True) -> App:
    """An App with one EnvironmentStack per environment, writing to `outdir` when synthesized."""
    app = App(outdir=str(outdir), skip_validation=False)
    for env in envs:
        EnvironmentStack(app, config=env, backend=backend)
    return app


def synth(envs: list[Environment], outdir: Path, *, backend: bool = True) -> None:
    """Write `outdir`/stacks/<stack>/cdk.tf.json for every environment."""
    build_app(envs, outdir, backend=backend).synth()
