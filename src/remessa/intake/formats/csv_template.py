"""CSV with a header line: a phone column, and a text column or a message template with ``{column}`` placeholders.

The separator (``;``, ``,`` or tab) is read from the header. The csv module reads quoted fields, also those
that span lines; a row keeps the number of its first physical line.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from remessa.errors import BatchFileError
from remessa.intake.formats import FileInfo, Row, RowProblem
from remessa.intake.formats.source import Source, split_line

PHONE_COLUMNS = ("numero", "número", "telefone", "celular", "phone", "destination", "destino")
TEXT_COLUMNS = ("texto", "messageText")
SEPARATORS = (";", ",", "\t")
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")
_Record = tuple[int, str, list[str], str]  # first line number, raw lines, fields, csv's error ("" if none)


def column_index(columns: Sequence[str], names: Iterable[str]) -> int | None:
    """The index of the first column named one of ``names`` (trimmed, case-insensitive)."""
    wanted = {name.casefold() for name in names}
    return next((i for i, column in enumerate(columns) if column.strip().casefold() in wanted), None)


def header_columns(line: str, separator: str) -> list[str]:
    """Column names, trimmed; a trailing separator does not make an extra column."""
    return _trim(split_line(line, separator))


def refuse_duplicate_columns(source: Source, columns: Sequence[str], line: int) -> None:
    """Raise if two columns have the same name (trimmed, case-insensitive): which one a placeholder or the
    phone means would be a guess."""
    seen: dict[str, int] = {}
    for index, column in enumerate(columns, 1):
        key = column.strip().casefold()
        if not key:
            continue
        if key in seen:
            raise source.error(
                "duplicate_column", f'the header names column "{column}" twice (columns {seen[key]} and {index})', line)
        seen[key] = index


def no_phone_column_error(source: Source, columns: Sequence[str], line: int) -> BatchFileError:
    return source.error(
        "no_phone_column",
        f"no phone column among {', '.join(columns) or '(none)'}; name one of {', '.join(PHONE_COLUMNS)}",
        line,
    )


def recognises(line: str, message_text: str) -> bool:
    """A header naming a phone column, with any of the three separators."""
    return any(column_index(split_line(line, sep), PHONE_COLUMNS) is not None for sep in SEPARATORS)


def separator_of(header: str) -> str:
    """The separator that makes a phone column appear, else the most frequent one (``;`` on ties)."""
    for separator in SEPARATORS:
        if column_index(split_line(header, separator), PHONE_COLUMNS) is not None:
            return separator
    return max(SEPARATORS, key=header.count)


@dataclass(frozen=True)
class Template:
    """A message text with ``{column}`` placeholders bound to a header (``{{`` and ``}}`` are literal braces)."""

    pieces: tuple[tuple[str, int], ...]  # (literal text, column index or -1 for none)
    columns: tuple[str, ...]
    missing: tuple[str, ...]  # placeholders that name no column

    @classmethod
    def bind(cls, text: str, columns: Sequence[str]) -> Template:
        pieces: list[tuple[str, int]] = []
        missing: list[str] = []
        literal, start = "", 0
        for match in _PLACEHOLDER.finditer(text):
            literal += text[start : match.start()]
            start = match.end()
            if match.group(1) is None:
                literal += match.group(0)[0]  # {{ or }}
                continue
            index = column_index(columns, [match.group(1).strip()])
            if index is None:
                missing.append(match.group(1).strip())
                index = -1
            pieces.append((literal, index))
            literal = ""
        pieces.append((literal + text[start:], -1))
        return cls(tuple(pieces), tuple(columns), tuple(missing))

    def render(self, fields: Sequence[str]) -> tuple[str, list[str]]:
        """The text for one row, and the names of the placeholder columns that are empty in it."""
        out: list[str] = []
        empty: list[str] = []
        for literal, index in self.pieces:
            out.append(literal)
            if index >= 0:
                value = fields[index] if index < len(fields) else ""
                if not value.strip():
                    empty.append(self.columns[index])
                out.append(value)
        return "".join(out), empty


def empty_columns_problem(names: Sequence[str]) -> RowProblem:
    if len(names) == 1:
        return RowProblem("template_empty_column", f'column "{names[0]}" is empty')
    listed = ", ".join(f'"{name}"' for name in dict.fromkeys(names))
    return RowProblem("template_empty_column", f"columns {listed} are empty")


def field_count_problem(count: int, width: int) -> RowProblem:
    return RowProblem("field_count", f"line has {count} field{'' if count == 1 else 's'}, header has {width}")


@dataclass(frozen=True)
class _Layout:
    """Where each value of a row is, by column index (None: no such column)."""

    width: int
    phone: int
    text: int | None
    correlation_id: int | None
    extra_info: int | None
    template: Template | None


def parse(source: Source, message_text: str) -> tuple[FileInfo, Iterator[Row]]:
    """The header's description and the rows; raises if the header cannot carry a message."""
    first = source.first_line()
    separator = separator_of(first[1] if first else "")
    lines = source.lines()
    records = _records(source, lines, separator)
    try:
        number, raw, fields, _ = next((r for r in records if any(f.strip() for f in r[2])), (0, "", [], ""))
        if not fields:
            raise source.error("empty", "the file is empty")
        columns = _trim(fields)
        layout = _layout(source, columns, message_text, number)
    except BaseException:
        lines.close()
        raise
    info = FileInfo(
        format="csv",
        encoding=source.encoding,
        newline=source.newline,
        separator=separator,
        preamble=(raw,),
        columns=tuple(columns),
        notes=source.notes,
    )
    return info, _rows(records, layout)


def _trim(fields: list[str]) -> list[str]:
    columns = [field.strip() for field in fields]
    if len(columns) > 1 and not columns[-1]:
        columns.pop()
    return columns


def _layout(source: Source, columns: list[str], message_text: str, line: int) -> _Layout:
    refuse_duplicate_columns(source, columns, line)
    phone = column_index(columns, PHONE_COLUMNS)
    if phone is None:
        raise no_phone_column_error(source, columns, line)
    text = column_index(columns, TEXT_COLUMNS)
    template = Template.bind(message_text, columns) if message_text else None
    if text is None and template is None:
        raise source.error(
            "no_text",
            f"no text column (texto, messageText) and no message_text template; columns: {', '.join(columns)}",
            line,
        )
    if text is None and template is not None and template.missing:
        raise source.error(
            "template_missing_column",
            f'the message template uses "{{{template.missing[0]}}}" but the header has no column '
            f'"{template.missing[0]}" (columns: {", ".join(columns)})',
            line,
        )
    return _Layout(
        width=len(columns),
        phone=phone,
        text=text,
        correlation_id=column_index(columns, ["correlationId"]),
        extra_info=column_index(columns, ["extraInfo"]),
        template=template,
    )


def _rows(records: Iterator[_Record], layout: _Layout) -> Iterator[Row]:
    width = layout.width
    for number, raw, fields, error in records:
        if error:
            yield Row(number, "", "", raw=raw, problem=RowProblem("unreadable_line", f"not readable as CSV: {error}"))
            continue
        if not any(field.strip() for field in fields):
            continue  # a blank line, or only separators (spreadsheets export those)
        if len(fields) == width + 1 and not fields[-1]:
            fields.pop()  # a trailing separator
        problem = None if len(fields) == width else field_count_problem(len(fields), width)
        text = _cell(fields, layout.text)
        if not text and layout.template is not None:  # the template fills rows without a text of their own
            text, problem = _render(layout.template, fields, problem)
        yield Row(
            line=number,
            destination=_cell(fields, layout.phone),
            text=text,
            correlation_id=_cell(fields, layout.correlation_id),
            extra_info=_cell(fields, layout.extra_info),
            raw=raw,
            problem=problem,
        )


def _cell(fields: list[str], index: int | None) -> str:
    return fields[index] if index is not None and index < len(fields) else ""


def _render(template: Template, fields: list[str], problem: RowProblem | None) -> tuple[str, RowProblem | None]:
    if template.missing:
        missing = RowProblem("template_missing_column", f'the header has no column "{template.missing[0]}"')
        return "", problem or missing
    text, empty = template.render(fields)
    if empty:
        return "", problem or empty_columns_problem(empty)
    return text, problem


def _records(source: Source, lines: Iterator[tuple[int, str]], separator: str) -> Iterator[_Record]:
    """One ``(first line number, raw lines, fields, csv error)`` per CSV record."""
    taken: list[tuple[int, str]] = []

    def feed() -> Iterator[str]:
        for number, line in lines:
            taken.append((number, line))
            yield line + "\n"  # csv keeps the newline inside a quoted field only if it sees one

    reader = csv.reader(feed(), delimiter=separator, strict=False)
    while True:
        error = ""
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # e.g. a field over csv's size limit
            fields, error = [], str(exc)
        number, raw = taken[0][0], "\n".join(line for _, line in taken)
        if len(taken) > 1 and (error or raw.count('"') % 2):
            raise source.error("bad_quoting", "a quoted field that starts on this line is never closed", number)
        taken.clear()
        yield number, raw, fields, error
