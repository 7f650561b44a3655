"""`remessa validate` judges a file as the daemon will (issue 10, item 13): exit 1 whenever the daemon would
refuse the file or send none of it, a one-line reason, never a traceback, never a hang (a FIFO)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from remessa import config

GOOD = "numero;texto;correlationId(opcional);\n5511987654321;Oi;c1;\nEOF\n"


def validate(settings: config.Settings, path: Path | bytes, *more: str) -> subprocess.CompletedProcess[str]:
    """The real command in its own process (a hang is a timeout, a traceback is on its stderr)."""
    return subprocess.run(
        [sys.executable, "-m", "remessa.cli", "--config", str(settings.source), "validate", os.fsdecode(path), *more],
        capture_output=True, text=True, timeout=60, errors="backslashreplace",
    )


def _sidecar(document: str) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        (folder / "x.txt").write_text(GOOD, encoding="utf-8")
        (folder / "x.txt.json").write_text(document, encoding="utf-8")
        return folder / "x.txt"
    return make


def _fifo_file(folder: Path) -> Path:
    os.mkfifo(folder / "x.txt")
    return folder / "x.txt"


def _fifo_sidecar(folder: Path) -> Path:
    (folder / "x.txt").write_text(GOOD, encoding="utf-8")
    os.mkfifo(folder / "x.txt.json")
    return folder / "x.txt"


def _long_name(folder: Path) -> Path:
    path = folder / ("n" * 251 + ".txt")
    path.write_text(GOOD, encoding="utf-8")
    return path


def _media_outside(folder: Path) -> Path:
    path = folder / "w.txt"
    (folder.parent / "segredo.png").write_bytes(b"\x89PNG")
    path.write_text(";;;TEMPLATE;promo;whatsapp:hsm:ecommerce:movile;pt_BR;DETERMINISTIC;nome\n"
                    "IMAGE;PATH;../segredo.png;PNG\nphone;nome\n5519981560597;Ana\n", encoding="utf-8")
    return path


def _no_valid_row(folder: Path) -> Path:
    path = folder / "x.txt"
    path.write_text("numero;texto;correlationId(opcional);\n2312312;Oi;c1;\nEOF\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(("make", "words"), [
    (_sidecar('{"scheduledAt": 1e20}'), 'bad_sidecar: x.txt.json: "scheduledAt" must be a whole number'),
    (_sidecar('{"delayedInMinutes": 1000000000000}'), '"delayedInMinutes" must be at most'),
    (_sidecar("[" * 100_000 + "]" * 100_000), "nested too deeply"),
    (_sidecar('{"timeZone": "Mars/Olympus"}'), "unknown_timezone"),
    (_sidecar('{"scheduledAt": 1, "delayedInMinutes": 2}'), "conflicting_options"),
    (_fifo_file, "not_regular_file: x.txt is a named pipe"),
    (_fifo_sidecar, "bad_sidecar: x.txt.json: cannot be taken as options: x.txt.json is a named pipe"),
    (_long_name, "bad_name: "),
    (_media_outside, "bad_media"),
    (_no_valid_row, "no row would be sent"),
])
def test_validate_exits_1_with_the_reason_the_daemon_would_give(
    make_config: Callable[..., Path], tmp_path: Path, make: Callable[[Path], Path], words: str
) -> None:
    (tmp_path / "media").mkdir()  # a media folder exists; the PATH media is outside it
    settings = config.load(make_config(daemon={"media_dir": str(tmp_path / "media")}))
    folder = tmp_path / "files"
    folder.mkdir()
    done = validate(settings, make(folder))
    assert done.returncode == 1, done
    assert words in done.stderr, done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_validate_shows_a_name_that_is_not_utf8_escaped(settings: config.Settings, tmp_path: Path) -> None:
    name = os.fsencode(tmp_path) + b"/bad\xff.txt"
    with open(name, "w", encoding="utf-8") as out:
        out.write(GOOD)
    done = validate(settings, name)
    assert done.returncode == 1 and "bad\\xff.txt: bad_name:" in done.stderr and "Traceback" not in done.stderr


def test_validate_uses_the_sidecars_message_text(settings: config.Settings, tmp_path: Path) -> None:
    batch = tmp_path / "lista.csv"
    batch.write_text("numero;nome\n5511987654321;Ana\n", encoding="utf-8")
    (tmp_path / "lista.csv.json").write_text('{"defaultValues": {"messageText": "Oi {nome}"}}', encoding="utf-8")
    done = validate(settings, batch)
    assert done.returncode == 0, done.stderr
    assert "2;5511987654321;QUEUED;1;GSM7;" in done.stdout
