"""End to end on the sandbox: files dropped into a real spool come out in success/ or error/ with reports."""

from __future__ import annotations

import json
import os
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from conftest import read_report, wait_for
from remessa import config
from remessa.cli import main
from remessa.daemon import Daemon

SMS = """numero;texto;correlationId(opcional);
5511987654321;Olá Maria, sua fatura vence amanhã;fatura-1;
+55 (19) 99771-2322;Mensagem com ; ponto e vírgula;;
2312312;número errado;x;
5511987650202;recusada pelo provedor;;
5511987650104;não entregue;;
EOF
"""


def run_once(settings: config.Settings) -> None:
    Daemon(settings).run(once=True)


def drop(settings: config.Settings, name: str, content: str | bytes, profile: str = "default") -> Path:
    inbox = settings.daemon.spool / profile / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    tmp = inbox / f".{name}.tmp"
    tmp.write_bytes(content.encode() if isinstance(content, str) else content)
    os.utime(tmp, (time.time() - 60, time.time() - 60))  # long settled: no need to wait
    target = inbox / name
    os.rename(tmp, target)
    return target


def test_sms_file_ends_in_success_with_a_line_per_row(settings: config.Settings) -> None:
    drop(settings, "3486.20261123.01.txt", SMS)
    run_once(settings)
    success = settings.daemon.spool / "default" / "success"
    assert (success / "3486.20261123.01.txt").read_text(encoding="utf-8") == SMS
    rows = read_report(success / "3486.20261123.01.txt.report.csv")
    assert [(r["line"], r["status"]) for r in rows] == [
        ("2", "DELIVERED"), ("3", "DELIVERED"), ("4", "INVALID"), ("5", "REJECTED"), ("6", "UNDELIVERED"),
    ]
    first = rows[0]
    assert first["destination"] == "5511987654321" and first["correlationId"] == "fatura-1"
    assert (first["sentStatusCode"], first["sentStatus"]) == ("2", "SENT_SUCCESS")
    assert (first["deliveredStatusCode"], first["deliveredStatus"]) == ("4", "DELIVERED_SUCCESS")
    assert len(first["messageId"]) == 36 and first["parts"] == "1"
    assert first["submittedAt"].startswith("20") and first["deliveredAt"]
    assert rows[1]["destination"] == "5519997712322"
    assert rows[2]["reason"] == 'invalid_destination: "2312312" is not a mobile number'
    assert (rows[3]["sentStatusCode"], rows[3]["sentStatus"]) == ("202", "INVALID_DESTINATION_NUMBER")
    assert rows[3]["messageId"] == ""
    assert (rows[4]["deliveredStatusCode"], rows[4]["deliveredStatus"]) == ("104", "NOT_DELIVERED")

    summary = json.loads((success / "3486.20261123.01.txt.summary.json").read_text())
    assert summary["counts"]["DELIVERED"] == 2 and summary["counts"]["INVALID"] == 1
    assert summary["subaccount"] == "3486" and summary["state"] == "SETTLED"
    assert summary["reasons"]["invalid_destination"] == 1
    assert summary["receivedAt"] and summary["settledAt"]

    retry = (success / "3486.20261123.01.txt.retry.txt").read_text(encoding="utf-8")
    assert retry == (
        "numero;texto;correlationId(opcional);\n2312312;número errado;x;\n"
        "5511987650202;recusada pelo provedor;;\n5511987650104;não entregue;;\nEOF\n"
    )
    assert not list((settings.daemon.spool / "default" / "processing").iterdir())


def test_the_retry_file_is_written_as_the_input_was_windows_1252_with_crlf(settings: config.Settings) -> None:
    drop(settings, "lote.txt", SMS.replace("\n", "\r\n").encode("cp1252"))  # a spreadsheet export on Windows
    run_once(settings)
    retry = (settings.daemon.spool / "default" / "success" / "lote.txt.retry.txt").read_bytes()
    assert retry == (
        "numero;texto;correlationId(opcional);\r\n2312312;número errado;x;\r\n"
        "5511987650202;recusada pelo provedor;;\r\n5511987650104;não entregue;;\r\nEOF\r\n"
    ).encode("cp1252")


def test_a_sidecar_that_comes_after_its_file_is_moved_to_error_with_a_warning(
        settings: config.Settings, caplog: pytest.LogCaptureFixture) -> None:
    drop(settings, "lote.txt", SMS)
    run_once(settings)
    inbox = settings.daemon.spool / "default" / "inbox"
    (inbox / "lote.txt.json").write_text('{"priority": 5}', encoding="utf-8")  # too late: the file is done
    (inbox / "depois.txt.json").write_text('{"priority": 5}', encoding="utf-8")  # its file has not come yet
    with caplog.at_level("WARNING"):
        run_once(settings)
    late = settings.daemon.spool / "default" / "error" / "lote.txt.json"
    assert late.read_text(encoding="utf-8") == '{"priority": 5}'
    assert not (inbox / "lote.txt.json").exists() and (inbox / "depois.txt.json").exists()
    assert "came after its file lote.txt was taken, so its options were not applied" in caplog.text


def test_retention_deletes_old_messages_and_leaves_the_report_alone(settings: config.Settings, capsys) -> None:
    drop(settings, "lote.txt", SMS)
    run_once(settings)
    report = settings.daemon.spool / "default" / "success" / "lote.txt.report.csv"
    written = report.read_bytes()
    later = time.time() + (settings.daemon.retention_days + 1) * 86400
    Daemon(settings, clock=lambda: later).run(once=True)  # started again 91 days on
    assert main(["--config", str(settings.source), "report", "lote.txt"]) == 1
    assert "its messages were deleted after daemon.retention_days" in capsys.readouterr().err
    assert report.read_bytes() == written  # the report written at the end stays as it was


def test_csv_template_rows_are_rendered(make_config) -> None:
    settings = config.load(make_config(profiles={"default": {"message_text": "Olá {nome}, código {codigo}"}}))
    drop(settings, "lista.csv", "telefone,nome,codigo\n11987654321,Ana,123\n11987654322,,124\n")
    run_once(settings)
    rows = read_report(settings.daemon.spool / "default" / "success" / "lista.csv.report.csv")
    assert [r["status"] for r in rows] == ["DELIVERED", "INVALID"]
    assert rows[1]["reason"].startswith("template_empty_column:") and "nome" in rows[1]["reason"]


def test_whatsapp_template_file_is_delivered(settings: config.Settings) -> None:
    content = (
        " ; ; ;TEMPLATE;chatclub_welcome;whatsapp:hsm:ecommerce:movile;pt_BR;DETERMINISTIC;nome|empresa\n"
        "phone;nome;empresa\n5519981560597;Nome1;Wavy\n"
    )
    drop(settings, "PROJETO1.20261123.01.txt", content)
    run_once(settings)
    folder = settings.daemon.spool / "default" / "success"
    rows = read_report(folder / "PROJETO1.20261123.01.txt.report.csv")
    assert [(r["line"], r["status"]) for r in rows] == [("3", "DELIVERED")]
    summary = json.loads((folder / "PROJETO1.20261123.01.txt.summary.json").read_text())
    assert summary["format"] == "whatsapp" and summary["subaccount"] == "PROJETO1"


@pytest.mark.parametrize(
    ("content", "code", "words"),
    [
        (b"", "empty", ("the file is empty",)),
        (b"numero;texto;correlationId(opcional);\n", "empty", ("no rows after the header",)),
        (b"\x00\x01\x02\xff\xfe garbage \x00" * 50, "unreadable", ("binary content: NUL byte at offset 0",)),
        (b"nome;idade\nAna;30\n", "unknown_format",
         ("the first line is not a WhatsApp template line", "an SMS TXT header", "a CSV header with a phone column",
          "'nome;idade' (line 1)")),
    ],
)
def test_file_level_errors_go_to_error_with_report(
    settings: config.Settings, content: bytes, code: str, words: tuple[str, ...]
) -> None:
    drop(settings, "ruim.txt", content)
    run_once(settings)
    error = settings.daemon.spool / "default" / "error"
    assert (error / "ruim.txt").read_bytes() == content
    assert read_report(error / "ruim.txt.report.csv") == []
    summary = json.loads((error / "ruim.txt.summary.json").read_text())
    assert summary["state"] == "FAILED" and [e["code"] for e in summary["errors"]] == [code]
    # The message names the code and the file, then says what is wrong with this one.
    message = summary["errors"][0]["message"]
    assert message.startswith(f"{code}: ruim.txt: {words[0]}"), message
    assert all(w in message for w in words), message


def test_file_with_no_valid_row_goes_to_error(settings: config.Settings) -> None:
    drop(settings, "x.txt", "123;oi;;\n456;oi;;\nEOF\n")
    run_once(settings)
    rows = read_report(settings.daemon.spool / "default" / "error" / "x.txt.report.csv")
    assert [r["status"] for r in rows] == ["INVALID", "INVALID"]


def test_a_name_already_processed_is_refused(settings: config.Settings) -> None:
    drop(settings, "3486.20261123.01.txt", SMS)
    run_once(settings)
    drop(settings, "3486.20261123.01.txt", SMS)
    run_once(settings)
    error = settings.daemon.spool / "default" / "error"
    assert (error / "3486.20261123.01.txt").read_text(encoding="utf-8") == SMS
    summary = json.loads((error / "3486.20261123.01.txt.summary.json").read_text())
    assert summary["errors"][0]["code"] == "duplicate_name"
    # The first batch's results are untouched.
    success = settings.daemon.spool / "default" / "success"
    assert len(read_report(success / "3486.20261123.01.txt.report.csv")) == 5


def test_a_symlink_is_refused_with_a_reason(settings: config.Settings, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.txt"
    target.write_text(SMS, encoding="utf-8")
    inbox = settings.daemon.spool / "default" / "inbox"
    inbox.mkdir(parents=True)
    (inbox / "link.txt").symlink_to(target)
    run_once(settings)
    error = settings.daemon.spool / "default" / "error"
    assert (error / "link.txt").is_symlink() and target.read_text(encoding="utf-8") == SMS
    summary = json.loads((error / "link.txt.summary.json").read_text())
    assert summary["errors"][0]["code"] == "not_regular_file"
    assert "symbolic link" in summary["errors"][0]["message"]


def test_part_file_is_taken_only_once_renamed(running: Daemon, settings: config.Settings) -> None:
    inbox = settings.daemon.spool / "default" / "inbox"
    part = inbox / "lote.txt.part"
    part.write_text(SMS, encoding="utf-8")
    os.utime(part, (time.time() - 60, time.time() - 60))
    time.sleep(settings.daemon.settle_seconds * 3)  # long enough to be taken, were it eligible
    assert part.exists() and not running.store.batches()
    os.rename(part, inbox / "lote.txt")
    success = settings.daemon.spool / "default" / "success" / "lote.txt.summary.json"
    wait_for(lambda: success.exists() and json.loads(success.read_text())["state"] == "SETTLED")
    assert json.loads(success.read_text())["counts"]["DELIVERED"] == 2


def test_a_file_renamed_in_from_outside_the_inbox_is_taken_without_settling(make_config, tmp_path: Path) -> None:
    settings = config.load(make_config(daemon={"settle_seconds": 3600.0}))  # a file left to settle waits an hour
    settings.daemon.spool.mkdir(parents=True, exist_ok=True)
    daemon = Daemon(settings)
    thread = threading.Thread(target=daemon.run, name="daemon", daemon=True)
    thread.start()
    try:
        inbox = settings.daemon.spool / "default" / "inbox"
        wait_for(lambda: daemon.watcher.observer.is_alive() and inbox.is_dir())
        outside = tmp_path / "lote.txt"  # written elsewhere on the same filesystem, then renamed in
        outside.write_text(SMS, encoding="utf-8")
        os.rename(outside, inbox / "lote.txt")
        success = settings.daemon.spool / "default" / "success" / "lote.txt.summary.json"
        wait_for(success.exists)  # the rename told it was complete: no settle interval
    finally:
        daemon.stop()
        thread.join(timeout=30)


def test_an_unexpected_error_while_sending_pauses_the_provider_and_the_daemon_goes_on(
        make_config, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from remessa.channels.embedded import SandboxChannel

    real, failures = SandboxChannel.send, []

    def send_once_broken(self: SandboxChannel, messages: Any, report: Any = None) -> Any:
        if not failures:
            failures.append(len(messages))
            raise RuntimeError("a bug in a channel")
        return real(self, messages, report)

    monkeypatch.setattr(SandboxChannel, "send", send_once_broken)
    settings = config.load(make_config(profiles={"default": {"chunk_size": 2}}))
    drop(settings, "lote.txt", SMS)
    with caplog.at_level("ERROR"):
        run_once(settings)
    assert failures == [2]
    assert "a bug in a channel" in caplog.text and "Traceback" in caplog.text
    rows = read_report(settings.daemon.spool / "default" / "success" / "lote.txt.report.csv")
    assert [r["status"] for r in rows] == ["DELIVERED", "DELIVERED", "INVALID", "REJECTED", "UNDELIVERED"]
    # the chunk the bug hit was sent again after the pause, and says so
    assert all(r["reason"].startswith("in_flight_retried: unexpected error while sending") for r in rows[:2])


def test_file_written_slowly_in_place_is_taken_whole(running: Daemon, settings: config.Settings) -> None:
    inbox = settings.daemon.spool / "default" / "inbox"
    lines = [f"55119876{n:05d};mensagem {n};c{n};\n" for n in range(20)]
    with open(inbox / "devagar.txt", "w", encoding="utf-8") as f:
        for line in lines:
            f.write(line)
            f.flush()
            time.sleep(settings.daemon.settle_seconds / 4)
        f.write("EOF\n")
    summary = settings.daemon.spool / "default" / "success" / "devagar.txt.summary.json"
    wait_for(lambda: summary.exists() and json.loads(summary.read_text())["state"] == "SETTLED")
    assert json.loads(summary.read_text())["rows"] == 20
    assert len(running.store.batches()) == 1


def test_status_and_report_commands(settings: config.Settings, capsys) -> None:

    drop(settings, "3486.20261123.01.txt", SMS)
    run_once(settings)
    assert main(["--config", str(settings.source), "status", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown[0]["state"] == "SETTLED" and shown[0]["counts"]["DELIVERED"] == 2
    report = settings.daemon.spool / "default" / "success" / "3486.20261123.01.txt.report.csv"
    report.unlink()
    assert main(["--config", str(settings.source), "report", "3486.20261123.01.txt"]) == 0
    assert len(read_report(report)) == 5
    assert main(["--config", str(settings.source), "report", "nope.txt"]) == 1


@pytest.mark.parametrize(
    ("location", "ok", "words"),
    [("logo.png", True, ""), ("../segredo.png", False, "outside the media folder"),
     ("falta.png", False, "does not exist")],
)
def test_whatsapp_path_media_must_be_inside_the_media_folder(
    make_config, tmp_path: Path, location: str, ok: bool, words: str
) -> None:
    media = tmp_path / "media"
    media.mkdir()
    (media / "logo.png").write_bytes(b"\x89PNG")
    (tmp_path / "segredo.png").write_bytes(b"\x89PNG")
    settings = config.load(make_config(daemon={"media_dir": str(media)}))
    content = (
        ";;;TEMPLATE;promo;whatsapp:hsm:ecommerce:movile;pt_BR;DETERMINISTIC;nome\n"
        f"IMAGE;PATH;{location};PNG\nphone;nome\n5519981560597;Ana\n"
    )
    drop(settings, "midia.txt", content)
    run_once(settings)
    folder = settings.daemon.spool / "default" / ("success" if ok else "error")
    summary = json.loads((folder / "midia.txt.summary.json").read_text())
    if ok:
        assert summary["counts"]["DELIVERED"] == 1
    else:
        assert summary["errors"][0]["code"] == "bad_media" and words in summary["errors"][0]["message"]


def test_a_file_that_leaves_the_inbox_before_it_is_taken_leaves_nothing_behind(settings: config.Settings) -> None:
    daemon = Daemon(settings)
    daemon.start()
    try:
        inbox = settings.daemon.spool / "default" / "inbox"
        assert daemon.intake.take("default", inbox / "gone.txt", time.time()) is None  # deleted after the scan
        assert daemon.store.batches() == []  # no orphan RECEIVING batch: a re-drop is taken as new
        drop(settings, "gone.txt", "numero;texto;correlationId(opcional);\n5511987654321;Oi;c1;\nEOF\n")
        while daemon.step():
            pass
        [batch] = daemon.store.batches()
        assert batch.name == "gone.txt" and batch.error_code == ""
    finally:
        daemon.shutdown()


def test_run_once_waits_for_the_batches_it_took_not_for_an_earlier_runs(settings: config.Settings) -> None:
    earlier = Daemon(settings)
    earlier.start()
    hour = datetime.now(UTC).hour
    later_hours = [(hour + 6) % 24]  # a window hours away: this batch waits
    inbox = settings.daemon.spool / "default" / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / "next-week.txt.json").write_text(json.dumps({"timeWindow": later_hours, "timeZone": "UTC"}))
    drop(settings, "next-week.txt", "numero;texto;correlationId(opcional);\n5511987654321;Oi;c1;\nEOF\n")
    while earlier.step():
        pass
    earlier.shutdown()

    drop(settings, "now.txt", "numero;texto;correlationId(opcional);\n5511987654322;Oi;c2;\nEOF\n")
    once = Daemon(settings)
    runner = threading.Thread(target=once.run, kwargs={"once": True}, daemon=True)
    runner.start()
    runner.join(timeout=30)
    if runner.is_alive():
        once.stop()
        runner.join(timeout=20)
        raise AssertionError("run --once kept waiting for a batch an earlier run left waiting for its window")
    report_rows = read_report(settings.daemon.spool / "default" / "success" / "now.txt.report.csv")
    assert [r["status"] for r in report_rows] == ["DELIVERED"]
    assert (settings.daemon.spool / "default" / "processing" / "next-week.txt").exists()  # still waiting
