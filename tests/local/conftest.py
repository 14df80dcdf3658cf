"""Fixtures for the local runtime's tests: environment files in tmp with free ports, a deployed platform.

Under CI (`CI=true`, set by `.ci/run`) a skipped or deselected integration test of this folder fails
the session: the fault tests are the proof that the supervision works, they must not silently vanish.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent

# --- CI guard: integration tests of the local runtime must run ---------------------------------

_missing: list[str] = []


def _ours(item) -> bool:
    return Path(str(item.fspath)).resolve().is_relative_to(HERE) and item.get_closest_marker("integration") is not None


def pytest_deselected(items):
    _missing.extend(f"{item.nodeid} (deselected)" for item in items if _ours(item))


def pytest_runtest_logreport(report):
    if report.skipped and Path(report.fspath).resolve().is_relative_to(HERE) and "integration" in report.keywords:
        _missing.append(f"{report.nodeid} (skipped)")


def pytest_sessionfinish(session, exitstatus):
    if os.environ.get("CI", "").lower() in ("1", "true", "yes") and _missing:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter:
            reporter.write_line("CI: local-runtime integration tests must run, but these did not:", red=True)
            for line in _missing:
                reporter.write_line(f"  {line}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def tmp_path():
    """A temp folder outside pytest's 0700 base: as root, PostgreSQL runs as another user and must reach
    its data directory (and other sessions' pytest resets that base's permissions at any time)."""
    import shutil
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="localrt-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)
