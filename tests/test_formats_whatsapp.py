"""The WhatsApp template format of the provider's SFTP API: template line, media line, columns, rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from remessa.errors import BatchFileError
from remessa.intake.formats import Media, Parsed, Row, RowProblem, WhatsAppTemplate, open_batch

LINE_1 = (
    "2020-01-21;16:00;16:00;TEMPLATE;chatclub_welcome;whatsapp:hsm:ecommerce:movile;pt_BR;DETERMINISTIC;nome|empresa"
)
MEDIA = "IMAGE;URL;https://upload.wikimedia.org/wikipedia/en/d/d2/Imagem_logo.png;PNG"
LOGO = Media("IMAGE", "URL", "https://upload.wikimedia.org/wikipedia/en/d/d2/Imagem_logo.png", "PNG")


def parse(tmp_path: Path, content: str, format: str = "auto") -> tuple[Parsed, list[Row]]:
    path = tmp_path / "3486.20200121.01.txt"
    path.write_text(content, encoding="utf-8")
    parsed = open_batch(path, format=format)
    return parsed, list(parsed.rows)


def refused(tmp_path: Path, content: str, format: str = "auto") -> BatchFileError:
    with pytest.raises(BatchFileError) as caught:
        parse(tmp_path, content, format)
    assert "3486.20200121.01.txt" in str(caught.value)
    return caught.value


def test_the_providers_example_with_media(tmp_path: Path) -> None:
    parsed, rows = parse(tmp_path, f"{LINE_1}\n{MEDIA}\nphone;nome;empresa\n5519981560597;Nome1;Wavy\n")
    info = parsed.info
    assert (info.format, info.kind, info.separator) == ("whatsapp", "whatsapp", ";")
    assert info.template == WhatsAppTemplate(
        date="2020-01-21",
        start="16:00",
        end="16:00",
        element_name="chatclub_welcome",
        namespace="whatsapp:hsm:ecommerce:movile",
        language="pt_BR",
        policy="DETERMINISTIC",
        params=("nome", "empresa"),
        media=LOGO,
    )
    assert info.preamble == (LINE_1, MEDIA, "phone;nome;empresa")
    assert info.columns == ("phone", "nome", "empresa")
    assert [(row.line, row.destination, row.text, row.params, row.problem) for row in rows] == [
        (4, "5519981560597", "", ("Nome1", "Wavy"), None)
    ]
    assert rows[0].raw == "5519981560597;Nome1;Wavy"


def test_the_providers_example_as_printed_with_media_folded_into_line_1(tmp_path: Path) -> None:
    folded = f"{LINE_1} {MEDIA}"
    parsed, rows = parse(tmp_path, f"{folded}\nphone;nome;empresa\n5519981560597;Nome1;Wavy\n")
    assert parsed.info.template is not None
    assert parsed.info.template.params == ("nome", "empresa")
    assert parsed.info.template.media == LOGO
    assert parsed.info.preamble == (folded, "phone;nome;empresa")
    assert rows[0].params == ("Nome1", "Wavy")


def test_hsm_variant_without_namespace_or_media(tmp_path: Path) -> None:
    content = "2024-05-02;09:00;18:00;HSM;boas_vindas;pt_BR;FALLBACK;nome\nnumero;nome\n5511900000000;Ana\n"
    parsed, rows = parse(tmp_path, content)
    template = parsed.info.template
    assert template is not None
    assert (template.element_name, template.namespace, template.language, template.policy) == (
        "boas_vindas", "", "pt_BR", "FALLBACK",
    )
    assert template.media is None
    assert parsed.info.preamble == ("2024-05-02;09:00;18:00;HSM;boas_vindas;pt_BR;FALLBACK;nome", "numero;nome")
    assert [(row.line, row.params) for row in rows] == [(3, ("Ana",))]


def test_hsm_variant_with_media(tmp_path: Path) -> None:
    content = ";;;HSM;promo;pt_BR;;nome;\nDOCUMENT;PATH;boletos/maio.pdf;PDF;\ncelular;nome\n5511900000000;Ana\n"
    parsed, _ = parse(tmp_path, content)
    assert parsed.info.template is not None
    assert parsed.info.template.media == Media("DOCUMENT", "PATH", "boletos/maio.pdf", "PDF")
    assert parsed.info.template.params == ("nome",)


def test_blank_schedule_fields_and_default_policy(tmp_path: Path) -> None:
    parsed, _ = parse(tmp_path, " ; ; ; TEMPLATE;chatclub_welcome;ns;pt_BR; ;nome\nphone;nome\n5519981560597;Ana\n")
    template = parsed.info.template
    assert template is not None
    assert (template.date, template.start, template.end, template.policy) == ("", "", "", "DETERMINISTIC")


def test_template_without_parameters(tmp_path: Path) -> None:
    for line_1 in (";;;TEMPLATE;aviso;ns;pt_BR;DETERMINISTIC", ";;;TEMPLATE;aviso;ns;pt_BR;DETERMINISTIC;"):
        parsed, rows = parse(tmp_path, f"{line_1}\nphone\n5511900000000\n")
        assert parsed.info.template is not None
        assert (parsed.info.template.namespace, parsed.info.template.params) == ("ns", ())
        assert rows[0].params == ()


def test_parameters_that_name_no_column_are_constants(tmp_path: Path) -> None:
    content = ";;;TEMPLATE;promo;ns;pt_BR;;Nome | Loja Centro | 10%\nPhone;NOME;correlationId\n5511900000000;Ana;c1\n"
    _, (row,) = parse(tmp_path, content)
    assert row.params == ("Ana", "Loja Centro", "10%")
    assert row.correlation_id == "c1"


def test_an_empty_parameter_column_makes_the_row_invalid(tmp_path: Path) -> None:
    content = f"{LINE_1}\nphone;nome;empresa\n5511900000000;Ana;Wavy\n\n5511900000001;;Wavy\n5511900000002;;\n"
    _, rows = parse(tmp_path, content)
    assert [(row.line, row.problem) for row in rows] == [
        (3, None),
        (5, RowProblem("template_empty_column", 'column "nome" is empty')),
        (6, RowProblem("template_empty_column", 'columns "nome", "empresa" are empty')),
    ]


def test_field_count_and_trailing_separator(tmp_path: Path) -> None:
    content = f"{LINE_1}\nphone;nome;empresa\n5511900000000;Ana;Wavy;\n5511900000001;Ana\n"
    _, rows = parse(tmp_path, content)
    assert [row.problem for row in rows] == [None, RowProblem("field_count", "line has 2 fields, header has 3")]


def test_quoted_values(tmp_path: Path) -> None:
    _, (row,) = parse(tmp_path, f'{LINE_1}\nphone;nome;empresa\n5511900000000;"Silva; Ana";"A ""B"""\n')
    assert row.params == ("Silva; Ana", 'A "B"')


@pytest.mark.parametrize(
    ("line_1", "field"),
    [
        ("2020-13-01;16:00;17:00;TEMPLATE;n;ns;pt_BR;;p", '"date" must be a date YYYY-MM-DD, not "2020-13-01"'),
        ("21/01/2020;;;TEMPLATE;n;ns;pt_BR;;p", '"date"'),
        ("20200121;;;TEMPLATE;n;ns;pt_BR;;p", '"date"'),
        ("2020-01-21;24:00;;TEMPLATE;n;ns;pt_BR;;p", '"start" must be a time HH:MM, not "24:00"'),
        ("2020-01-21;9:00;;TEMPLATE;n;ns;pt_BR;;p", '"start"'),
        ("2020-01-21;09:00;18h;TEMPLATE;n;ns;pt_BR;;p", '"end"'),
        (";;;TEMPLATE;;ns;pt_BR;;p", '"elementName"'),
        (";;;TEMPLATE;n;ns;;;p", '"languageCode"'),
        (";;;TEMPLATE;n;ns;pt_BR;SOMETIMES;p", '"languagePolicy" must be DETERMINISTIC or FALLBACK'),
        (";;;TEMPLATE;n;ns;pt_BR;;a||b", '"params"'),
        (";;;TEMPLATE;n;ns;pt_BR;;p;x;y", "has 11 fields"),
    ],
)
def test_bad_template_line(tmp_path: Path, line_1: str, field: str) -> None:
    error = refused(tmp_path, f"{line_1}\nphone;p\n5511900000000;x\n")
    assert (error.code, error.line) == ("bad_template_line", 1)
    assert field in str(error)


def test_bad_template_line_when_forced(tmp_path: Path) -> None:
    error = refused(tmp_path, ";;;SMS;n;ns;pt_BR;;p\nphone;p\n5511900000000;x\n", format="whatsapp")
    assert "TEMPLATE or HSM" in str(error)


@pytest.mark.parametrize(
    ("media", "message"),
    [
        ("IMAGE;FTP;x.png;PNG", '"source" must be URL or PATH, not "FTP"'),
        ("IMAGE;URL;;PNG", '"media" is empty'),
        ("IMAGE;URL;https://x/a.png;", '"media type" is empty'),
        ("VIDEO;URL", "has 2 fields"),
    ],
)
def test_bad_media_line(tmp_path: Path, media: str, message: str) -> None:
    error = refused(tmp_path, f"{LINE_1}\n{media}\nphone;nome;empresa\n5511900000000;a;b\n")
    assert (error.code, error.line) == ("bad_media_line", 2)
    assert message in str(error)


def test_a_media_url_may_contain_the_separator(tmp_path: Path) -> None:
    parsed, _ = parse(tmp_path, f"{LINE_1}\nimage;url;https://x/a.png;v=1;png\nphone;nome;empresa\n5511900000000;a;b\n")
    assert parsed.info.template is not None
    assert parsed.info.template.media == Media("IMAGE", "URL", "https://x/a.png;v=1", "PNG")


def test_no_phone_column(tmp_path: Path) -> None:
    error = refused(tmp_path, f"{LINE_1}\n{MEDIA}\nnome;empresa\nAna;Wavy\n")
    assert (error.code, error.line) == ("no_phone_column", 3)
    assert "nome, empresa" in str(error)


@pytest.mark.parametrize("content", [f"{LINE_1}\n", f"{LINE_1}\n{MEDIA}\n", f"{LINE_1}\nphone;nome;empresa\n\n"])
def test_no_rows(tmp_path: Path, content: str) -> None:
    error = refused(tmp_path, content)
    assert error.code == "empty"
    assert "no rows after the header" in str(error)
