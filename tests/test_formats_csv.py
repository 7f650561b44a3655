"""CSV with a header: separators, phone and text columns, the {column} template, quoting and field counts."""

from __future__ import annotations

from pathlib import Path

import pytest

from remessa.errors import BatchFileError
from remessa.intake.formats import Parsed, Row, RowProblem, open_batch


def write(tmp_path: Path, content: str) -> Path:
    path = tmp_path / "PROJETO1.20240301.01.csv"
    path.write_text(content, encoding="utf-8", newline="")
    return path


def parse(tmp_path: Path, content: str, message_text: str = "", format: str = "csv") -> tuple[Parsed, list[Row]]:
    parsed = open_batch(write(tmp_path, content), format=format, message_text=message_text)
    return parsed, list(parsed.rows)


def refused(tmp_path: Path, content: str, message_text: str = "", format: str = "csv") -> BatchFileError:
    with pytest.raises(BatchFileError) as caught:
        parse(tmp_path, content, message_text, format)
    assert "PROJETO1.20240301.01.csv" in str(caught.value)
    return caught.value


@pytest.mark.parametrize("sep", [";", ",", "\t"])
def test_the_three_separators(tmp_path: Path, sep: str) -> None:
    content = f"nome{sep}telefone{sep}texto\nAna{sep}5511900000000{sep}Olá Ana\nBia{sep}5511900000001{sep}Oi\n"
    parsed, rows = parse(tmp_path, content, format="auto")
    assert [(row.line, row.destination, row.text) for row in rows] == [
        (2, "5511900000000", "Olá Ana"),
        (3, "5511900000001", "Oi"),
    ]
    info = parsed.info
    assert (info.format, info.kind, info.separator) == ("csv", "sms", sep)
    assert info.columns == ("nome", "telefone", "texto")
    assert info.preamble == (f"nome{sep}telefone{sep}texto",)
    assert info.trailer == ()


def test_separator_inside_quotes_does_not_fool_detection(tmp_path: Path) -> None:
    parsed, (row,) = parse(tmp_path, 'celular,"texto; livre"\n5511900000000,"a; b, c"\n', message_text="{texto; livre}")
    assert parsed.info.separator == ","
    assert row.text == "a; b, c"


@pytest.mark.parametrize("phone", ["numero", "Número", "TELEFONE", " celular ", "phone", "destination", "destino"])
def test_phone_column_names(tmp_path: Path, phone: str) -> None:
    _, (row,) = parse(tmp_path, f"id;{phone};messageText\n7;5511900000000;oi\n")
    assert (row.destination, row.text) == ("5511900000000", "oi")


def test_template_fills_columns_case_insensitively(tmp_path: Path) -> None:
    content = "Telefone;Nome;Pedido\n5511900000000;Ana;123\n5511900000001;Bia;456\n"
    _, rows = parse(tmp_path, content, message_text="Olá {nome}, seu pedido { PEDIDO } saiu. {{frete grátis}}")
    assert [row.text for row in rows] == [
        "Olá Ana, seu pedido 123 saiu. {frete grátis}",
        "Olá Bia, seu pedido 456 saiu. {frete grátis}",
    ]


def test_template_naming_a_missing_column_refuses_the_file(tmp_path: Path) -> None:
    error = refused(tmp_path, "telefone;nome\n5511900000000;Ana\n", message_text="Olá {nome}, cupom {cupom}")
    assert (error.code, error.line) == ("template_missing_column", 1)
    assert '"cupom"' in str(error) and "telefone, nome" in str(error)


def test_template_with_an_empty_column_makes_that_row_invalid(tmp_path: Path) -> None:
    content = "telefone;nome;loja\n5511900000000;Ana;Centro\n5511900000001;;Centro\n5511900000002;  ;\n"
    _, rows = parse(tmp_path, content, message_text="Olá {nome}, loja {loja}")
    assert [(row.line, row.text, row.problem) for row in rows] == [
        (2, "Olá Ana, loja Centro", None),
        (3, "", RowProblem("template_empty_column", 'column "nome" is empty')),
        (4, "", RowProblem("template_empty_column", 'columns "nome", "loja" are empty')),
    ]
    assert rows[1].destination == "5511900000001"


def test_text_column_wins_and_the_template_fills_rows_without_text(tmp_path: Path) -> None:
    content = "telefone;nome;texto\n5511900000000;Ana;Texto próprio\n5511900000001;Bia;\n5511900000002;;\n"
    _, rows = parse(tmp_path, content, message_text="Olá {nome}")
    assert [(row.text, row.problem) for row in rows] == [
        ("Texto próprio", None),
        ("Olá Bia", None),
        ("", RowProblem("template_empty_column", 'column "nome" is empty')),
    ]


def test_text_column_with_a_template_for_other_files(tmp_path: Path) -> None:
    """A profile template naming columns this file lacks only matters for rows without a text."""
    content = "telefone;texto\n5511900000000;oi\n5511900000001;\n"
    _, rows = parse(tmp_path, content, message_text="Olá {nome}")
    assert [(row.text, row.problem) for row in rows] == [
        ("oi", None),
        ("", RowProblem("template_missing_column", 'the header has no column "nome"')),
    ]


def test_text_column_without_template_leaves_empty_text_to_the_validator(tmp_path: Path) -> None:
    _, rows = parse(tmp_path, "telefone;texto\n5511900000001;\n")
    assert (rows[0].text, rows[0].problem) == ("", None)


@pytest.mark.parametrize(
    ("line", "count"),
    [("5511900000000;Ana;oi;extra", 4), ("5511900000000;Ana", 2), ("5511900000000", 1)],
)
def test_field_count_differs_from_header(tmp_path: Path, line: str, count: int) -> None:
    _, (row,) = parse(tmp_path, f"telefone;nome;texto\n{line}\n")
    plural = "field" if count == 1 else "fields"
    assert row.problem == RowProblem("field_count", f"line has {count} {plural}, header has 3")
    assert (row.line, row.destination, row.raw) == (2, "5511900000000", line)


def test_a_trailing_separator_is_not_an_extra_field(tmp_path: Path) -> None:
    parsed, rows = parse(tmp_path, "telefone;texto;\n5511900000000;oi;\n5511900000001;olá\n")
    assert parsed.info.columns == ("telefone", "texto")
    assert [(row.text, row.problem) for row in rows] == [("oi", None), ("olá", None)]


def test_quoted_fields_with_separators_newlines_and_quotes(tmp_path: Path) -> None:
    content = (
        'telefone;texto;correlationId\r\n'
        '5511900000000;"Linha 1\r\nLinha 2; com ""aspas""";c1\r\n'
        "5511900000001;simples;c2\r\n"
    )
    _, rows = parse(tmp_path, content)
    assert [(row.line, row.text, row.correlation_id) for row in rows] == [
        (2, 'Linha 1\nLinha 2; com "aspas"', "c1"),
        (4, "simples", "c2"),
    ]
    assert rows[0].raw == '5511900000000;"Linha 1\nLinha 2; com ""aspas""";c1'


def test_a_quote_never_closed_refuses_the_file_at_its_line(tmp_path: Path) -> None:
    content = 'telefone;texto\n5511900000000;ok\n5511900000001;"sem fim\n5511900000002;perdida\n'
    parsed = open_batch(write(tmp_path, content))
    with pytest.raises(BatchFileError) as caught:
        list(parsed.rows)
    assert (caught.value.code, caught.value.line) == ("bad_quoting", 3)


def test_a_field_over_the_csv_limit_is_an_invalid_row(tmp_path: Path) -> None:
    _, rows = parse(tmp_path, f"telefone;texto\n5511900000000;{'x' * 200_000}\n5511900000001;oi\n")
    assert [(row.line, row.problem.code if row.problem else None) for row in rows] == [
        (2, "unreadable_line"),
        (3, None),
    ]
    assert rows[0].problem is not None and "field limit" in rows[0].problem.message


def test_correlation_id_and_extra_info_columns(tmp_path: Path) -> None:
    _, (row,) = parse(tmp_path, "CorrelationID;EXTRAINFO;telefone;texto\nc-1;lote 7;5511900000000;oi\n")
    assert (row.correlation_id, row.extra_info) == ("c-1", "lote 7")


def test_blank_lines_and_rows_of_only_separators_are_skipped(tmp_path: Path) -> None:
    _, rows = parse(tmp_path, "telefone;texto\n\n5511900000000;oi\n;\n;;\n  \n5511900000001;olá\n")
    assert [row.line for row in rows] == [3, 7]


def test_no_phone_column(tmp_path: Path) -> None:
    error = refused(tmp_path, "nome;fone;texto\nAna;5511900000000;oi\n")
    assert (error.code, error.line) == ("no_phone_column", 1)
    assert "nome, fone, texto" in str(error)


def test_no_text_column_and_no_template(tmp_path: Path) -> None:
    error = refused(tmp_path, "telefone;nome\n5511900000000;Ana\n")
    assert (error.code, error.line) == ("no_text", 1)
    assert "texto" in str(error) and "telefone, nome" in str(error)


def test_header_only(tmp_path: Path) -> None:
    error = refused(tmp_path, "telefone;texto\n\n;;\n")
    assert error.code == "empty"
    assert "no rows after the header" in str(error)


def test_windows_1252_csv(tmp_path: Path) -> None:
    path = tmp_path / "lista.csv"
    path.write_bytes("telefone;nome\n5511900000000;João\n".encode("cp1252"))
    parsed = open_batch(path, message_text="Olá {nome}, promoção!")
    assert parsed.info.encoding == "cp1252"
    assert [row.text for row in parsed.rows] == ["Olá João, promoção!"]
