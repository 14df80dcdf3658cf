"""Stopping recorded processes: every named component goes, together, and one that ignores SIGTERM is killed."""

from __future__ import annotations

import os
import sys
import time

from infra.local import processes

# Ignores SIGTERM: only the SIGKILL after the grace period ends it.
STUBBORN = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(600)"
POLITE = "import time; print('up', flush=True); time.sleep(600)"


def _start(folder, name, code):
    record = processes.start(folder, name, [sys.executable, "-c", code], dict(os.environ))
    for _ in range(400):  # until the child has installed its handler and said so on a line of its own
        if "up" in processes.log_path(folder, name).read_text(errors="replace").splitlines():
            return record
        time.sleep(0.05)
    raise AssertionError(f"{name} did not start")


def test_stop_all_stops_every_component_and_forgets_them(tmp_path):
    polite = _start(tmp_path, "polite", POLITE)
    stubborn = _start(tmp_path, "stubborn", STUBBORN)
    try:
        stopped = processes.stop_all(tmp_path, ["polite", "stubborn", "never-started"], timeout=1)
        assert sorted(stopped) == ["polite", "stubborn"]
        assert not processes.alive(polite) and not processes.alive(stubborn)
        assert processes.recorded(tmp_path) == []
    finally:
        processes.stop_records([polite, stubborn], timeout=0)


def test_stop_of_a_component_that_is_not_running_says_so(tmp_path):
    assert processes.stop(tmp_path, "api-server") is False
