"""dev, qa and prod rendered once per session with the real helm and the pinned chart."""

from __future__ import annotations

import pytest

from tests.k8s.kit import GCP_ENVS, Manifests, cleanup, render_into, require_helm_and_chart


@pytest.fixture(scope="session")
def rendered(tmp_path_factory) -> dict[str, Manifests]:
    require_helm_and_chart()
    outdir = tmp_path_factory.mktemp("k8s")
    yield render_into(GCP_ENVS, outdir)
    cleanup(outdir)


@pytest.fixture(params=GCP_ENVS)
def manifests(request, rendered) -> Manifests:
    return rendered[request.param]
