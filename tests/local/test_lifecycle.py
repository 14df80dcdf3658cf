"""deploy → healthy → status → redeploy (unchanged, then changed) → destroy, on real processes."""

from __future__ import annotations

import os
import signal
import socket

import pytest

from infra.errors import UserError
from infra.local import processes, runtime

from platform_kit import Platform, assert_gone, write_env

COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")


def test_port_in_use_is_one_clear_line_and_starts_nothing(tmp_path):
    platform = Platform(write_env(tmp_path))
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", platform.env.local.api_port))
        squatter.listen()
        with pytest.raises(UserError) as error:
            platform.deploy()
    message = str(error.value)
    assert "\n" not in message
    assert f"port {platform.env.local.api_port} (local.api_port in environments/local.yaml) is in use" in message
    assert not processes.recorded(platform.folder)


def test_stale_pid_file_is_repaired_not_trusted(tmp_path):
    platform = Platform(write_env(tmp_path))
    processes.write_json(platform.folder / "run" / "scheduler.json",
                         {"name": "scheduler", "pid": os.getpid(), "create_time": 1.0, "started_at": 1.0})
    note = runtime._preflight(platform.env, platform.folder)
    assert note == "removed stale pid files: scheduler"
    assert not (platform.folder / "run" / "scheduler.json").exists()


@pytest.mark.integration
def test_deploy_redeploy_and_destroy_leave_nothing_behind(tmp_path, capsys):
    platform = Platform(write_env(tmp_path))
    try:
        assert platform.deploy() == 0
        out = capsys.readouterr().out
        assert f"Airflow: http://127.0.0.1:{platform.env.local.api_port}   login: admin / " in out
        password = out.split("login: admin / ", 1)[1].split()[0]
        assert password.isalnum() and len(password) >= 16  # copy-pastes into any shell (never starts with "-")
        pids = {name: platform.pid(name) for name in COMPONENTS}
        assert all(pids.values()), pids
        # The airflow.cfg a person opens shows what runs, not Airflow's SQLite default; no secret in it.
        cfg = (platform.folder / "airflow" / "airflow.cfg").read_text()
        assert "\nsql_alchemy_conn = postgresql" in cfg and "sqlite" not in cfg and password not in cfg
        assert "(not running)" not in (platform.folder / "logs" / "supervisor.log").read_text()

        assert runtime.status(platform.env) == 0
        table = capsys.readouterr().out
        for name in (*COMPONENTS, "postgres", "supervisor"):
            assert any(line.split("│")[1].strip() == name and "healthy" in line for line in table.splitlines() if "│" in line), name

        # Nothing changed: quick, says so, touches no process, and the password is not printed again.
        assert platform.deploy() == 0
        out = capsys.readouterr().out
        assert "Nothing changed" in out
        assert "migration skipped" in out
        assert "login: admin (password in" in out
        assert {name: platform.pid(name) for name in COMPONENTS} == pids

        # A scheduler-only setting restarts the scheduler and nothing else.
        write_env(tmp_path, airflow={"config_overrides": {"scheduler": {"parsing_cleanup_interval": 90}}})
        platform.reload()
        assert platform.deploy() == 0
        assert "restarting scheduler" in capsys.readouterr().out
        after = {name: platform.pid(name) for name in COMPONENTS}
        assert after["scheduler"] != pids["scheduler"]
        assert {k: v for k, v in after.items() if k != "scheduler"} == {k: v for k, v in pids.items() if k != "scheduler"}
        assert platform.restarts("scheduler") == 0  # a config change is not a failure

        # Even with the supervisor killed outright, destroy finds every process by its record.
        everything = platform.all_pids()
        os.kill(platform.pid("supervisor"), signal.SIGKILL)
    finally:
        platform.destroy()
    assert_gone(everything)
    assert processes.recorded(platform.folder) == []
