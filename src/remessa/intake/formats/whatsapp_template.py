"""The provider's SFTP WhatsApp format: a template line, an optional media line, column names, one row per recipient.

Line 1 is ``date;start;end;TEMPLATE;elementName;namespace;languageCode;languagePolicy;param1|param2`` or the
public documentation's ``HSM`` variant without the namespace. A parameter that names a column takes the row's
value; any other parameter is a constant.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NoReturn

from remessa.intake.formats import FileInfo, Media, Row, WhatsAppTemplate
from remessa.intake.formats.csv_template import (
    PHONE_COLUMNS,
    column_index,
    empty_columns_problem,
    field_count_problem,
    header_columns,
    no_phone_column_error,
    refuse_duplicate_columns,
)
from remessa.intake.formats.source import Source, split_line

KINDS = ("TEMPLATE", "HSM")
POLICIES = ("DETERMINISTIC", "FALLBACK")
MEDIA_HEADERS = ("IMAGE", "AUDIO", "VIDEO", "DOCUMENT")
MEDIA_SOURCES = ("URL", "PATH")
LINE_1 = "date;start;end;TEMPLATE;elementName;namespace;languageCode;languagePolicy;params"
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIME = re.compile(r"(?:[01]\d|2[0-3]):[0-5]\d")
# The provider's page shows line 2 glued to line 1 ("...;nome|empresa IMAGE;URL;..."): read that too.
_FOLDED = re.compile(r"(?:(.*?)\s+)?(IMAGE|AUDIO|VIDEO|DOCUMENT)", re.IGNORECASE)


def recognises(line: str, message_text: str) -> bool:
    """Eight or nine ``;`` fields whose fourth is TEMPLATE or HSM."""
    fields = split_line(line, ";")
    return len(fields) >= 8 and fields[3].strip().upper() in KINDS


@dataclass(frozen=True)
class _Header:
    template: WhatsAppTemplate
    preamble: tuple[str, ...]
    columns: tuple[str, ...]
    phone: int
    params: tuple[tuple[int | None, str], ...]  # (column index, or None for a constant; the name as written)
    correlation_id: int | None
    extra_info: int | None


def parse(source: Source, message_text: str) -> tuple[FileInfo, Iterator[Row]]:
    """The template, media and columns from the header lines, and the rows; ``message_text`` is not used."""
    lines = source.lines()
    try:
        header = _header(source, lines)
    except BaseException:
        lines.close()
        raise
    info = FileInfo(
        format="whatsapp",
        encoding=source.encoding,
        newline=source.newline,
        kind="whatsapp",
        separator=";",
        preamble=header.preamble,
        columns=header.columns,
        template=header.template,
        notes=source.notes,
    )
    return info, _rows(lines, header)


def _next_line(lines: Iterator[tuple[int, str]]) -> tuple[int, str] | None:
    return next(((number, line) for number, line in lines if line.strip()), None)


def _header(source: Source, lines: Iterator[tuple[int, str]]) -> _Header:
    first = _next_line(lines)
    if first is None:
        raise source.error("empty", "the file is empty")
    fields, media_fields = _unfold(split_line(first[1], ";"))
    template = _template(source, first[0], fields)
    preamble = [first[1]]
    following = _next_line(lines)
    if media_fields is None and following and following[1].split(";")[0].strip().upper() in MEDIA_HEADERS:
        preamble.append(following[1])
        template = dataclasses.replace(template, media=_media(source, following[0], split_line(following[1], ";")))
        following = _next_line(lines)
    elif media_fields is not None:
        template = dataclasses.replace(template, media=_media(source, first[0], media_fields))
    if following is None:
        raise source.error("empty", "no rows after the header: the line of column names is missing")
    preamble.append(following[1])
    columns = header_columns(following[1], ";")
    refuse_duplicate_columns(source, columns, following[0])
    phone = column_index(columns, PHONE_COLUMNS)
    if phone is None:
        raise no_phone_column_error(source, columns, following[0])
    return _Header(
        template=template,
        preamble=tuple(preamble),
        columns=tuple(columns),
        phone=phone,
        params=tuple((column_index(columns, [name]), name) for name in template.params),
        correlation_id=column_index(columns, ["correlationId"]),
        extra_info=column_index(columns, ["extraInfo"]),
    )


def _unfold(fields: list[str]) -> tuple[list[str], list[str] | None]:
    """Split a line 1 that carries the media line after its parameters; else (fields, None)."""
    if len(fields) > 9:
        for index in (8, 7):
            folded = _FOLDED.fullmatch(fields[index].strip())
            if folded and fields[3].strip().upper() in KINDS:
                return fields[:index] + [folded.group(1) or ""], [folded.group(2), *fields[index + 1 :]]
    return fields, None


def _template(source: Source, line: int, raw_fields: list[str]) -> WhatsAppTemplate:
    fields = [field.strip() for field in raw_fields]
    kind = fields[3].upper() if len(fields) > 3 else ""
    if len(fields) == (9 if kind == "HSM" else 10) and not fields[-1]:
        fields.pop()  # a trailing ";"
    if len(fields) == 9:
        date, start, end, kind, name, namespace, language, policy, params = fields
    elif len(fields) == 8 and kind == "TEMPLATE" and fields[7].upper() in POLICIES:
        date, start, end, kind, name, namespace, language, policy = fields  # no parameters
        params = ""
    elif len(fields) == 8:
        date, start, end, kind, name, language, policy, params = fields
        namespace = ""
    else:
        raise source.error("bad_template_line", f"the template line has {len(fields)} fields; expected {LINE_1}", line)

    def refuse(field: str, must: str, value: str) -> NoReturn:
        raise source.error("bad_template_line", f'field "{field}" must be {must}, not "{value}"', line)

    if kind.upper() not in KINDS:
        refuse("type", "TEMPLATE or HSM", kind)
    if date and not (_DATE.fullmatch(date) and _real_date(date)):
        refuse("date", "a date YYYY-MM-DD", date)
    for field, value in (("start", start), ("end", end)):
        if value and not _TIME.fullmatch(value):
            refuse(field, "a time HH:MM", value)
    if not name:
        refuse("elementName", "the template name", name)
    if not language:
        refuse("languageCode", "a language code such as pt_BR", language)
    if policy.upper() not in (*POLICIES, ""):
        refuse("languagePolicy", "DETERMINISTIC or FALLBACK", policy)
    names = tuple(param.strip() for param in params.split("|")) if params else ()
    if "" in names:
        refuse("params", "parameter names separated by |", params)
    return WhatsAppTemplate(
        date=date,
        start=start,
        end=end,
        element_name=name,
        namespace=namespace,
        language=language,
        policy=policy.upper() or "DETERMINISTIC",
        params=names,
    )


def _real_date(text: str) -> bool:
    try:
        datetime.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _media(source: Source, line: int, raw_fields: list[str]) -> Media:
    fields = [field.strip() for field in raw_fields]
    if len(fields) > 4 and not fields[-1]:
        fields.pop()  # a trailing ";"
    if len(fields) < 4:
        raise source.error(
            "bad_media_line", f"the media line has {len(fields)} fields; expected IMAGE;URL;location;TYPE", line
        )
    header_type, origin, media_type = fields[0].upper(), fields[1].upper(), fields[-1].upper()
    location = ";".join(fields[2:-1])  # a URL may contain ";"
    for field, value, allowed in (("header type", header_type, MEDIA_HEADERS), ("source", origin, MEDIA_SOURCES)):
        if value not in allowed:
            raise source.error(
                "bad_media_line", f'field "{field}" must be {" or ".join(allowed)}, not "{value}"', line
            )
    if not location or not media_type:
        field = "media" if not location else "media type"
        raise source.error("bad_media_line", f'field "{field}" is empty', line)
    return Media(header_type=header_type, source=origin, location=location, media_type=media_type)


def _rows(lines: Iterator[tuple[int, str]], header: _Header) -> Iterator[Row]:
    width = len(header.columns)
    for number, line in lines:
        if not line.strip():
            continue
        fields = split_line(line, ";")
        if len(fields) == width + 1 and not fields[-1]:
            fields.pop()  # a trailing ";"
        problem = None if len(fields) == width else field_count_problem(len(fields), width)
        values: list[str] = []
        empty: list[str] = []
        for index, name in header.params:
            value = _cell(fields, index) if index is not None else name
            if index is not None and not value.strip():
                empty.append(header.columns[index])
            values.append(value)
        if empty and problem is None:
            problem = empty_columns_problem(empty)
        yield Row(
            line=number,
            destination=_cell(fields, header.phone),
            text="",
            correlation_id=_cell(fields, header.correlation_id),
            extra_info=_cell(fields, header.extra_info),
            raw=line,
            params=tuple(values),
            problem=problem,
        )


def _cell(fields: list[str], index: int | None) -> str:
    return fields[index] if index is not None and index < len(fields) else ""
