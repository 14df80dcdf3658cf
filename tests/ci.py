"""Whether the tests run under CI (`CI=true`, set by .ci/run): there a missing tool fails the run, never skips it."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

UNDER_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing(what: str, reason: str) -> NoReturn:
    """Skip on a developer's machine that lacks `what`; under CI its absence fails the test."""
    if UNDER_CI:
        pytest.fail(f"CI needs {what}: {reason}")
    pytest.skip(reason)
