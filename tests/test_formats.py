"""open_batch as a whole: encodings, line endings, file-level errors, format detection, file names, streaming."""

from __future__ import annotations

import codecs
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from remessa.errors import BatchFileError
from remessa.intake.formats import open_batch, source, subaccount_from_name

SMS = "numero;texto;correlationId(opcional);\n5511900000000;mensagem 1;;\n5519900000000;mensagem 2;c2;\nEOF\n"


def write(tmp_path: Path, content: str | bytes, name: str = "3486.20170101.01.txt") -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def refused(path: Path, **kwargs: str) -> BatchFileError:
    with pytest.raises(BatchFileError) as caught:
        parsed = open_batch(path, **kwargs)
        list(parsed.rows)
    assert path.name in str(caught.value)
    return caught.value


# --- encodings -------------------------------------------------------------------------------------------


def test_utf8_without_bom(tmp_path: Path) -> None:
    parsed = open_batch(write(tmp_path, "5511900000000;Promoção de verão;;\n"))
    assert parsed.info.encoding == "utf-8"
    assert parsed.info.notes == ()
    assert [row.text for row in parsed.rows] == ["Promoção de verão"]


def test_utf8_bom_is_not_part_of_the_header_or_the_first_row(tmp_path: Path) -> None:
    parsed = open_batch(write(tmp_path, codecs.BOM_UTF8 + SMS.encode()))
    assert parsed.info.encoding == "utf-8-sig"
    assert parsed.info.preamble == ("numero;texto;correlationId(opcional);",)
    assert [row.destination for row in parsed.rows] == ["5511900000000", "5519900000000"]


def test_bom_before_a_first_row_without_header(tmp_path: Path) -> None:
    parsed = open_batch(write(tmp_path, codecs.BOM_UTF8 + b"5511900000000;oi;;\n"))
    assert [row.destination for row in parsed.rows] == ["5511900000000"]


def test_windows_1252_is_read_and_noted(tmp_path: Path) -> None:
    content = "numero;texto;correlationId(opcional);\n5511900000000;Promoção — só hoje!;;\nEOF\n"
    parsed = open_batch(write(tmp_path, content.encode("cp1252")))
    assert parsed.info.encoding == "cp1252"
    assert parsed.info.notes == ("not valid UTF-8: read as Windows-1252",)
    assert [row.text for row in parsed.rows] == ["Promoção — só hoje!"]


def test_invalid_utf8_far_into_the_file_still_reads_everything_as_windows_1252(tmp_path: Path) -> None:
    rows = "".join(f"55119{n:08d};mensagem {n};;\n" for n in range(60_000))  # > 1 MiB before the bad byte
    path = write(tmp_path, rows.encode() + "5511900000000;ação;;\n".encode("cp1252"))
    parsed = open_batch(path)
    assert parsed.info.encoding == "cp1252"
    assert list(parsed.rows)[-1].text == "ação"


def test_bytes_that_are_neither_utf8_nor_windows_1252(tmp_path: Path) -> None:
    error = refused(write(tmp_path, b"5511900000000;ol\xe1 \x81;;\n"))
    assert error.code == "unreadable"
    assert "byte 0x81 at offset 18" in str(error)


def test_utf16_is_refused_with_a_hint(tmp_path: Path) -> None:
    error = refused(write(tmp_path, "5511900000000;oi;;\n".encode("utf-16")))
    assert error.code == "unreadable"
    assert "UTF-16" in str(error)


# --- line endings ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"])
def test_line_endings(tmp_path: Path, ending: str) -> None:
    parsed = open_batch(write(tmp_path, SMS.replace("\n", ending)))
    rows = list(parsed.rows)
    assert [(row.line, row.raw) for row in rows] == [
        (2, "5511900000000;mensagem 1;;"),
        (3, "5519900000000;mensagem 2;c2;"),
    ]
    assert parsed.info.preamble == ("numero;texto;correlationId(opcional);",)


def test_mixed_line_endings_count_physical_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "5511900000001;a;;\r\n5511900000002;b;;\n\r\n5511900000003;c;;\r\nEOF")
    assert [(row.line, row.text) for row in open_batch(path).rows] == [(1, "a"), (2, "b"), (4, "c")]


def test_lines_across_read_chunks(tmp_path: Path) -> None:
    count = 50_000  # about 1.5 MiB: lines, and CRLF pairs, straddle the 1 MiB reads
    path = write(tmp_path, "".join(f"55119{n:08d};mensagem número {n};c{n};\r\n" for n in range(count)))
    rows = list(open_batch(path).rows)
    assert len(rows) == count
    assert all(row.line == n + 1 and row.correlation_id == f"c{n}" for n, row in enumerate(rows))
    assert all(row.text == f"mensagem número {n}" for n, row in enumerate(rows))


# --- file-level errors -----------------------------------------------------------------------------------


def test_empty_file(tmp_path: Path) -> None:
    error = refused(write(tmp_path, b""))
    assert (error.code, error.sentence) == ("empty", "3486.20170101.01.txt: the file is empty")


def test_only_blank_lines(tmp_path: Path) -> None:
    assert refused(write(tmp_path, "\n  \r\n\t\n")).code == "empty"


@pytest.mark.parametrize("format", ["auto", "sms_txt"])
def test_header_only(tmp_path: Path, format: str) -> None:
    error = refused(write(tmp_path, "numero;texto;correlationId(opcional);\nEOF\n"), format=format)
    assert error.code == "empty"
    assert "no rows after the header" in str(error)


def test_binary_garbage(tmp_path: Path) -> None:
    error = refused(write(tmp_path, b"PK\x03\x04\x14\x00\x06\x00garbage"))
    assert error.code == "unreadable"
    assert "binary content: NUL byte at offset 5" in str(error)


def test_nul_byte_after_the_first_mebibyte(tmp_path: Path) -> None:
    error = refused(write(tmp_path, b"5511900000000;oi;;\n" * 60_000 + b"\x00"))
    assert error.code == "unreadable"
    assert f"NUL byte at offset {19 * 60_000}" in str(error)


def test_missing_file_and_directory_are_unreadable(tmp_path: Path) -> None:
    assert refused(tmp_path / "gone.txt").code == "unreadable"
    (tmp_path / "dir.txt").mkdir()
    assert refused(tmp_path / "dir.txt").code == "unreadable"


def test_unknown_format_names_file_line_and_what_was_expected(tmp_path: Path) -> None:
    error = refused(write(tmp_path, "\nnome;mensagem\nAna;oi\n", name="lista.csv"))
    assert error.code == "unknown_format"
    assert error.line == 2
    assert "lista.csv" in str(error) and "'nome;mensagem'" in str(error)
    assert "telefone" in str(error)  # says which phone columns would have been recognised


def test_a_forced_format_that_does_not_exist(tmp_path: Path) -> None:
    assert refused(write(tmp_path, SMS), format="xml").code == "unknown_format"


# --- detection -------------------------------------------------------------------------------------------

WHATSAPP = ";;;TEMPLATE;welcome;ns;pt_BR;DETERMINISTIC;nome\nphone;nome\n5519981560597;Ana\n"


@pytest.mark.parametrize(
    ("content", "message_text", "expected"),
    [
        (SMS, "", "sms_txt"),
        ("numero;texto\n5511900000000;oi\n", "", "sms_txt"),
        ("NÚMERO;Texto;CorrelationId;\n5511900000000;oi;;\n", "", "sms_txt"),
        ('"numero";"texto";;\n5511900000000;oi;;\n', "Oi {nome}", "sms_txt"),
        ("numero;texto;nome\n5511900000000;oi;Ana\n", "", "csv"),
        ("5511900000000;oi;;\n", "", "sms_txt"),
        ("+55 (11) 90000-0000;oi\n", "", "sms_txt"),
        ("telefone;texto\n5511900000000;oi\n", "", "csv"),
        ("numero;nome\n5511900000000;Ana\n", "Oi {nome}", "csv"),
        ("numero,texto\n5511900000000,oi\n", "", "csv"),
        ("Celular\tMessageText\n5511900000000\toi\n", "", "csv"),
        ("nome;destino;texto\nAna;5511900000000;oi\n", "", "csv"),
        (WHATSAPP, "", "whatsapp"),
        ("2020-01-21;16:00;17:00;HSM;welcome;pt_BR;;nome\nphone;nome\n5519981560597;Ana\n", "", "whatsapp"),
    ],
)
def test_detection(tmp_path: Path, content: str, message_text: str, expected: str) -> None:
    assert open_batch(write(tmp_path, content), message_text=message_text).info.format == expected


def test_a_csv_header_without_text_or_template_says_so(tmp_path: Path) -> None:
    error = refused(write(tmp_path, "telefone;nome\n5511900000000;Ana\n"))
    assert error.code == "no_text"


# --- file names ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "subaccount"),
    [
        ("3486.20170101.01.txt", "3486"),
        ("PROJETO1.20170101.01.txt", "PROJETO1"),
        ("PROJETO1.20170101.01.csv", "PROJETO1"),
        ("PROJETO1.20170101.01", "PROJETO1"),
        ("vendas-sp.20240229.7.txt", "vendas-sp"),
        ("3486.20170230.01.txt", None),  # 30 February
        ("3486.2017011.01.txt", None),
        ("3486.20170101.txt", None),
        ("campanha.txt", None),
        ("3486.20170101.01.txt.json", None),
        (".20170101.01.txt", None),
    ],
)
def test_subaccount_from_name(name: str, subaccount: str | None) -> None:
    assert subaccount_from_name(name) == subaccount


# --- streaming -------------------------------------------------------------------------------------------


def test_rows_are_a_lazy_stream_in_bounded_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(source, "CHUNK", 1 << 16)
    path = write(tmp_path, "".join(f"55119{n:08d};mensagem de teste {n};c{n};\n" for n in range(40_000)))
    tracemalloc.start()
    try:
        parsed = open_batch(path)
        assert isinstance(parsed.rows, Iterator)
        count = sum(1 for _ in parsed.rows)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 40_000
    assert path.stat().st_size > 1_800_000
    assert peak < 800_000  # about 450 kB: one 64 KiB block of lines and its rows, whatever the file size


def test_abandoning_the_rows_closes_the_file(tmp_path: Path) -> None:
    parsed = open_batch(write(tmp_path, SMS))
    next(parsed.rows)
    del parsed  # filterwarnings=error would turn an unclosed-file ResourceWarning into a failure
