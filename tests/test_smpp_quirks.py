"""The daemon against the quirks of other SMSCs (issue 11), reproduced in the simulator: decimal message ids
with receipts that beat their submit_sm_resp, a vendor TLV 0x1403 with foreign content, a strict
per-account throttle, a queue that stops answering. Each row's report line must be its own receipt's."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from remessa.simulators.smsc.server import Smsc
from smpp_rig import (  # noqa: F401 - run_daemon is a fixture
    SMSC,
    batch,
    check_batch,
    drop,
    report,
    run_daemon,
    settled,
    smpp_settings,
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
