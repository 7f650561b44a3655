"""The SMS TXT format of the provider's SFTP API: what each kind of line becomes."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from remessa.errors import BatchFileError
from remessa.intake.formats import Parsed, Row, RowProblem, open_batch

HEADER = "numero;texto;correlationId(opcional);"


def parse(tmp_path: Path, content: str | bytes, format: str = "sms_txt") -> tuple[Parsed, list[Row]]:
    path = tmp_path / "3486.20170101.01.txt"
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    parsed = open_batch(path, format=format)
    return parsed, list(parsed.rows)


def fields(rows: list[Row]) -> list[tuple[int, str, str, str]]:
    return [(row.line, row.destination, row.text, row.correlation_id) for row in rows]


def test_the_providers_example(tmp_path: Path) -> None:
    content = f"{HEADER}\n5511900000000;mensagem 1;;\n5519900000000;mensagem 2;;\n5521900000000;mensagem 3;;\nEOF\n"
    parsed, rows = parse(tmp_path, content, format="auto")
    assert fields(rows) == [
        (2, "5511900000000", "mensagem 1", ""),
        (3, "5519900000000", "mensagem 2", ""),
        (4, "5521900000000", "mensagem 3", ""),
    ]
    assert all(row.problem is None and row.extra_info == "" and row.params == () for row in rows)
    info = parsed.info
    assert (info.format, info.kind, info.separator) == ("sms_txt", "sms", ";")
    assert info.preamble == (HEADER,)
    assert info.trailer == ("EOF",)


def test_without_header_and_without_eof(tmp_path: Path) -> None:
    parsed, rows = parse(tmp_path, "5511900000000;oi;c1;\n5511900000001;olá;c2;\n")
    assert fields(rows) == [(1, "5511900000000", "oi", "c1"), (2, "5511900000001", "olá", "c2")]
    assert parsed.info.preamble == ()
    assert parsed.info.trailer == ("EOF",)  # what a retry file must end with


@pytest.mark.parametrize("content", ["5511900000000;oi;c1;\n5511900000001;mensagem num",
                                     "numero;texto\r\n5511900000000;oi;c1;\r\n5511900000001;olá;c2;"])
def test_a_last_line_without_ending_nor_eof_is_an_incomplete_file(tmp_path: Path, content: str) -> None:
    with pytest.raises(BatchFileError, match=r"incomplete_file: .*the last line has no line ending and no EOF"):
        parse(tmp_path, content)


@pytest.mark.parametrize("content", ["5511900000000;oi;c1;\nEOF", "5511900000000;oi;c1;\r\nEOF\r\n\r\n"])
def test_an_eof_line_completes_the_file_with_or_without_its_line_ending(tmp_path: Path, content: str) -> None:
    _, rows = parse(tmp_path, content)
    assert fields(rows) == [(1, "5511900000000", "oi", "c1")]


@pytest.mark.parametrize(
    ("line", "text", "correlation_id"),
    [
        ("5511900000000;oi;c1;", "oi", "c1"),  # the usual trailing ;
        ("5511900000000;oi;c1", "oi", "c1"),  # without it
        ("5511900000000;oi;;", "oi", ""),  # empty correlationId
        ("5511900000000;oi;", "oi", ""),  # two fields and a trailing ;
        ("5511900000000;oi", "oi", ""),  # two fields
        ("5511900000000;Oi; tudo bem?;c9;", "Oi; tudo bem?", "c9"),  # ; inside the text
        ("5511900000000;a;b;c;d;;", "a;b;c;d", ""),
        ('5511900000000;"Oi; tudo bem?";c9;', "Oi; tudo bem?", "c9"),  # quoted
        ('5511900000000;"Diga ""olá""";"c;9";', 'Diga "olá"', "c;9"),  # "" is a quote
        ('5511900000000;Ele disse "oi" ontem;c1;', 'Ele disse "oi" ontem', "c1"),  # quotes mid-field stay
        ("5511900000000;Altura 1,80m e 5'10\";c1;", "Altura 1,80m e 5'10\"", "c1"),  # a stray quote stays
        ("5511900000000;;c1;", "", "c1"),  # empty text: the validator refuses it
        ("  5511900000000 ;oi;c1;", "oi", "c1"),
    ],
)
def test_one_line(tmp_path: Path, line: str, text: str, correlation_id: str) -> None:
    _, (row,) = parse(tmp_path, f"{line}\nEOF\n")
    assert (row.text, row.correlation_id, row.raw, row.problem) == (text, correlation_id, line, None)
    assert row.destination == line.split(";")[0].strip('"')  # as written: the validator normalises it


def test_one_field_is_too_few(tmp_path: Path) -> None:
    _, rows = parse(tmp_path, "5511900000000;oi;;\n5511900000001\n5511900000002;\n")
    assert [(row.line, row.destination, row.problem) for row in rows[1:]] == [
        (2, "5511900000001", RowProblem("too_few_fields", 'missing field "texto": the line has only one field')),
        (3, "5511900000002", RowProblem("too_few_fields", 'missing field "texto": the line has only one field')),
    ]
    assert rows[1].raw == "5511900000001"


def test_blank_lines_are_not_rows_but_count_as_lines(tmp_path: Path) -> None:
    _, rows = parse(tmp_path, f"\n\n{HEADER}\n\n5511900000000;a;;\n   \n\t\n5511900000001;b;;\n\nEOF\n\n \n")
    assert [(row.line, row.text) for row in rows] == [(5, "a"), (8, "b")]


def test_content_after_eof_is_refused_naming_the_line(tmp_path: Path) -> None:
    parsed = open_batch(_write(tmp_path, "5511900000000;a;;\nEOF\n\n5511900000001;b;;\n"))
    assert next(parsed.rows).text == "a"
    with pytest.raises(BatchFileError) as caught:
        next(parsed.rows)
    error = caught.value
    assert (error.code, error.line) == ("content_after_eof", 4)
    assert str(error) == "content_after_eof: x.txt: nothing may follow the EOF of line 2 (line 4)"


def test_content_after_eof_in_a_later_read_block(tmp_path: Path) -> None:
    content = "5511900000000;a;;\nEOF\n" + "\n" * 1_100_000 + "lixo\n"
    with pytest.raises(BatchFileError) as caught:
        list(open_batch(_write(tmp_path, content)).rows)
    assert caught.value.line == 1_100_003


@pytest.mark.parametrize("eof", ["EOF", "EOF;", " EOF ", "eof"])
def test_eof_spellings(tmp_path: Path, eof: str) -> None:
    _, rows = parse(tmp_path, f"5511900000000;a;;\n{eof}\n\n")
    assert len(rows) == 1


def test_only_eof_is_empty(tmp_path: Path) -> None:
    with pytest.raises(BatchFileError) as caught:
        parse(tmp_path, "EOF\n")
    assert caught.value.code == "empty"
    assert "has no rows" in str(caught.value)


def test_a_ten_megabyte_line_is_one_row(tmp_path: Path) -> None:
    text = "x" * 10_000_000
    _, rows = parse(tmp_path, f"5511900000000;{text};c1;\n5511900000001;oi;;\nEOF\n", format="auto")
    assert [(row.line, len(row.text), row.correlation_id) for row in rows] == [(1, 10_000_000, "c1"), (2, 2, "")]
    assert rows[0].text == text


def test_a_ten_megabyte_line_without_separator_is_too_few_fields(tmp_path: Path) -> None:
    _, (row,) = parse(tmp_path, "9" * 10_000_000 + "\n", format="auto")
    assert row.problem is not None and row.problem.code == "too_few_fields"
    assert len(row.destination) == 10_000_000


def test_a_ten_megabyte_quoted_line_is_one_row(tmp_path: Path) -> None:
    text = "x" * 10_000_000
    _, (row,) = parse(tmp_path, f'5511900000000;"{text}";c1;\n')  # over csv's field size limit
    assert (len(row.text), row.correlation_id) == (10_000_002, "c1")  # read plainly, quotes kept


def test_a_header_is_any_first_line_whose_number_has_letters(tmp_path: Path) -> None:
    parsed, rows = parse(tmp_path, "Telefone;Mensagem;Id\n5511900000000;oi;c1\n")
    assert parsed.info.preamble == ("Telefone;Mensagem;Id",)
    assert fields(rows) == [(2, "5511900000000", "oi", "c1")]


def test_a_first_row_with_a_bad_number_is_still_a_row(tmp_path: Path) -> None:
    _, rows = parse(tmp_path, ";sem número;;\n123;curto;;\n")
    assert [(row.line, row.destination) for row in rows] == [(1, ""), (2, "123")]


def test_header_only_is_empty(tmp_path: Path) -> None:
    with pytest.raises(BatchFileError) as caught:
        parse(tmp_path, f"{HEADER}\n\nEOF\n")
    assert (caught.value.code, caught.value.sentence) == ("empty", "3486.20170101.01.txt: no rows after the header")


def test_fast_rows_equal_constructed_rows(tmp_path: Path) -> None:
    """The SMS TXT parser builds rows without Row.__init__ for speed; they must be indistinguishable."""
    _, (row,) = parse(tmp_path, "5511900000000;oi;c1;\n")
    built = Row(line=1, destination="5511900000000", text="oi", correlation_id="c1", raw="5511900000000;oi;c1;")
    assert row == built
    assert vars(row) == vars(built)
    assert dataclasses.asdict(row) == dataclasses.asdict(built)
    with pytest.raises(dataclasses.FrozenInstanceError):
        row.text = "x"  # type: ignore[misc]


def _write(tmp_path: Path, content: str) -> Path:
    path = tmp_path / "x.txt"
    path.write_text(content, encoding="utf-8")
    return path
