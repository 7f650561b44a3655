"""Hostile inbox entries (issue 10): names, sidecars and numbers that once crashed, hung or crash-looped the
daemon. Each is refused into error/ with a reason that names the problem, and the good file beside it goes out."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from conftest import read_report
from remessa import config
from remessa.daemon import Daemon
from remessa.spool import NAME_MAX_BYTES
from remessa.store.queries import INSERT_CHUNK

GOOD = "numero;texto;correlationId(opcional);\n5511987654321;Oi;c1;\nEOF\n"


def inbox(settings: config.Settings) -> Path:
    folder = settings.daemon.spool / "default" / "inbox"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def run_once(settings: config.Settings, timeout: float = 60.0) -> None:
    """The daemon's `run --once`, which must end by itself: a hang fails the test instead of blocking it."""
    daemon = Daemon(settings)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            daemon.run(once=True)
        except BaseException as exc:  # noqa: BLE001  # re-raised below, on the test's thread
            failure.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        daemon.stop()
        thread.join(20)
        raise AssertionError("run --once did not finish: the daemon hung on an inbox entry")
    if failure:
        raise failure[0]


def spool_state(settings: config.Settings) -> dict[str, list[str]]:
    root = settings.daemon.spool / "default"
    return {folder: sorted(os.listdir(root / folder)) for folder in ("inbox", "processing", "success", "error")}


def summary_of(folder: Path, name: str) -> dict[str, Any]:
    return json.loads((folder / f"{name}.summary.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def assert_good_file_went_out(settings: config.Settings) -> None:
    success = settings.daemon.spool / "default" / "success"
    assert [row["status"] for row in read_report(success / "good.txt.report.csv")] == ["DELIVERED"]


def test_a_name_that_is_not_utf8_is_refused_with_the_name_escaped(settings: config.Settings) -> None:
    folder = inbox(settings)
    with open(os.fsencode(folder) + b"/bad\xff\xfe.txt", "w", encoding="utf-8") as out:
        out.write(GOOD)
    (folder / "good.txt").write_text(GOOD, encoding="utf-8")
    run_once(settings)
    error = settings.daemon.spool / "default" / "error"
    shown = "bad\\xff\\xfe.txt"
    assert (error / shown).read_text(encoding="utf-8") == GOOD
    summary = summary_of(error, shown)
    assert summary["state"] == "FAILED" and summary["file"] == shown
    assert summary["errors"][0]["code"] == "bad_name"
    assert "not valid UTF-8" in summary["errors"][0]["message"]
    assert read_report(error / f"{shown}.report.csv") == []
    assert_good_file_went_out(settings)
    assert spool_state(settings)["processing"] == [] and spool_state(settings)["inbox"] == []


def test_a_bad_name_left_in_processing_by_a_crash_is_refused_at_start_up(settings: config.Settings) -> None:
    inbox(settings)
    processing = settings.daemon.spool / "default" / "processing"
    processing.mkdir(parents=True, exist_ok=True)
    with open(os.fsencode(processing) + b"/crash\xe9.txt", "w", encoding="utf-8") as out:
        out.write(GOOD)
    run_once(settings)
    error = settings.daemon.spool / "default" / "error"
    assert summary_of(error, "crash\\xe9.txt")["errors"][0]["code"] == "bad_name"
    assert spool_state(settings)["processing"] == []


@pytest.mark.parametrize("size", [255, 240, NAME_MAX_BYTES + 1])
def test_a_name_too_long_for_its_result_files_is_refused_up_front(settings: config.Settings, size: int) -> None:
    folder = inbox(settings)
    name = "n" * (size - 4) + ".txt"
    (folder / name).write_text(GOOD, encoding="utf-8")
    (folder / "good.txt").write_text(GOOD, encoding="utf-8")
    run_once(settings)
    run_once(settings)  # and again, as after a restart: nothing is left to crash on
    state = spool_state(settings)
    assert state["inbox"] == [] and state["processing"] == []
    [kept] = [n for n in state["error"] if not n.endswith((".report.csv", ".summary.json"))]
    assert len(kept.encode()) <= NAME_MAX_BYTES and kept.startswith("nnnn")
    assert (settings.daemon.spool / "default" / "error" / kept).read_text(encoding="utf-8") == GOOD
    summary = summary_of(settings.daemon.spool / "default" / "error", kept)
    assert summary["errors"][0]["code"] == "bad_name"
    assert f"{size} bytes long" in summary["errors"][0]["message"]
    assert_good_file_went_out(settings)


def test_a_name_of_the_longest_size_taken_goes_through_with_its_result_files(settings: config.Settings) -> None:
    folder = inbox(settings)
    name = "n" * (NAME_MAX_BYTES - 4) + ".txt"
    (folder / name).write_text(GOOD, encoding="utf-8")
    (folder / f"{name}.json").write_text('{"campaignAlias": "x"}', encoding="utf-8")
    run_once(settings)
    success = settings.daemon.spool / "default" / "success"
    assert [row["status"] for row in read_report(success / f"{name}.report.csv")] == ["DELIVERED"]
    assert (success / f"{name}.json").exists()


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _dev_zero(path: Path) -> None:
    path.symlink_to("/dev/zero")


def _dangling(path: Path) -> None:
    path.symlink_to(path.parent / "nowhere.json")


def _too_big(path: Path) -> None:
    path.write_text('{"campaignAlias": "' + "x" * (1 << 20) + '"}', encoding="utf-8")


@pytest.mark.parametrize(("make", "words"), [
    (_fifo, "is a named pipe"),
    (_dev_zero, "is a symbolic link"),
    (_dangling, "is a symbolic link"),
    (_too_big, "larger than 1048576 bytes"),
])
def test_a_sidecar_gets_the_checks_of_a_batch_file(settings: config.Settings, make: Any, words: str) -> None:
    folder = inbox(settings)
    (folder / "x.txt").write_text(GOOD, encoding="utf-8")
    make(folder / "x.txt.json")
    (folder / "good.txt").write_text(GOOD, encoding="utf-8")
    run_once(settings)
    error = settings.daemon.spool / "default" / "error"
    message = summary_of(error, "x.txt")["errors"][0]
    assert message["code"] == "bad_sidecar" and words in message["message"], message
    assert os.path.lexists(error / "x.txt.json")  # it travelled with its file, unopened
    assert_good_file_went_out(settings)
    assert spool_state(settings)["inbox"] == [] and spool_state(settings)["processing"] == []


@pytest.mark.parametrize(("document", "words"), [
    ('{"scheduledAt": 1e20}', '"scheduledAt" must be a whole number'),
    ('{"scheduledAt": 100000000000000000000}', '"scheduledAt" must be a Unix time in seconds before the year 2100'),
    ('{"expiresAt": 1893456000000}', '"expiresAt" must be a Unix time in seconds before the year 2100'),
    ('{"delayedInMinutes": 1000000000000}', '"delayedInMinutes" must be at most 527040'),
    ('{"expiresInMinutes": 99999999999}', '"expiresInMinutes" must be at most 527040'),
    ('{"scheduledDate": "9999-12-31T23:59:59"}', '"scheduledDate" must be a date between the years 2000 and 2099'),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
])
def test_absurd_sidecar_values_are_ordinary_bad_input(settings: config.Settings, document: str, words: str) -> None:
    folder = inbox(settings)
    (folder / "x.txt").write_text(GOOD, encoding="utf-8")
    (folder / "x.txt.json").write_text(document, encoding="utf-8")
    run_once(settings)
    error = settings.daemon.spool / "default" / "error"
    message = summary_of(error, "x.txt")["errors"][0]
    assert message["code"] == "bad_sidecar" and words in message["message"], message
    assert "Error" not in message["message"]  # no Python exception text


def test_destinations_with_letters_tel_or_a_leading_dash_are_invalid_not_sent(settings: config.Settings) -> None:
    folder = inbox(settings)
    (folder / "letters.txt").write_text(
        "numero;texto;correlationId(opcional);\n55119ABCD1234;Oi;c1;\ntel:5511987654321;Oi;c2;\n"
        "-5511987650001;Oi;c3;\n+55 (11) 98765-0002;ok;c4;\nEOF\n", encoding="utf-8")
    run_once(settings)
    rows = read_report(settings.daemon.spool / "default" / "success" / "letters.txt.report.csv")
    assert [(r["correlationId"], r["status"]) for r in rows] == [
        ("c1", "INVALID"), ("c2", "INVALID"), ("c3", "INVALID"), ("c4", "DELIVERED")]
    assert rows[0]["reason"] == (
        "invalid_destination: \"55119ABCD1234\" is not a phone number: it has 'A', 'B', 'C', 'D'")
    assert rows[3]["destination"] == "5511987650002"


def test_report_cells_that_would_be_spreadsheet_formulas_are_neutralised(settings: config.Settings) -> None:
    folder = inbox(settings)
    (folder / "formula.txt").write_text(
        'numero;texto;correlationId(opcional);\n5511987650020;Oi;=HYPERLINK(A1,B1);\n'
        "5511987650021;Oi;@SUM(A1);\n5511987650022;Oi;+cmd;\n-5511987650023;Oi;-1+2;\n5511987650024;Oi;a=b;\nEOF\n",
        encoding="utf-8")
    run_once(settings)
    report = settings.daemon.spool / "default" / "success" / "formula.txt.report.csv"
    rows = read_report(report)
    assert [r["correlationId"] for r in rows] == [
        "'=HYPERLINK(A1,B1)", "'@SUM(A1)", "'+cmd", "'-1+2", "a=b"]
    assert rows[3]["destination"] == "'-5511987650023" and rows[3]["status"] == "INVALID"
    assert all(not line.split(";")[2].startswith(("=", "+", "-", "@"))
               for line in report.read_text(encoding="utf-8").splitlines())


def test_a_file_mixing_utf8_and_windows_1252_lines_is_refused_naming_the_lines(settings: config.Settings) -> None:
    folder = inbox(settings)
    content = ("numero;texto;correlationId(opcional);\n5511987650010;Olá ação;c1;\n5511987650012;plain;c3;\n"
               ).encode() + "5511987650011;Olá ação;c2;\r\nEOF\n".encode("cp1252")
    (folder / "mixed.txt").write_bytes(content)
    (folder / "good.txt").write_text(GOOD, encoding="utf-8")
    run_once(settings)
    error = settings.daemon.spool / "default" / "error"
    summary = summary_of(error, "mixed.txt")
    assert summary["errors"][0]["code"] == "mixed_encoding"
    assert "UTF-8 on line 2 and Windows-1252 on line 4" in summary["errors"][0]["message"]
    assert read_report(error / "mixed.txt.report.csv") == []  # nothing sent, no mojibake anywhere
    assert (error / "mixed.txt").read_bytes() == content
    assert_good_file_went_out(settings)


def test_a_windows_1252_file_is_still_read_as_windows_1252(settings: config.Settings) -> None:
    folder = inbox(settings)
    (folder / "ansi.txt").write_bytes(
        "numero;texto;correlationId(opcional);\r\n5511987650010;Olá ação;c1;\r\nEOF\r\n".encode("cp1252"))
    run_once(settings)
    summary = summary_of(settings.daemon.spool / "default" / "success", "ansi.txt")
    assert summary["encoding"] == "cp1252" and summary["counts"]["DELIVERED"] == 1


@pytest.mark.parametrize("header", ["numero,texto,numero", "numero;texto;Nome;nome", "phone;Texto;texto"])
def test_a_duplicate_column_name_is_refused_naming_both_columns(settings: config.Settings, header: str) -> None:
    separator = "," if "," in header else ";"
    width = header.count(separator) + 1
    row = separator.join(["5511987650030", "Oi"] + ["x"] * (width - 2))
    folder = inbox(settings)
    (folder / "dup.csv").write_text(f"{header}\n{row}\n", encoding="utf-8")
    run_once(settings)
    summary = summary_of(settings.daemon.spool / "default" / "error", "dup.csv")
    assert summary["errors"][0]["code"] == "duplicate_column"
    assert "twice (columns" in summary["errors"][0]["message"] and "(line 1)" in summary["errors"][0]["message"]


def test_a_sidecar_whose_file_never_comes_goes_to_error_with_a_summary(
        make_config: Any, caplog: pytest.LogCaptureFixture) -> None:
    settings = config.load(make_config(daemon={"orphan_sidecar_seconds": 600}))
    folder = inbox(settings)
    (folder / "orphan.txt.json").write_text("{}", encoding="utf-8")
    (folder / "recent.txt.json").write_text("{}", encoding="utf-8")
    old = os.stat(folder / "orphan.txt.json").st_mtime - 601
    os.utime(folder / "orphan.txt.json", (old, old))
    with caplog.at_level("WARNING"):
        run_once(settings)
    error = settings.daemon.spool / "default" / "error"
    assert (error / "orphan.txt.json").read_text(encoding="utf-8") == "{}"
    summary = summary_of(error, "orphan.txt.json")
    assert summary["state"] == "FAILED" and summary["errors"][0]["code"] == "orphan_sidecar"
    assert "its batch file orphan.txt did not come within 600 s" in summary["errors"][0]["message"]
    assert "orphan.txt did not come within 600 s" in caplog.text
    assert spool_state(settings)["inbox"] == ["recent.txt.json"]  # still waiting for its file


def test_a_sidecar_that_comes_too_late_gets_a_summary_too(settings: config.Settings) -> None:
    folder = inbox(settings)
    (folder / "good.txt").write_text(GOOD, encoding="utf-8")
    run_once(settings)
    (folder / "good.txt.json").write_text("{}", encoding="utf-8")
    run_once(settings)
    summary = summary_of(settings.daemon.spool / "default" / "error", "good.txt.json")
    assert summary["errors"][0]["code"] == "late_sidecar"


def _take_and_finish(settings: config.Settings, name: str, after_take: Any) -> Daemon:
    """Take one inbox file with the daemon's intake, run `after_take` (the writer going on), then step the
    daemon until the batch is out of processing/."""
    daemon = Daemon(settings)
    daemon.start()
    try:
        assert daemon.intake.take("default", inbox(settings) / name, daemon.clock()) is not None
        after_take()
        for _ in range(2000):
            daemon.step()
            if not os.listdir(settings.daemon.spool / "default" / "processing"):
                break
        else:
            raise AssertionError("the batch never left processing/")
    finally:
        daemon.shutdown()
    return daemon


def test_a_writer_that_goes_on_after_the_file_was_read_sends_the_file_to_error_saying_so(
        settings: config.Settings) -> None:
    head = "numero;texto;correlationId(opcional);\n5511987650040;primeira;c1;\n"
    (inbox(settings) / "slow.txt").write_text(head, encoding="utf-8")  # the writer paused at a line's end
    processing = settings.daemon.spool / "default" / "processing" / "slow.txt"

    def writer_goes_on() -> None:
        with open(processing, "a", encoding="utf-8") as out:  # its open file was renamed under it
            out.write("5511987650041;segunda;c2;\nEOF\n")

    _take_and_finish(settings, "slow.txt", writer_goes_on)
    error = settings.daemon.spool / "default" / "error"
    summary = summary_of(error, "slow.txt")
    assert summary["errors"][0]["code"] == "file_changed"
    assert f"the file grew from {len(head)} to {len(head) + 30} bytes after it was read" in summary["errors"][0][
        "message"]
    [row] = read_report(error / "slow.txt.report.csv")  # the row read went out; the one added after did not
    assert row["correlationId"] == "c1" and row["status"] in ("ACCEPTED", "SENT", "DELIVERED")
    assert (error / "slow.txt").read_text(encoding="utf-8").endswith("EOF\n")  # the whole file is kept


def test_a_file_that_changes_while_it_is_read_is_refused_before_anything_is_sent(settings: config.Settings) -> None:
    rows = "".join(f"55119876{n:05};texto {n};c{n};\n" for n in range(3 * INSERT_CHUNK))
    (inbox(settings) / "big.txt").write_text("numero;texto;correlationId(opcional);\n" + rows, encoding="utf-8")
    processing = settings.daemon.spool / "default" / "processing" / "big.txt"
    database = settings.daemon.spool / "remessa.sqlite"
    appended = threading.Event()

    def stored() -> int:
        try:
            with closing(sqlite3.connect(database, timeout=5)) as db:
                return int(db.execute("SELECT count(*) FROM messages").fetchone()[0])
        except sqlite3.OperationalError:  # the schema is not there yet
            return 0

    def writer() -> None:  # appends once the load has stored its first rows (the file was read from then on)
        while not stored():
            time.sleep(0.005)
        with open(processing, "a", encoding="utf-8") as out:
            out.write("5511999999999;late;late;\nEOF\n")
        appended.set()

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    _take_and_finish(settings, "big.txt", lambda: appended.wait(30))
    error = settings.daemon.spool / "default" / "error"
    summary = summary_of(error, "big.txt")
    assert summary["errors"][0]["code"] == "file_changed", summary["errors"]
    # Caught during the load (nothing stored, nothing sent) or, if the load had just ended, at the finish.
    assert "late" not in {r["correlationId"] for r in read_report(error / "big.txt.report.csv")}


@pytest.mark.parametrize(("content", "code"), [
    ("numero;texto;correlationId(opcional);\n5511987650040;mensagem num", "incomplete_file"),
    ("numero;texto;correlationId(opcional);\n5511987650040;completa;c1;\n", "missing_eof"),
])
def test_sms_txt_without_its_end_is_refused(make_config: Any, content: str, code: str) -> None:
    settings = config.load(make_config(profiles={"default": {"require_eof": True}}))
    (inbox(settings) / "cut.txt").write_text(content, encoding="utf-8")
    run_once(settings)
    error = settings.daemon.spool / "default" / "error"
    summary = summary_of(error, "cut.txt")
    assert summary["errors"][0]["code"] == code and "(line 2)" in summary["errors"][0]["message"]
    assert read_report(error / "cut.txt.report.csv") == []  # nothing sent, not even the cut row


def test_a_daemon_fed_every_hostile_file_at_once_keeps_going_and_sorts_them(settings: config.Settings) -> None:
    folder = inbox(settings)
    header = "numero;texto;correlationId(opcional);\n"
    with open(os.fsencode(folder) + b"/bad\xff\xfe.txt", "w", encoding="utf-8") as out:
        out.write(GOOD)
    hostile = {
        "n" * 251 + ".txt": (GOOD, None, "bad_name"),
        "fifo.txt": (GOOD, _fifo, "bad_sidecar"),
        "zero.txt": (GOOD, _dev_zero, "bad_sidecar"),
        "sched.txt": (GOOD, '{"scheduledAt": 100000000000000000000}', "bad_sidecar"),
        "nest.txt": (GOOD, "[" * 100_000 + "]" * 100_000, "bad_sidecar"),
        "mixed.txt": ((header + "5511987650010;Olá;c1;\n").encode() + "5511987650011;Olá;c2;\nEOF\n".encode("cp1252"),
                      None, "mixed_encoding"),
        "dup.csv": ("numero,texto,numero\n5511987650030,Oi,5511987650031\n", None, "duplicate_column"),
        "cut.txt": (header + "5511987650040;mensagem num", None, "incomplete_file"),
    }
    for name, (content, sidecar, _) in hostile.items():
        path = folder / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
        if callable(sidecar):
            sidecar(folder / f"{name}.json")
        elif sidecar is not None:
            (folder / f"{name}.json").write_text(sidecar, encoding="utf-8")
    goods = [f"good{n}.txt" for n in range(3)]
    for name in goods:
        (folder / name).write_text(GOOD, encoding="utf-8")
    run_once(settings)
    state = spool_state(settings)
    assert state["inbox"] == [] and state["processing"] == []
    success = settings.daemon.spool / "default" / "success"
    for name in goods:
        assert [row["status"] for row in read_report(success / f"{name}.report.csv")] == ["DELIVERED"]
    error = settings.daemon.spool / "default" / "error"
    assert summary_of(error, "bad\\xff\\xfe.txt")["errors"][0]["code"] == "bad_name"
    for name, (_, _, code) in hostile.items():
        [shown] = [n for n in state["error"] if n.startswith(name[:20]) and n.endswith(".summary.json")]
        assert json.loads((error / shown).read_text(encoding="utf-8"))["errors"][0]["code"] == code, name
