"""Fixtures shared by the test modules: a configuration on a temporary spool, and a way to write it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from remessa import config


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{toml_value(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(value)


def write_config(path: Path, tables: dict[str, dict[str, Any]]) -> Path:
    """Write a TOML file from {"daemon": {...}, "providers.sandbox": {...}, ...}."""
    lines = []
    for table, values in tables.items():
        lines.append(f"[{table}]")
        lines += [f"{key} = {toml_value(value)}" for key, value in values.items()]
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


@pytest.fixture
def make_config(tmp_path: Path):
    """Build a config file on a spool under tmp_path; keyword tables override the fast test defaults."""

    def make(
        daemon: dict[str, Any] | None = None,
        sandbox: dict[str, Any] | None = None,
        profiles: dict[str, dict[str, Any]] | None = None,
    ) -> Path:
        tables: dict[str, dict[str, Any]] = {
            "daemon": {"spool": str(tmp_path / "spool"), "settle_seconds": 0.2, "poll_seconds": 0.05,
                       **(daemon or {})},
            "providers.sandbox": {"type": "sandbox", "sent_delay": 0.01, "delivered_delay": 0.02,
                                  **(sandbox or {})},
        }
        for name, values in (profiles or {"default": {}}).items():
            tables[f"profiles.{name}"] = {"provider": "sandbox", "receipt_timeout": 30.0, **values}
        return write_config(tmp_path / "remessa.toml", tables)

    return make


@pytest.fixture
def settings(make_config) -> config.Settings:
    return config.load(make_config())
