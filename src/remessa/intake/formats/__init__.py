"""Batch file formats: the records every parser yields, and detection of which parser reads a file.

One module per format (sms_txt, csv_template, whatsapp_template); ``open_batch`` picks one (or the one a
profile forces) and returns the file's description plus a lazy stream of rows, so that a file of any size
is read in constant memory.
"""

from __future__ import annotations

import dataclasses
import datetime
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from remessa.intake.formats.source import Source, sniff


@dataclass(frozen=True)
class RowProblem:
    """Why a row cannot be sent, found while parsing it (before validation)."""

    code: str  # stable, e.g. "too_few_fields", "template_missing_column"
    message: str  # a human sentence naming the field, e.g. 'column "nome" is empty'

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


@dataclass(frozen=True)
class Row:
    """One input row (a recipient), with its 1-based physical line number in the file."""

    line: int
    destination: str  # the phone field as written
    text: str  # the message text (the rendered template for CSV; empty for WhatsApp templates)
    correlation_id: str = ""
    extra_info: str = ""
    raw: str = ""  # the row exactly as it was in the file, without its line ending
    params: tuple[str, ...] = ()  # WhatsApp: the template parameter values, in template order
    problem: RowProblem | None = None


@dataclass(frozen=True)
class Media:
    """The optional WhatsApp header media line."""

    header_type: str  # IMAGE | AUDIO | VIDEO | DOCUMENT
    source: str  # URL | PATH
    location: str
    media_type: str  # JPEG, PNG, PDF, ...


@dataclass(frozen=True)
class WhatsAppTemplate:
    """Line 1 (and 2) of the WhatsApp SFTP format."""

    date: str  # "" or YYYY-MM-DD
    start: str  # "" or HH:MM
    end: str  # "" or HH:MM
    element_name: str
    namespace: str  # "" in the HSM variant
    language: str
    policy: str  # DETERMINISTIC | FALLBACK
    params: tuple[str, ...]  # parameter names as written (a column name, or a constant)
    media: Media | None = None


@dataclass(frozen=True)
class FileInfo:
    """What a parser learned about a whole file."""

    format: str  # sms_txt | csv | whatsapp
    encoding: str  # utf-8 | utf-8-sig | cp1252
    kind: str = "sms"  # sms | whatsapp
    separator: str = ";"
    preamble: tuple[str, ...] = ()  # lines before the first row, replayed at the top of NAME.retry.txt
    trailer: tuple[str, ...] = ()  # lines replayed at the bottom (("EOF",) for SMS TXT)
    columns: tuple[str, ...] = ()
    template: WhatsAppTemplate | None = None
    notes: tuple[str, ...] = field(default=())  # e.g. "read as Windows-1252: not valid UTF-8"
    newline: str = "\n"  # the file's line ending: NAME.retry.txt is written with it (and in its encoding)


@dataclass(frozen=True)
class Parsed:
    """A file opened for reading: its description and the lazy stream of its rows."""

    info: FileInfo
    rows: Iterator[Row]


class Parser(Protocol):
    """What a format module provides (``sms_txt``, ``csv_template``, ``whatsapp_template``)."""

    def recognises(self, line: str, message_text: str) -> bool:
        """Whether the first non-blank line of a file is this format's."""
        ...

    def parse(self, source: Source, message_text: str) -> tuple[FileInfo, Iterator[Row]]:
        """The file's description (raising ``BatchFileError`` for a bad header) and its lazy rows."""
        ...


# The parsers import the records above, so they can only be imported once those exist.
from remessa.intake.formats import csv_template, sms_txt, whatsapp_template  # noqa: E402

# Detection asks in this order: a WhatsApp template line; an SMS TXT header (exactly numero;texto and maybe
# correlationId) or first row (a phone number first); a CSV header with a phone column among other columns.
PARSERS: dict[str, Parser] = {"whatsapp": whatsapp_template, "sms_txt": sms_txt, "csv": csv_template}

_FILE_NAME = re.compile(r"(?P<subaccount>[\w-]+)\.(?P<date>\d{8})\.\d+(?:\.\w+)?")


def open_batch(path: Path, *, format: str = "auto", message_text: str = "", require_eof: bool = False) -> Parsed:
    """Open a batch file: its description now, its rows as a lazy stream (constant memory).

    ``format`` is "auto" or a name in ``PARSERS``; ``message_text`` is the CSV ``{column}`` template;
    ``require_eof`` refuses an SMS TXT file that does not end with its EOF line.
    Raises ``BatchFileError`` for a file that cannot be taken as a whole; iterating the rows can raise it
    too, for what only shows further down (content after EOF, a quoted field never closed).
    """
    source = dataclasses.replace(sniff(path), require_eof=require_eof)
    first = source.first_line()
    if first is None:
        raise source.error("empty", "the file has only blank lines")
    name = detect_format(source, first, message_text) if format == "auto" else format
    parser = PARSERS.get(name)
    if parser is None:
        raise source.error("unknown_format", f"format {name!r} is not one of {', '.join(PARSERS)}")
    info, rows = parser.parse(source, message_text)
    row = next(rows, None)
    if row is None:
        raise source.error("empty", "no rows after the header" if info.preamble else "the file has no rows")
    return Parsed(info, itertools.chain((row,), rows))


def detect_format(source: Source, first: tuple[int, str], message_text: str = "") -> str:
    """The name of the first parser that recognises the file's first non-blank line."""
    number, line = first
    for name, parser in PARSERS.items():
        if parser.recognises(line, message_text):
            return name
    shown = line if len(line) <= 60 else line[:57] + "..."
    raise source.error(
        "unknown_format",
        f"the first line is not a WhatsApp template line ({whatsapp_template.LINE_1}), an SMS TXT header "
        f"or row (numero;texto;correlationId), nor a CSV header with a phone column "
        f"({', '.join(csv_template.PHONE_COLUMNS)}): {shown!r}",
        number,
    )


def subaccount_from_name(name: str) -> str | None:
    """The subaccount of a ``<SUBACCOUNT>.<YYYYMMDD>.<SEQ>[.ext]`` file name (e.g. ``3486.20170101.01.txt``)."""
    match = _FILE_NAME.fullmatch(name)
    if match is None:
        return None
    digits = match["date"]
    try:
        datetime.date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        return None
    return match["subaccount"]
