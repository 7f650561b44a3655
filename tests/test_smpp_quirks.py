"""The daemon against the quirks of other SMSCs (issue 11), reproduced in the simulator: decimal message ids
with receipts that beat their submit_sm_resp, a vendor TLV 0x1403 with foreign content, a strict
per-account throttle, a queue that stops answering. Each row's report line must be its own receipt's."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from node_smsc import NodeSmsc
from remessa.simulators.smsc.server import Smsc
from smpp_rig import (  # noqa: F401 - run_daemon and smsc are fixtures
    SMSC,
    batch,
    check_batch,
    drop,
    report,
    run_daemon,
    settled,
    smpp_settings,
    smsc,
)

UNDELIVERABLE = ("*3",)  # every tenth destination is receipted UNDELIV


def expected(destination: str) -> str:
    return "UNDELIVERED" if destination.endswith("3") else "DELIVERED"


@pytest.fixture
def decimal_smsc() -> Iterator[Smsc]:
    """Decimal ids 1, 2, 3... (1544 and 608 = 0x608 both occur) and every receipt before its answer."""
    config = dataclasses.replace(SMSC, ids="decimal", receipts_first=True, undeliverable_destinations=UNDELIVERABLE)
    with Smsc(config) as server:
        yield server


def test_decimal_ids_with_receipts_before_their_answers_reach_their_own_rows(
        tmp_path: Path, decimal_smsc: Smsc, run_daemon) -> None:
    settings = smpp_settings(tmp_path, decimal_smsc.port, rate=1000.0, binds=4)
    running = run_daemon(settings)
    content, lines = batch(2000)
    drop(settings, content)

    folder, summary = settled(running, timeout=120)

    rows = report(settings, folder)
    check_batch(rows, lines, [decimal_smsc])
    by_id = decimal_smsc.messages()
    wrong = [r for r in rows if r["status"] != expected(r["destination"])]
    assert not wrong, f"{len(wrong)} rows carry another message's receipt, e.g. {wrong[:3]}"
    assert all(by_id[r["messageId"]].destination == r["destination"] for r in rows)
    assert {"608", "1544"} <= {r["messageId"] for r in rows}
    assert all(r["deliveredStatusCode"] == ("104" if r["status"] == "UNDELIVERED" else "4") for r in rows)
    assert {k: n for k, n in summary["counts"].items() if n} == {"DELIVERED": 1800, "UNDELIVERED": 200}


def test_a_vendor_tlv_with_foreign_content_leaves_stat_in_charge(tmp_path: Path, run_daemon) -> None:
    config = dataclasses.replace(SMSC, vendor_tlv_value="4412345678", undeliverable_destinations=UNDELIVERABLE)
    with Smsc(config) as smsc:
        settings = smpp_settings(tmp_path, smsc.port, rate=1000.0)
        running = run_daemon(settings)
        content, lines = batch(100)
        drop(settings, content)

        folder, summary = settled(running)

        rows = report(settings, folder)
        check_batch(rows, lines, [smsc])
    assert [r for r in rows if r["status"] != expected(r["destination"])] == []
    assert {r["sentStatusCode"] for r in rows} == {"2"} and {r["sentStatus"] for r in rows} == {"SENT_SUCCESS"}
    assert all(r["reason"] in ("", "provider: 104 NOT_DELIVERED") for r in rows)


def test_the_receipt_window_counts_from_the_last_acknowledgement(tmp_path: Path, run_daemon) -> None:
    """A chunk that takes longer than receipt_timeout to go out (20 rows at 10/s) still gets the receipts
    of its last rows: the window opens at the last submit_sm_resp, not when the chunk started."""
    with Smsc(dataclasses.replace(SMSC, delivery_receipt_delay=0.6)) as smsc:
        settings = smpp_settings(tmp_path, smsc.port, profile={"receipt_timeout": 1.0}, rate=10.0, binds=1)
        running = run_daemon(settings)
        content, lines = batch(20)
        drop(settings, content)

        folder, summary = settled(running)

        rows = report(settings, folder)
        check_batch(rows, lines, [smsc])
    assert [r["status"] for r in rows] == ["DELIVERED"] * 20



def test_rows_whose_receipt_never_comes_say_so_when_the_window_closes(tmp_path: Path, smsc: Smsc,
                                                                      run_daemon) -> None:
    # the SMSC receipts only what asks for a receipt: none of these does, as if it had lost them
    settings = smpp_settings(tmp_path, smsc.port, profile={"receipt_timeout": 1.0}, rate=1000.0,
                             registered_delivery=False)
    running = run_daemon(settings)
    content, lines = batch(20)
    drop(settings, content)

    folder, summary = settled(running)

    rows = report(settings, folder)
    assert smsc.stats().deliver_sm_sent == 0
    assert {(r["status"], r["reason"]) for r in rows} == {("ACCEPTED", "no_receipt: no delivery receipt within 1 s")}
    assert summary["reasons"] == {"no_receipt": 20} and summary["counts"]["ACCEPTED"] == 20


def test_a_strict_account_quota_is_learned_and_logged(tmp_path: Path, run_daemon,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    """20/s per account, 50 ms apart, against 4 binds configured for 80/s each: the pool finds the quota
    (WARNING with the rate it learned) instead of each bind bursting and backing off on its own."""
    with Smsc(dataclasses.replace(SMSC, account_rate=20.0)) as smsc:
        settings = smpp_settings(tmp_path, smsc.port, rate=80.0, binds=4, profile={"chunk_size": 100})
        caplog.set_level(logging.INFO, "remessa.channels.smpp.pacing")
        running = run_daemon(settings)
        content, lines = batch(100)
        drop(settings, content)

        folder, summary = settled(running, timeout=60)

        rows = report(settings, folder)
        check_batch(rows, lines, [smsc], throttled=True)
        stats = smsc.stats()
    assert {r["status"] for r in rows} == {"DELIVERED"}
    learned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING
               and "the provider throttles our submits" in r.getMessage()]
    assert learned and float(learned[-1].split("sends ")[1].split("/s")[0]) <= 25.0
    assert stats.throttled < stats.accepted  # not a storm of refusals: the submits were spaced


def test_an_smsc_that_stops_answering_is_noticed_and_not_fed(tmp_path: Path, run_daemon,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    """After 10 submits the SMSC answers nothing more (its queue is full) but keeps the binds up. Each bind
    whose window goes unanswered is dropped with a WARNING and bound again only after a pause, so the
    rows it could not send end UNKNOWN (in_flight = unknown) in a few rounds instead of a steady feed."""
    with Smsc(dataclasses.replace(SMSC, silent_after=10)) as smsc:
        settings = smpp_settings(tmp_path, smsc.port, rate=1000.0, window=5, profile={"in_flight": "unknown"})
        caplog.set_level(logging.INFO, "remessa.channels.smpp.bind")
        running = run_daemon(settings)
        content, lines = batch(40)
        drop(settings, content)

        folder, summary = settled(running, timeout=60)

        rows = report(settings, folder)
        check_batch(rows, lines, [smsc], policy="unknown")
        stats = smsc.stats()
    assert {k: n for k, n in summary["counts"].items() if n} == {"DELIVERED": 10, "UNKNOWN": 30}
    assert all(r["reason"].startswith("in_flight_unknown: no submit_sm_resp") for r in rows if r["status"] == "UNKNOWN")
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("the SMSC stopped answering" in m for m in warned)
    assert any("no more submits on it for" in m for m in warned)
    assert stats.submits == 40  # each row went once: nothing was fed to a silent bind twice


@pytest.mark.parametrize("vendor", [None, "4412345678"])
def test_against_the_npm_peer_with_decimal_ids_receipts_first_and_foreign_tlvs(
        tmp_path: Path, run_daemon, vendor: str | None) -> None:
    """The same quirks from an SMSC on a codec we did not write (tests/peers/smsc.js)."""
    env = {"SMSC_SYSTEM_ID": "remessa", "SMSC_PASSWORD": "secret", "SMSC_IDS": "decimal",
           "SMSC_RECEIPTS_FIRST": "1", "SMSC_UNDELIVERABLE": "3$", "SMSC_DELIVERED_DELAY_MS": "5"}
    if vendor is not None:
        env["SMSC_VENDOR_TLV"] = vendor
    peer = NodeSmsc(tmp_path, **env)
    try:
        settings = smpp_settings(tmp_path, peer.port, rate=1000.0, binds=4)
        running = run_daemon(settings)
        content, lines = batch(700)
        drop(settings, content)

        folder, summary = settled(running, timeout=120)
    finally:
        peer.close()
    rows = report(settings, folder)
    wrong = [r for r in rows if r["status"] != expected(r["destination"])]
    assert not wrong, f"{len(wrong)} rows carry another message's receipt, e.g. {wrong[:3]}"
    assert sorted(int(r["messageId"]) for r in rows) == list(range(1, 701))
    assert {r["sentStatusCode"] for r in rows} == {"2"}
