"""The daemon against a misbehaving SMSC: faults injected mid-batch into the SMPP simulator.

After each fault every row of the batch is in the report exactly once, in a final status with a reason,
and the simulator's own count shows that nothing it acknowledged was submitted twice (a message that was
in flight without an answer may go again only under ``in_flight = "retry"``, and its report line says so).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import logging
import socket
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from conftest import make_certificate, wait_for
from remessa import config
from remessa.cli import main
from remessa.simulators.smsc.server import Smsc
from smpp_rig import (  # noqa: F401 - smsc and run_daemon are fixtures
    NAME,
    SMSC,
    Running,
    batch,
    check_batch,
    drop,
    report,
    run_daemon,
    settled,
    smpp_settings,
    smsc,
    tls_context,
)


# --- the faults ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("policy", ["retry", "unknown"])
def test_a_connection_dropped_mid_window(tmp_path: Path, smsc: Smsc, run_daemon, policy: str) -> None:
    settings = smpp_settings(tmp_path, smsc.port, profile={"in_flight": policy}, rate=50.0)
    running = run_daemon(settings)
    smsc.faults.response_delay = 0.1  # a full window outstanding when the line goes
    content, lines = batch(120)
    drop(settings, content)
    wait_for(lambda: smsc.stats().accepted >= 30, timeout=10)
    binds = smsc.stats().binds_accepted
    smsc.faults.drop_after_pdus = 1  # every connection goes on its next PDU
    wait_for(lambda: smsc.stats().binds_accepted == binds and smsc.bound() == 0, timeout=10)
    smsc.faults.drop_after_pdus = None
    smsc.faults.response_delay = 0.0

    folder, summary = settled(running)

    rows = report(settings, folder)
    check_batch(rows, lines, [smsc], policy)
    statuses = Counter(r["status"] for r in rows)
    if policy == "retry":
        assert statuses == {"DELIVERED": 120}
        assert any(r["reason"].startswith("in_flight_retried: connection to 127.0.0.1") for r in rows)
    else:
        assert set(statuses) <= {"DELIVERED", "UNKNOWN"} and statuses["UNKNOWN"] > 0
        assert all(r["reason"].startswith("in_flight_unknown: connection to 127.0.0.1")
                   for r in rows if r["status"] == "UNKNOWN")
    assert folder == "success" and summary["state"] == "SETTLED"


def status_rows(settings: config.Settings) -> list[dict[str, Any]]:
    """What `remessa status --json` prints (it reads the store, like an operator in another shell)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["--config", str(settings.source), "status", "--json"]) == 0
    rows: list[dict[str, Any]] = json.loads(out.getvalue())
    return rows


def waiting_for_the_provider(running: Running, words: str) -> dict[str, Any]:
    """Wait until `remessa status` shows the batch WAITING for its provider with `words` in the error."""
    found: list[dict[str, Any]] = []
    settings = running.settings

    def shown() -> bool:
        assert running.error is None, f"the daemon stopped: {running.error!r}"
        found[:] = [r for r in status_rows(settings) if r["name"] == NAME and r["state"] == "WAITING"
                    and words in (r["providerError"] or "")]
        return bool(found)

    wait_for(shown, timeout=20)
    return found[0]


def refused_from_the_start(settings: config.Settings, smsc: Smsc, run_daemon, words: str) -> dict[str, Any]:
    """A provider that refuses every bind: the daemon runs on, the batch waits for it, nothing is rejected."""
    content, lines = batch(30)
    drop(settings, content)
    running = run_daemon(settings, wait_open=False)

    row = waiting_for_the_provider(running, words)

    assert running.error is None
    assert row["counts"] == {"QUEUED": 30}  # no row REJECTED because the provider refused us
    spool = settings.daemon.spool / "default"
    assert not (spool / "error" / NAME).exists() and (spool / "processing" / NAME).exists()
    assert smsc.stats().submits == 0 and smsc.stats().binds_accepted == 0
    return row


def test_a_wrong_password_pauses_the_provider_and_rejects_nothing(tmp_path: Path, smsc: Smsc, run_daemon,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    settings = smpp_settings(tmp_path, smsc.port, password="wrong")
    with caplog.at_level(logging.ERROR, logger="remessa.delivery.provider"):
        refused_from_the_start(settings, smsc, run_daemon, "bind_transceiver as 'remessa' refused with ESME_RBINDFAIL")
    assert smsc.stats().binds_refused >= 1
    assert any("ESME_RBINDFAIL" in r.getMessage() and "its batches wait" in r.getMessage() for r in caplog.records)


def test_a_certificate_for_another_host_pauses_the_provider(tmp_path: Path, run_daemon) -> None:
    cert, key = make_certificate(tmp_path, san="DNS:smsc.example.org")
    with Smsc(dataclasses.replace(SMSC, ssl_context=tls_context(cert, key))) as smsc:
        settings = smpp_settings(tmp_path, smsc.port, host="localhost", tls=True, ca_file=str(cert))
        row = refused_from_the_start(settings, smsc, run_daemon, "TLS certificate of localhost not trusted")
    assert "mismatch" in row["providerError"].lower()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_batch_waits_for_an_smsc_that_is_not_up_yet(tmp_path: Path, run_daemon) -> None:
    port = free_port()
    settings = smpp_settings(tmp_path, port, response_timeout=0.5)
    content, lines = batch(30)
    drop(settings, content)
    running = run_daemon(settings, wait_open=False)
    inbox = settings.daemon.spool / "default" / "inbox" / NAME
    wait_for(lambda: running.error is not None or not inbox.exists(), timeout=10)  # taken, not lost
    assert running.error is None, f"the daemon stopped: {running.error!r}"

    with Smsc(dataclasses.replace(SMSC, port=port)) as smsc:
        folder, summary = settled(running, timeout=20)
        rows = report(settings, folder)
        check_batch(rows, lines, [smsc])
    assert folder == "success" and {r["status"] for r in rows} == {"DELIVERED"}


def reasons(running: Running) -> list[str]:
    """Every message's current reason, as the daemon's store has it now."""
    store = running.daemon.store
    return [m.reason for b in store.batches() for m in store.messages(b.id)]


def test_an_unbind_from_the_smsc_mid_batch(tmp_path: Path, smsc: Smsc, run_daemon) -> None:
    settings = smpp_settings(tmp_path, smsc.port, rate=50.0)
    running = run_daemon(settings)
    smsc.faults.response_delay = 0.1
    content, lines = batch(120)
    drop(settings, content)
    wait_for(lambda: smsc.stats().accepted >= 30, timeout=10)
    binds = smsc.stats().binds_accepted

    smsc.unbind_all()

    folder, summary = settled(running)
    rows = report(settings, folder)
    check_batch(rows, lines, [smsc])
    assert {r["status"] for r in rows} == {"DELIVERED"}
    assert len(smsc.received("unbind_resp")) == 2 and smsc.stats().binds_accepted >= binds + 2
    assert folder == "success" and summary["state"] == "SETTLED"


@pytest.mark.parametrize("policy", ["retry", "unknown"])
def test_an_smsc_that_stops_answering_mid_batch(tmp_path: Path, smsc: Smsc, run_daemon, policy: str) -> None:
    settings = smpp_settings(tmp_path, smsc.port, profile={"in_flight": policy}, rate=10.0,
                             response_timeout=0.5)
    running = run_daemon(settings)
    content, lines = batch(100)  # 5 s of sending at 2 x 10/s: still going when the test sees the 30th
    drop(settings, content)
    wait_for(lambda: smsc.stats().accepted >= 30, timeout=10)
    assert smsc.stats().accepted < 100, "the batch was over before the fault: nothing left to be in doubt"

    smsc.faults.black_hole = True
    wait_for(lambda: any("no submit_sm_resp" in r for r in reasons(running)), timeout=10)
    smsc.faults.black_hole = False

    folder, summary = settled(running)
    rows = report(settings, folder)
    submitted = check_batch(rows, lines, [smsc], policy)
    in_doubt = [r for r in rows if "no submit_sm_resp from 127.0.0.1" in r["reason"]]
    assert in_doubt
    if policy == "retry":
        assert {r["status"] for r in rows} == {"DELIVERED"}
        assert all(r["reason"].startswith("in_flight_retried: no submit_sm_resp") for r in in_doubt)
    else:
        assert {r["status"] for r in rows} == {"DELIVERED", "UNKNOWN"}
        assert all(r["status"] == "UNKNOWN" and r["reason"].startswith("in_flight_unknown: no submit_sm_resp")
                   and r["messageId"] == "" for r in in_doubt)
        # swallowed by the black hole (or only their answer was): never sent again
        assert all(submitted.get(r["destination"], 0) <= 1 for r in in_doubt)
    assert folder == "success" and summary["state"] == "SETTLED"


def test_a_half_open_connection_is_detected_and_the_binds_come_back(tmp_path: Path, smsc: Smsc,
                                                                     run_daemon) -> None:
    settings = smpp_settings(tmp_path, smsc.port, enquire_link=0.3, response_timeout=0.3)
    running = run_daemon(settings)
    wait_for(lambda: smsc.bound() == 2 and smsc.stats().enquire_links >= 2, timeout=10)
    tries = len(smsc.received("bind_transceiver"))

    smsc.faults.black_hole = True  # the connection stays open; nothing comes back, not even enquire_link_resp
    wait_for(lambda: smsc.bound() == 0 and len(smsc.received("bind_transceiver")) > tries, timeout=10)
    smsc.faults.black_hole = False
    wait_for(lambda: smsc.bound() == 2, timeout=10)

    content, lines = batch(30)
    drop(settings, content)
    folder, _ = settled(running)
    rows = report(settings, folder)
    check_batch(rows, lines, [smsc])
    assert {r["status"] for r in rows} == {"DELIVERED"}


def test_an_smsc_unreachable_for_a_while_mid_batch(tmp_path: Path, smsc: Smsc, run_daemon) -> None:
    settings = smpp_settings(tmp_path, smsc.port, rate=50.0, response_timeout=0.5)
    running = run_daemon(settings)
    content, lines = batch(100)
    drop(settings, content)
    wait_for(lambda: smsc.stats().accepted >= 30, timeout=10)
    tries = len(smsc.received("bind_transceiver"))

    smsc.faults.drop_after_pdus = 1  # every connection, and every new one, is cut at its first PDU
    wait_for(lambda: len(smsc.received("bind_transceiver")) >= tries + 12, timeout=15)
    smsc.faults.drop_after_pdus = None

    folder, summary = settled(running)
    rows = report(settings, folder)
    check_batch(rows, lines, [smsc])
    assert {r["status"] for r in rows} == {"DELIVERED"}
    assert folder == "success" and summary["state"] == "SETTLED"


def test_a_throttling_storm_delivers_everything_once_and_in_order(tmp_path: Path, run_daemon) -> None:
    # Receipts come late, after every part is in (an early part receipt is another test's bug).
    storm = dataclasses.replace(SMSC, max_submits_per_second=5, sent_receipt_delay=4.0, delivery_receipt_delay=4.1)
    with Smsc(storm) as slow:
        settings = smpp_settings(tmp_path, slow.port, rate=80.0)
        running = run_daemon(settings)
        rows_in = {f"55119{n:08d}": n + 1 for n in range(20)}
        long_ones = set(list(rows_in)[::5])  # 4 messages of 3 parts each
        body = "".join(f"{dest};{'parte longa ' * 30 if dest in long_ones else 'curta'} {line};;\n"
                       for dest, line in rows_in.items())
        drop(settings, body + "EOF\n")

        folder, summary = settled(running)

        rows = report(settings, folder)
        check_batch(rows, rows_in, [slow], throttled=True)
        stats, accepted = slow.stats(), list(slow.messages().values())
    assert {r["status"] for r in rows} == {"DELIVERED"}
    assert stats.throttled > 0, "the storm did not happen"
    assert stats.accepted == 16 + 4 * 3 == stats.submits - stats.throttled  # only throttled ones went again
    assert Counter((m.destination, m.short_message) for m in accepted).most_common(1)[0][1] == 1
    for dest in long_ones:
        parts = [m for m in accepted if m.destination == dest]
        assert [(p.short_message[4], p.short_message[5]) for p in parts] == [(3, 1), (3, 2), (3, 3)], \
            "parts accepted out of order"
        assert {r["parts"] for r in rows if r["destination"] == dest} == {"3"}


POLICIES = ["unknown", "retry"]


def check_nothing_rejected(rows: list[dict[str, str]], smsc: Smsc, policy: str) -> None:
    """A provider refused us mid-batch, then came back: every row went out (or is UNKNOWN), none REJECTED."""
    statuses = Counter(r["status"] for r in rows)
    assert set(statuses) <= {"DELIVERED", "UNKNOWN"} and statuses["DELIVERED"] >= 100, statuses
    if policy == "unknown":
        assert all(r["reason"].startswith("in_flight_unknown:") for r in rows if r["status"] == "UNKNOWN")
    retried = sum(r["reason"].startswith("in_flight_retried:") for r in rows)  # may have been taken twice
    assert statuses["DELIVERED"] <= smsc.stats().accepted <= statuses["DELIVERED"] + statuses["UNKNOWN"] + retried


@pytest.mark.parametrize("policy", POLICIES)
def test_credentials_refused_mid_batch_pause_the_provider_until_they_work(tmp_path: Path, smsc: Smsc, run_daemon,
                                                                         policy: str) -> None:
    settings = smpp_settings(tmp_path, smsc.port, profile={"in_flight": policy}, rate=50.0)
    running = run_daemon(settings)
    smsc.faults.response_delay = 0.05
    content, lines = batch(120)
    drop(settings, content)
    wait_for(lambda: smsc.stats().accepted >= 30, timeout=10)

    smsc.faults.refuse_binds = True  # the password was changed on the SMSC's side
    smsc.unbind_all()
    row = waiting_for_the_provider(running, "ESME_RBINDFAIL")
    assert "REJECTED" not in row["counts"]
    smsc.faults.refuse_binds = False  # fixed: the binds come back, the rest goes out

    folder, summary = settled(running)
    rows = report(settings, folder)
    check_batch(rows, lines, [smsc], policy)
    check_nothing_rejected(rows, smsc, policy)
    assert folder == "success" and summary["state"] == "SETTLED"


@pytest.mark.parametrize("policy", POLICIES)
def test_a_certificate_for_another_host_mid_batch_pauses_the_provider(tmp_path: Path, run_daemon,
                                                                      policy: str) -> None:
    good = make_certificate(tmp_path)
    (tmp_path / "other").mkdir()
    other = make_certificate(tmp_path / "other", san="DNS:smsc.example.org")
    bundle = tmp_path / "ca.pem"  # both trusted: the only fault left is the name
    bundle.write_bytes(good[0].read_bytes() + other[0].read_bytes())
    context = tls_context(*good)
    with Smsc(dataclasses.replace(SMSC, ssl_context=context)) as smsc:
        settings = smpp_settings(tmp_path, smsc.port, profile={"in_flight": policy}, host="localhost", tls=True,
                                 ca_file=str(bundle), rate=50.0)
        running = run_daemon(settings)
        smsc.faults.response_delay = 0.05
        content, lines = batch(120)
        drop(settings, content)
        wait_for(lambda: smsc.stats().accepted >= 30, timeout=10)

        context.load_cert_chain(*other)  # new connections get a certificate for smsc.example.org
        smsc.unbind_all()
        row = waiting_for_the_provider(running, "Hostname mismatch")
        assert "REJECTED" not in row["counts"]
        context.load_cert_chain(*good)  # the certificate is fixed: the rest goes out

        folder, summary = settled(running)
        rows = report(settings, folder)
        check_batch(rows, lines, [smsc], policy)
        check_nothing_rejected(rows, smsc, policy)
    assert folder == "success" and summary["state"] == "SETTLED"




def test_receipts_of_early_parts_that_beat_the_last_part(tmp_path: Path, smsc: Smsc, run_daemon) -> None:
    settings = smpp_settings(tmp_path, smsc.port, profile={"receipt_timeout": 3.0}, binds=1)
    running = run_daemon(settings)
    smsc.faults.response_delay = 0.3  # each part's receipts come before the next part's submit_sm_resp
    rows_in = {f"55119{n:08d}": n + 1 for n in range(3)}
    drop(settings, "".join(f"{dest};{'parte longa ' * 30}{line};;\n" for dest, line in rows_in.items()) + "EOF\n")

    folder, _ = settled(running)

    rows = report(settings, folder)
    assert [(r["status"], r["parts"]) for r in rows] == [("DELIVERED", "3")] * 3
    check_batch(rows, rows_in, [smsc])
