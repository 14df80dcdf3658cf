"""Fixtures for the local runtime's tests: environment files in tmp with free ports, a deployed platform.

Under CI the root conftest fails the session unless every test here ran and passed.
"""

from __future__ import annotations

from pathlib import Path

import pytest


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
