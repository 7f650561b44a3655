"""The daemon over the provider's HTTP API (wavy_sms_http) against the HTTP simulator, receipts by webhook to
the daemon's own listener (or by polling): what the report says after each fault of the provider."""

from __future__ import annotations

import contextlib
import dataclasses
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from conftest import wait_for, write_config
from remessa import config
from remessa.model import FINAL
from remessa.simulators.http.server import HttpSimulator, HttpSimulatorConfig
from remessa.store.schema import inbound, receipts
from smpp_rig import NAME, batch, drop, report, run_daemon, settled  # noqa: F401 - run_daemon is a fixture

TOKEN = "webhook-secret"
SIMULATOR = HttpSimulatorConfig(sent_delay=0.02, delivered_delay=0.05, redeliver_after=0.2, webhook_threads=4,
                                refuse={"*0202": 202}, undeliverable={"*0104": 104})


@contextlib.contextmanager
def reserved_port() -> Iterator[int]:
    """A free port for the daemon's listener, held while the simulators bind theirs (port 0 could otherwise
    hand them the same one), then let go for the daemon."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        yield int(probe.getsockname()[1])


@dataclasses.dataclass
class Rig:
    simulator: HttpSimulator
    listen: int  # the daemon's webhook port


@pytest.fixture
def rig(monkeypatch: pytest.MonkeyPatch) -> Iterator[Rig]:
    monkeypatch.setenv("REMESSA_TEST_TOKEN", "secret")
    monkeypatch.setenv("REMESSA_TEST_WEBHOOK", TOKEN)
    with contextlib.ExitStack() as stack:
        with reserved_port() as listen:
            webhook = HttpSimulatorConfig(**{**dataclasses.asdict(SIMULATOR),
                                             "webhook_url": f"http://127.0.0.1:{listen}/webhooks/wavy/sms",
                                             "webhook_headers": {"Authorization": f"Bearer {TOKEN}"}})
            simulator = stack.enter_context(HttpSimulator(webhook))
        yield Rig(simulator, listen)


def http_settings(tmp_path: Path, rig: Rig, profile: dict[str, Any] | None = None,
                  **provider: Any) -> config.Settings:
    tables = {
        "daemon": {"spool": str(tmp_path / "spool"), "settle_seconds": 0.2, "poll_seconds": 0.05,
                   "idle_seconds": 0.5},
        "http": {"listen": f"127.0.0.1:{rig.listen}"},
        "providers.wavy": {"type": "wavy_sms_http", "url": rig.simulator.url, "username": "remessa",
                           "token": "env:REMESSA_TEST_TOKEN", "webhook_token": "env:REMESSA_TEST_WEBHOOK",
                           "backoff_min": 0.02, "backoff_max": 0.1, "read_timeout": 2.0, "per_request": 20,
                           **provider},
        "profiles.default": {"provider": "wavy", "receipt_timeout": 30.0, "chunk_size": 50, "in_flight": "unknown",
                             **(profile or {})},
    }
    return config.load(write_config(tmp_path / "remessa.toml", tables))


def statuses(rows: list[dict[str, str]]) -> dict[str, int]:
    found: dict[str, int] = {}
    for r in rows:
        found[r["status"]] = found.get(r["status"], 0) + 1
    return found


def check(rows: list[dict[str, str]], lines: dict[str, int]) -> None:
    assert sorted(int(r["line"]) for r in rows) == sorted(lines.values()), "every input line exactly once"
    for r in rows:
        assert r["status"] in FINAL, f"line {r['line']} is {r['status']}"


def test_a_file_goes_out_over_http_and_its_webhooks_settle_every_row(tmp_path: Path, rig: Rig, run_daemon) -> None:
    settings = http_settings(tmp_path, rig)
    running = run_daemon(settings, wait_open=False)
    content, lines = batch(300)  # ...0104 is not delivered, ...0202 refused
    drop(settings, content)

    folder, summary = settled(running)

    rows = report(settings, folder)
    check(rows, lines)
    by_destination = {r["destination"]: r for r in rows}
    assert statuses(rows) == {"DELIVERED": 298, "UNDELIVERED": 1, "REJECTED": 1}
    assert by_destination["5511900000104"]["deliveredStatusCode"] == "104"
    refused = next(r for r in rows if r["status"] == "REJECTED")
    assert (refused["sentStatusCode"], refused["reason"]) == ("202", "provider: 202 INVALID_DESTINATION_NUMBER")
    taken = rig.simulator.messages()
    assert all(taken[r["messageId"]][0] == r["destination"] for r in rows)
    assert rig.simulator.stats().accepted == 300  # each row once


def test_a_429_storm_and_an_answer_slower_than_its_webhooks(tmp_path: Path, rig: Rig, run_daemon) -> None:
    rig.simulator.faults.status_code, rig.simulator.faults.count, rig.simulator.faults.retry_after = 429, 4, "0"
    rig.simulator.faults.answer_delay = 0.3  # each status comes before the answer that names its id
    settings = http_settings(tmp_path, rig)
    running = run_daemon(settings, wait_open=False)
    content, lines = batch(60)
    drop(settings, content)

    folder, summary = settled(running)

    rows = report(settings, folder)
    check(rows, lines)
    assert statuses(rows) == {"DELIVERED": 60}
    assert rig.simulator.stats().rejected[429] == 4 and rig.simulator.stats().accepted == 60


def test_a_provider_down_for_a_while_keeps_the_rows_waiting(tmp_path: Path, rig: Rig, run_daemon) -> None:
    rig.simulator.faults.status_code = 503  # until cleared
    settings = http_settings(tmp_path, rig, retries=1, breaker_failures=2, breaker_pause=0.2)
    running = run_daemon(settings, wait_open=False)
    content, lines = batch(40)
    drop(settings, content)
    wait_for(lambda: rig.simulator.stats().rejected[503] >= 6, timeout=20)
    assert running.error is None

    rig.simulator.faults.status_code = None
    folder, summary = settled(running)

    rows = report(settings, folder)
    check(rows, lines)
    assert statuses(rows) == {"DELIVERED": 40}  # no row REJECTED because the provider was down


def test_a_400_for_one_request_and_a_lost_answer(tmp_path: Path, rig: Rig, run_daemon) -> None:
    # one chunk (one request of 20 rows) at a time: the first is answered 400 (refused before it is looked
    # at), the second is taken and its answer lost, the third goes through
    rig.simulator.faults.refuse_next = 1
    rig.simulator.faults.drop = 1
    settings = http_settings(tmp_path, rig, profile={"chunk_size": 20})
    running = run_daemon(settings, wait_open=False)
    content, lines = batch(60)
    drop(settings, content)

    folder, summary = settled(running)

    rows = report(settings, folder)
    check(rows, lines)
    found = statuses(rows)
    assert found["REJECTED"] == 20 and found["UNKNOWN"] == 20 and found["DELIVERED"] == 20
    rejected = [r for r in rows if r["status"] == "REJECTED"]
    assert all(r["reason"].startswith("refused by the API: HTTP 400: ") for r in rejected)
    unknown = [r for r in rows if r["status"] == "UNKNOWN"]
    assert all(r["reason"].startswith("in_flight_unknown: connection to ") for r in unknown)
    assert rig.simulator.stats().accepted == 40  # the lost request's rows were not sent again


def test_webhooks_without_the_secret_are_refused_and_change_nothing(tmp_path: Path, rig: Rig, run_daemon) -> None:
    settings = http_settings(tmp_path, rig)
    running = run_daemon(settings, wait_open=False)
    wait_for(lambda: running.daemon.listener is not None, timeout=10)
    url = f"http://127.0.0.1:{rig.listen}/webhooks/wavy/sms"
    status = {"id": "f9c100ff-aed0-4456-898c-e57d754c439c", "sentStatusCode": 2, "sentStatus": "SENT_SUCCESS"}

    assert httpx.post(url, json=status).status_code == 401
    assert httpx.post(url, content=b'{"id": ', headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 400
    assert httpx.post(url, content=b"[" + b" " * 70_000 + b"]",
                      headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 413
    # an unknown id is kept, unmatched (it is matched if its message ever shows up); a repeat changes nothing
    for _ in range(2):
        assert httpx.post(url, json=status, headers={"Authorization": f"Bearer {TOKEN}"}).json() == {"stored": 1}
    with running.daemon.store.db.reader.connect() as conn:
        kept = conn.execute(sa.select(receipts.c.provider_id, receipts.c.message_id, receipts.c.sent_code)).all()
    # the refused ones (no secret, malformed, oversized) stored nothing
    assert kept == [("f9c100ff-aed0-4456-898c-e57d754c439c", None, 2)] * 2


def test_receipts_by_polling_instead_of_webhooks(tmp_path: Path, rig: Rig, run_daemon) -> None:
    settings = http_settings(tmp_path, rig, receipts="poll", poll_interval=0.1)
    settings = dataclasses.replace(settings, http_configured=False)  # no listener: every status by polling
    running = run_daemon(settings, wait_open=False)
    content, lines = batch(30)
    drop(settings, content)

    folder, summary = settled(running)

    rows = report(settings, folder)
    check(rows, lines)
    assert statuses(rows) == {"DELIVERED": 30} and running.daemon.listener is None
    assert rig.simulator.stats().events_polled >= 60


def test_an_sms_reply_by_webhook_is_stored_once_and_sair_blocks_the_sender(tmp_path: Path, rig: Rig,
                                                                          run_daemon) -> None:
    """Seed 002's MO example (posted as it is), then the same reply retried, then a SAIR."""
    settings = http_settings(tmp_path, rig)
    running = run_daemon(settings, wait_open=False)
    wait_for(lambda: running.daemon.listener is not None or running.error is not None, timeout=10)
    assert running.error is None, running.error
    url = f"http://127.0.0.1:{rig.listen}/webhooks/wavy/sms"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    reply = {"id": "25950050-7362-11e6-be62-001b7843e7d4", "subAccount": "iFoodMarketing",
             "campaignAlias": "iFoodPromo", "carrierId": 1, "carrierName": "VIVO", "source": "5516981562820",
             "shortCode": "28128", "messageText": "Eu quero pizza", "receivedAt": 1473088405588,
             "receivedDate": "2016-09-05T12:13:25Z",
             "mt": {"id": "8be584fd-2554-439b-9ba9-aab507278992", "correlationId": "1876", "username": "iFoodCS",
                    "email": "customer.support@ifood.com"}}

    for _ in range(2):  # the provider retries: stored once
        assert httpx.post(url, json=reply, headers=auth).json() == {"stored": 0, "inbound": 1}
    stop = {**reply, "id": "6b1e4c2d-0000-4000-8000-000000000001", "messageText": "Sair"}
    assert httpx.post(url, json=stop, headers=auth).status_code == 200

    store = running.daemon.store
    assert store.blocklist("default") == {"5516981562820"}
    with store.db.reader.connect() as conn:
        texts = [row.text for row in conn.execute(sa.select(inbound.c.text).order_by(inbound.c.id))]
    assert texts == ["Eu quero pizza", "Sair"]
