"""Inbound (MO) replies: opt-out words put the sender on the blocklist, and later batches respect it."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest

from conftest import read_report
from remessa import config
from remessa.daemon import Daemon
from remessa.model import Inbound
from remessa.store.inbound import opt_out


@pytest.mark.parametrize(
    ("text", "stops"),
    [("SAIR", True), ("sair", True), ("Parar!", True), (" stop. ", True), ("CANCELÁR", True),
     ("cancelar", True), ("Não quero sair", False), ("STOP STOP", False), ("", False), ("SIM", False)],
)
def test_opt_out_words(text: str, stops: bool) -> None:
    assert opt_out(text) is stops


def test_a_stop_reply_blocks_the_number_in_later_batches(settings: config.Settings) -> None:
    daemon = Daemon(settings)
    daemon.start()
    try:
        at = datetime(2026, 11, 24, 12, tzinfo=UTC)
        daemon._on_inbound("sandbox", Inbound("+55 (11) 98765-4321", "Loja", "Parar", at))
        daemon._on_inbound("sandbox", Inbound("5511987654322", "Loja", "Quero saber mais", at))
    finally:
        daemon.shutdown()
    inbox = settings.daemon.spool / "default" / "inbox"
    (inbox / ".l.txt").write_text("5511987654321;oferta;;\n5511987654322;oferta;;\nEOF\n")
    os.rename(inbox / ".l.txt", inbox / "l.txt")
    Daemon(settings).run(once=True)
    rows = read_report(settings.daemon.spool / "default" / "success" / "l.txt.report.csv")
    assert [(r["status"], r["reason"]) for r in rows] == [
        ("BLOCKED", "blocked: 5511987654321 is on the blocklist"), ("DELIVERED", ""),
    ]
    import sqlite3

    with sqlite3.connect(settings.daemon.spool / "remessa.sqlite") as db:
        stored = db.execute("SELECT source, text, opt_out FROM inbound ORDER BY id").fetchall()
    assert stored == [("5511987654321", "Parar", 1), ("5511987654322", "Quero saber mais", 0)]
