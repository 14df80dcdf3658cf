"""The synth cache: unchanged inputs are not synthesized again; any change is; failures write nothing."""

from __future__ import annotations

import pytest

from infra.errors import ConfigError
from infra.synth import synth_environments
from tests.stacks.stackkit import ROOT, copy_environment


@pytest.fixture
def envs(tmp_path):
    folder = tmp_path / "environments"
    folder.mkdir()
    return folder, [copy_environment("dev", "dev", folder), copy_environment("qa", "qa", folder)]


def _snapshot(outdir):
    return {p.relative_to(outdir): (p.stat().st_mtime_ns, p.stat().st_ino) for p in outdir.rglob("*") if p.is_file()}


def test_unchanged_resynth_is_served_from_cache(tmp_path, envs):
    _, environments = envs
    outdir = tmp_path / "cdktf.out"
    first = synth_environments(environments, outdir, backend=False)
    assert [r.cached for r in first] == [False, False]
    before = _snapshot(outdir)
    second = synth_environments(environments, outdir, backend=False)
    assert [r.cached for r in second] == [True, True]
    assert _snapshot(outdir) == before
    assert [r.resource_counts for r in second] == [r.resource_counts for r in first]


def test_changing_an_environment_file_resynthesizes_only_that_environment(tmp_path, envs):
    folder, (dev, qa) = envs
    outdir = tmp_path / "cdktf.out"
    synth_environments([dev, qa], outdir, backend=False)
    qa_before = (outdir / "stacks/qa/cdk.tf.json").stat().st_mtime_ns
    bigger = copy_environment("dev", "dev", folder, edit=lambda text: text.replace("max_nodes: 3", "max_nodes: 5"))
    results = synth_environments([bigger, qa], outdir, backend=False)
    assert [r.cached for r in results] == [False, True]
    assert '"max_node_count": 5' in (outdir / "stacks/dev/cdk.tf.json").read_text()
    assert (outdir / "stacks/qa/cdk.tf.json").stat().st_mtime_ns == qa_before
    assert set(__import__("json").loads((outdir / "manifest.json").read_text())["stacks"]) == {"dev", "qa"}


def test_the_backend_flag_is_part_of_the_cache_key(tmp_path, envs):
    _, (dev, _) = envs
    outdir = tmp_path / "cdktf.out"
    synth_environments([dev], outdir, backend=False)
    (result,) = synth_environments([dev], outdir, backend=True)
    assert result.cached is False
    assert '"backend"' in result.json_path.read_text()


def test_a_failing_synth_leaves_the_previous_output_untouched(tmp_path, envs, monkeypatch):
    import stacks.app

    folder, (dev, qa) = envs
    outdir = tmp_path / "cdktf.out"
    synth_environments([dev, qa], outdir, backend=False)
    before = _snapshot(outdir)
    real = stacks.app.synth

    def fails_after_the_first_stack(environments, staging, *, backend):
        real(environments[:1], staging, backend=backend)  # something is written, then synthesis breaks
        raise RuntimeError("synthesis failed")

    monkeypatch.setattr(stacks.app, "synth", fails_after_the_first_stack)
    changed_dev = copy_environment("dev", "dev", folder, edit=lambda text: text.replace("max_nodes: 3", "max_nodes: 4"))
    changed_qa = copy_environment("qa", "qa", folder, edit=lambda text: text.replace("max_nodes: 6", "max_nodes: 7"))
    with pytest.raises(RuntimeError, match="synthesis failed"):
        synth_environments([changed_dev, changed_qa], outdir, backend=False)
    assert _snapshot(outdir) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cdktf.out", "environments"]


def test_an_override_of_a_fixed_database_flag_is_refused_when_the_file_loads(tmp_path, envs):
    folder, _ = envs
    with pytest.raises(ConfigError, match=r"qa\.yaml: database\.flags\.log_connections: fixed by the platform"):
        copy_environment("qa", "qa", folder, edit=lambda t: t.replace("database:\n", 'database:\n  flags: {log_connections: "off"}\n'))


def test_the_model_refuses_exactly_the_flags_the_construct_fixes():
    from infra.config import FIXED_DATABASE_FLAGS
    from stacks.database import FIXED_FLAGS

    assert FIXED_DATABASE_FLAGS == set(FIXED_FLAGS)


def test_report_shows_resources_by_type_and_where_the_json_went(tmp_path, envs, capsys):
    from infra.synth import synth_and_report

    _, (dev, _) = envs
    outdir = tmp_path / "cdktf.out"
    assert synth_and_report([dev], outdir=outdir) == 0
    first = capsys.readouterr().out
    assert "dev:" in first and "(synthesized)" in first
    assert "google_container_cluster" in first and "google_logging_project_sink" in first
    assert "cdk.tf.json" in first
    assert synth_and_report([dev], outdir=outdir) == 0
    assert "unchanged, not re-synthesized" in capsys.readouterr().out


def test_cached_path_never_loads_the_provider_bindings(tmp_path, envs):
    # Loading CDK Terrain is what costs seconds; an unchanged re-synth must not pay for it.
    import subprocess
    import sys

    folder, (dev, _) = envs
    outdir = tmp_path / "cdktf.out"
    synth_environments([dev], outdir, backend=False)
    script = (
        "import sys; from infra.config import load_environment; from infra.synth import synth_environments;"
        f"(r,) = synth_environments([load_environment({str(folder / 'dev.yaml')!r})], {str(outdir)!r}, backend=False);"
        "print(r.cached, sorted(m for m in sys.modules if m.split('.')[0] in ('cdktn', 'cdktn_provider_google', 'jsii')))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT)
    assert done.stdout.split() == ["True", "[]"]


def test_resynth_keeps_what_terraform_stores_in_the_stack_folder(tmp_path, envs):
    folder, (dev, _) = envs
    outdir = tmp_path / "cdktf.out"
    (result,) = synth_environments([dev], outdir, backend=False)
    kept = [result.stack_dir / ".terraform" / "providers.marker", result.stack_dir / "terraform.tfstate"]
    for path in kept:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("terraform's, not ours")
    changed = copy_environment("dev", "dev", folder, edit=lambda text: text.replace("max_nodes: 3", "max_nodes: 4"))
    (again,) = synth_environments([changed], outdir, backend=False)
    assert again.cached is False
    assert [p.read_text() for p in kept] == ["terraform's, not ours"] * 2
