"""The daemon end to end on PostgreSQL (the store the multi-server set-up uses), not only the store's own
tests: a file with an over-long destination and correlationId is refused row by row, never as a whole."""

from __future__ import annotations

import os
from pathlib import Path

from conftest import read_report
from remessa import config
from remessa.daemon import Daemon
from test_store import postgres_url  # noqa: F401 - the throwaway PostgreSQL cluster

NAME = "3486.20261123.01.txt"


def test_over_long_values_are_invalid_rows_on_postgresql(make_config, postgres_url: str) -> None:  # noqa: F811
    settings = config.load(make_config(daemon={"database": postgres_url}))
    long_number, long_correlation = "55" + "1" * 120, "x" * 200
    body = ("numero;texto;correlationId(opcional);\n"
            "5511987654321;Olá Maria;ok-1;\n"
            f"{long_number};número longo demais;c-2;\n"
            f"5511987654322;correlationId longo demais;{long_correlation};\n"
            "5511987654323;Olá José;ok-4;\n"
            "EOF\n")
    inbox = settings.daemon.spool / "default" / "inbox"
    inbox.mkdir(parents=True)
    (inbox / f".{NAME}.tmp").write_text(body, encoding="utf-8")
    os.rename(inbox / f".{NAME}.tmp", inbox / NAME)

    Daemon(settings).run(once=True)

    folder: Path = settings.daemon.spool / "default" / "success"
    rows = {r["line"]: r for r in read_report(folder / f"{NAME}.report.csv")}
    assert [rows[line]["status"] for line in ("2", "3", "4", "5")] == ["DELIVERED", "INVALID", "INVALID", "DELIVERED"]
    assert rows["3"]["destination"] == long_number and rows["3"]["reason"]
    assert rows["4"]["correlationId"] == long_correlation and "correlationId" in rows["4"]["reason"]
