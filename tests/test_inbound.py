"""Inbound (MO) replies: opt-out words put the sender on the blocklist, and later batches respect it.

The replies travel the real path: the SMSC simulator pushes a deliver_sm that is not a receipt to the
daemon's SMPP binds, the channel hands it to the receipt sink, and the sink stores it and blocks the sender.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import wait_for
from remessa.simulators.smsc.server import Smsc
from remessa.store.inbound import opt_out
from smpp_rig import SMSC, drop, report, run_daemon, settled, smpp_settings  # noqa: F401

#: (sender as the handset sends it, its text, the sender as stored and blocked, whether it opts out)
REPLIES = [
    ("+55 (11) 98765-4321", "Parar", "5511987654321", True),
    ("5511987654323", "SAIR", "5511987654323", True),
    ("5511987654324", " stop. ", "5511987654324", True),
    ("5511987654322", "Quero saber mais", "5511987654322", False),
    ("5511987654325", "STOP STOP", "5511987654325", False),
]


@pytest.fixture
def smsc() -> Iterator[Smsc]:
    """The rig's simulator, but slow to redeliver: each MO must be taken at its first deliver_sm."""
    with Smsc(dataclasses.replace(SMSC, redeliver_after=30.0)) as server:
        yield server


@pytest.mark.parametrize(
    ("text", "stops"),
    [("SAIR", True), ("sair", True), ("Parar!", True), (" stop. ", True), ("CANCELÁR", True),
     ("cancelar", True), ("Não quero sair", False), ("STOP STOP", False), ("", False), ("SIM", False)],
)
def test_opt_out_words(text: str, stops: bool) -> None:
    assert opt_out(text) is stops


def stored_replies(spool: Path) -> list[tuple[str, str, str, str, int]]:
    """The inbound table as (provider, source, destination, text, opt_out), in sender order."""
    with sqlite3.connect(spool / "remessa.sqlite") as db:
        rows = db.execute("SELECT provider, source, destination, text, opt_out FROM inbound").fetchall()
    return sorted(rows, key=lambda r: r[1])


def test_a_stop_reply_over_smpp_blocks_the_number_in_later_batches(tmp_path: Path, smsc: Smsc, run_daemon) -> None:
    settings = smpp_settings(tmp_path, smsc.port)
    running = run_daemon(settings)
    wait_for(lambda: smsc.bound() == 2, timeout=20)

    for sender, text, _, _ in REPLIES:
        smsc.send_mo("Loja", text, source=sender)
    # Each MO is acknowledged only once the sink has stored it; none is left for the SMSC to redeliver.
    wait_for(lambda: smsc.stats().deliver_sm_acked == len(REPLIES))
    assert smsc.stats().deliver_sm_sent == len(REPLIES)
    assert stored_replies(settings.daemon.spool) == sorted(
        [("smsc", number, "Loja", text, int(stops)) for _, text, number, stops in REPLIES], key=lambda r: r[1]
    )

    content = "".join(f"{number};oferta;;\n" for _, _, number, _ in REPLIES) + "5511987654326;oferta;;\nEOF\n"
    drop(settings, content, name="l.txt")
    folder, _ = settled(running, "l.txt")
    assert folder == "success"

    rows = report(settings, folder, "l.txt")
    expected = [(n, "BLOCKED", f"blocked: {n} is on the blocklist") if stops else (n, "DELIVERED", "")
                for _, _, n, stops in REPLIES] + [("5511987654326", "DELIVERED", "")]
    assert [(r["destination"], r["status"], r["reason"]) for r in rows] == expected
    delivered = {r["destination"] for r in rows if r["status"] == "DELIVERED"}
    sent = {m.destination for m in smsc.messages().values()}
    assert sent == delivered  # a blocked number never reached the SMSC
