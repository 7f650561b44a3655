"""The command line: run (SIGTERM, resume after an interrupted load), validate, exit codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import read_report
from remessa import config
from remessa.cli import main
from remessa.daemon import Daemon
from remessa.intake.validate import Validator
from remessa.store import queries as store


def _drop(settings: config.Settings, name: str, data: bytes) -> None:
    inbox = settings.daemon.spool / "default" / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / f".{name}").write_bytes(data)
    os.rename(inbox / f".{name}", inbox / name)


def test_an_interrupted_load_resumes_without_storing_rows_twice(
    settings: config.Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = "".join(f"55119876{n:05d};mensagem {n};c{n};\n" for n in range(50)) + "EOF\n"
    _drop(settings, "lote.txt", rows.encode())
    monkeypatch.setattr(store, "INSERT_CHUNK", 10)
    real_check = Validator.check
    seen = []

    def dying_check(self: Validator, row):  # the process "dies" after 25 rows: 20 are committed
        seen.append(row.line)
        if len(seen) > 25:
            raise SystemExit("killed")
        return real_check(self, row)

    monkeypatch.setattr(Validator, "check", dying_check)
    with pytest.raises(SystemExit):
        Daemon(settings).run(once=True)
    assert (settings.daemon.spool / "default" / "processing" / "lote.txt").exists()

    monkeypatch.setattr(Validator, "check", real_check)
    Daemon(settings).run(once=True)
    report = read_report(settings.daemon.spool / "default" / "success" / "lote.txt.report.csv")
    assert [int(r["line"]) for r in report] == list(range(1, 51))
    assert {r["status"] for r in report} == {"DELIVERED"}
    assert len(Daemon(settings).store.batches()) == 1


def test_windows_1252_file_is_read_and_the_summary_says_so(settings: config.Settings) -> None:
    _drop(settings, "cp.txt", "5511987654321;Promoção de verão;;\nEOF\n".encode("cp1252"))
    Daemon(settings).run(once=True)
    folder = settings.daemon.spool / "default" / "success"
    summary = json.loads((folder / "cp.txt.summary.json").read_text(encoding="utf-8"))
    assert summary["encoding"] == "cp1252"
    assert any("Windows-1252" in note for note in summary["notes"])
    assert read_report(folder / "cp.txt.report.csv")[0]["status"] == "DELIVERED"


def test_sigterm_stops_the_daemon_cleanly(make_config) -> None:
    path = make_config()
    process = subprocess.Popen(
        [sys.executable, "-m", "remessa.cli", "--config", str(path), "run"],
        stderr=subprocess.PIPE, text=True,
    )
    spool = config.load(path).daemon.spool
    deadline = time.monotonic() + 20
    while not (spool / "default" / "inbox").exists():
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.05)
    time.sleep(0.3)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert "signal SIGTERM: stopping" in err and "remessa stopped" in err


def test_validate_prints_rows_counts_and_reasons(
    settings: config.Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    batch = tmp_path / "lote.txt"
    batch.write_text(
        "numero;texto;correlationId(opcional);\n"
        "5511987654321;Olá!;;\n"
        "5511987654322;" + "a" * 200 + ";;\n"
        "2312312;oi;;\n"
        "EOF\n",
        encoding="utf-8",
    )
    out_report = tmp_path / "out.csv"
    code = main(["--config", str(settings.source), "validate", str(batch), "--report", str(out_report)])
    assert code == 0
    out = capsys.readouterr().out
    assert "2;5511987654321;QUEUED;1;UCS2;" in out
    assert "3;5511987654322;QUEUED;2;GSM7;" in out
    assert '4;2312312;INVALID;;;invalid_destination: "2312312" is not a mobile number' in out
    assert "# QUEUED: 2" in out and "# INVALID: 1" in out and "#   invalid_destination: 1" in out
    written = read_report(out_report)
    assert [(r["line"], r["status"], r["parts"]) for r in written] == [
        ("2", "QUEUED", "1"), ("3", "QUEUED", "2"), ("4", "INVALID", ""),
    ]
    assert not (settings.daemon.spool / "remessa.sqlite").exists()  # nothing stored, nothing sent


def test_validate_a_bad_file_fails_with_its_reason(
    settings: config.Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "vazio.txt"
    empty.write_bytes(b"")
    assert main(["--config", str(settings.source), "validate", str(empty)]) == 1
    assert "empty" in capsys.readouterr().err


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["frobnicate"])
    assert exited.value.code == 2
