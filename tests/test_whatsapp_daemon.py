"""A WhatsApp template file through the daemon over the provider's WhatsApp HTTP API (wavy_whatsapp_http) and
the HTTP simulator: statuses by webhook to the daemon's listener end each row READ (or DELIVERED when it is
never read, UNDELIVERED, REJECTED), and a reply "SAIR" blocks its sender."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import wait_for, write_config
from remessa import config
from remessa.simulators.http.server import HttpSimulator, HttpSimulatorConfig
from smpp_rig import drop, report, run_daemon, settled  # noqa: F401 - run_daemon is a fixture
from test_http_daemon import TOKEN, reserved_port, statuses

NAME = "campanha.txt"


@dataclasses.dataclass
class Rig:
    simulator: HttpSimulator
    listen: int


@pytest.fixture
def rig(monkeypatch: pytest.MonkeyPatch) -> Iterator[Rig]:
    monkeypatch.setenv("REMESSA_TEST_TOKEN", "secret")
    monkeypatch.setenv("REMESSA_TEST_WEBHOOK", TOKEN)
    with contextlib.ExitStack() as stack:
        with reserved_port() as listen:
            running = stack.enter_context(HttpSimulator(whatsapp_simulator(listen)))
        yield Rig(running, listen)


def whatsapp_simulator(listen: int) -> HttpSimulatorConfig:
    return HttpSimulatorConfig(
        sent_delay=0.02, delivered_delay=0.05, read_delay=0.08, redeliver_after=0.2, webhook_threads=4,
        refuse={"*0202": 202}, undeliverable={"*0104": 104}, unread=("*0303",),
        whatsapp_webhook_url=f"http://127.0.0.1:{listen}/webhooks/wa/whatsapp",
        webhook_headers={"Authorization": f"Bearer {TOKEN}"})


def whatsapp_settings(tmp_path: Path, rig: Rig) -> config.Settings:
    return config.load(write_config(tmp_path / "remessa.toml", {
        "daemon": {"spool": str(tmp_path / "spool"), "settle_seconds": 0.2, "poll_seconds": 0.05,
                   "idle_seconds": 0.5},
        "http": {"listen": f"127.0.0.1:{rig.listen}"},
        "providers.wa": {"type": "wavy_whatsapp_http", "url": rig.simulator.url, "username": "remessa",
                         "token": "env:REMESSA_TEST_TOKEN", "webhook_token": "env:REMESSA_TEST_WEBHOOK",
                         "backoff_min": 0.02, "backoff_max": 0.1},
        # the never-read row holds the batch for its window: long enough for every other status to come
        "profiles.default": {"provider": "wa", "receipt_timeout": 15.0, "chunk_size": 50},
    }))


def template_file(count: int) -> str:
    lines = [";;;TEMPLATE;boas_vindas;aaaaaaaa_bbbb_cccc_dddd_eeeeeeeeeeee;pt_BR;DETERMINISTIC;nome",
             "phone;nome;correlationId"]
    lines += [f"5511900000{n:03d};Cliente {n % 7};w{n}" for n in range(count)]
    return "\n".join(lines) + "\n"


def test_a_template_file_ends_read_from_the_webhooks(tmp_path: Path, rig: Rig, run_daemon) -> None:
    settings = whatsapp_settings(tmp_path, rig)
    running = run_daemon(settings, wait_open=False)
    drop(settings, template_file(310), NAME)

    folder, summary = settled(running, NAME, timeout=60)

    rows = report(settings, folder, NAME)
    assert len(rows) == 310
    by_destination = {r["destination"]: r for r in rows}
    assert statuses(rows) == {"READ": 307, "DELIVERED": 1, "UNDELIVERED": 1, "REJECTED": 1}
    assert by_destination["5511900000303"]["status"] == "DELIVERED"  # delivered, never read
    assert by_destination["5511900000104"]["deliveredStatusCode"] == "104"
    assert by_destination["5511900000202"]["reason"].startswith("provider: 202")
    assert rig.simulator.stats().whatsapp_accepted == 310  # each row once


def test_a_reply_sair_blocks_the_sender(tmp_path: Path, rig: Rig, run_daemon) -> None:
    settings = whatsapp_settings(tmp_path, rig)
    running = run_daemon(settings, wait_open=False)
    wait_for(lambda: running.daemon.listener is not None, timeout=10)

    rig.simulator.push_mo("5511900000007", "SAIR")

    wait_for(lambda: "5511900000007" in running.daemon.store.blocklist("default"), timeout=10)
