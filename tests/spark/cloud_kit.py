"""Helpers for the cloud-target tests: the `[platform]` keys an environment renders, as Airflow env vars."""

from __future__ import annotations


def platform_env(monkeypatch, env_name: str) -> dict[str, str]:
    """Set the `[platform]` section that `infra.airflow_config` renders for `env_name`; returns it."""
    from infra.airflow_config import build
    from infra.config import load_environment

    settings = build(load_environment(env_name))
    keys = {key: value for (section, key), value in settings.config.items() if section == "platform"}
    for key, value in keys.items():
        monkeypatch.setenv(f"AIRFLOW__PLATFORM__{key.upper()}", value)
    return keys
