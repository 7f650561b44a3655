"""Fixtures shared by the test modules: a configuration on a temporary spool, and a way to write it."""

from __future__ import annotations

import csv
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from remessa import config
from remessa.daemon import Daemon


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0) -> None:
    """Poll `predicate` until it holds (a deadline, never a bare sleep-and-hope)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


def make_certificate(folder: Path, san: str = "DNS:localhost") -> tuple[Path, Path]:
    """A self-signed EC certificate and key for TLS tests (skips the test when openssl is missing)."""
    if shutil.which("openssl") is None:
        pytest.fail("needs the openssl command to make a certificate: run tests/system-packages.sh")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-days", "1", "-subj", "/CN=localhost", "-addext", f"subjectAltName={san}",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


def read_report(path: Path) -> list[dict[str, str]]:
    """A NAME.report.csv as the user reads it: one dict per line, keyed by the header."""
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter=";"))


@pytest.fixture
def running(settings: config.Settings) -> Iterator[Daemon]:
    """A daemon running its real loop in a thread (real watchdog observer), stopped at the end."""
    settings.daemon.spool.mkdir(parents=True, exist_ok=True)
    daemon = Daemon(settings)
    thread = threading.Thread(target=daemon.run, name="daemon", daemon=True)
    thread.start()
    wait_for(lambda: (settings.daemon.spool / "default" / "inbox").exists())
    yield daemon
    daemon.stop()
    thread.join(timeout=20)
    assert not thread.is_alive()


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
                       "idle_seconds": 0.5,
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
