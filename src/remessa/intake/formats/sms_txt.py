"""The provider's SFTP SMS format: ``destination;text;correlationId;`` per line, optional header, ``EOF`` last.

The first field is the number and the last the correlationId; everything between is the text, so a text may
contain ``;``. This parser is the hot path for large files: plain ``split`` unless a line has quotes.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator

from remessa.intake.formats import FileInfo, Row, RowProblem
from remessa.intake.formats.source import Source, split_line

TOO_FEW_FIELDS = RowProblem("too_few_fields", 'missing field "texto": the line has only one field')
_PHONE_CHARS = frozenset("0123456789+()-. ")
_LETTER = re.compile(r"[^\W\d_]")


def recognises(line: str, message_text: str) -> bool:
    """The SMS TXT header (``numero;texto;correlationId(opcional);``) or a row starting with a phone number."""
    fields = split_line(line, ";")
    return _phone_like(fields[0]) or _is_own_header(fields)


def _is_own_header(fields: list[str]) -> bool:
    """``numero;texto`` and optionally ``correlationId...``: other columns make a CSV header."""
    names = [field.strip().casefold() for field in fields]
    while len(names) > 2 and not names[-1]:
        names.pop()
    return (
        len(names) in (2, 3)
        and names[0] in ("numero", "número")
        and names[1] == "texto"
        and (len(names) == 2 or names[2].startswith("correlationid"))
    )


def parse(source: Source, message_text: str) -> tuple[FileInfo, Iterator[Row]]:
    """The file's description and its rows; ``message_text`` is not used by this format."""
    first = source.first_line()
    header = first if first is not None and _is_header(first[1]) else None
    info = FileInfo(
        format="sms_txt",
        encoding=source.encoding,
        newline=source.newline,
        separator=";",
        preamble=(header[1],) if header else (),
        trailer=("EOF",),
        notes=source.notes,
    )
    return info, _rows(source, header[0] if header else 0)


def _phone_like(field: str) -> bool:
    field = field.strip()
    return set(field) <= _PHONE_CHARS and any(c.isdigit() for c in field)


def _is_header(line: str) -> bool:
    """A first line whose first field has letters names the columns (a number never has letters)."""
    return bool(_LETTER.search(split_line(line, ";")[0])) and line.strip().upper() != "EOF"


def _rows(source: Source, header_line: int) -> Iterator[Row]:
    # Row(...) runs the frozen dataclass __init__, one object.__setattr__ per field: three quarters of the
    # time of a million-row file. Filling the instance dict directly makes an equal Row three times faster
    # (test_formats_sms_txt.py checks that the two stay indistinguishable).
    new, set_dict, row_type = object.__new__, object.__setattr__, Row
    blocks = source.blocks()
    base = 0
    for block in blocks:
        if base < header_line <= base + len(block):
            block[header_line - base - 1] = ""  # blank lines are skipped
        for number, line in enumerate(block, base + 1):
            fields = split_line(line, ";") if '"' in line else line.split(";")
            count = len(fields)
            if count > 1 and fields[-1] == "":
                count -= 1  # the usual trailing ";"
            if count == 3:
                destination, text, correlation_id = fields[0], fields[1], fields[2]
            elif count == 2:
                destination, text, correlation_id = fields[0], fields[1], ""
            elif count > 3:
                destination, text, correlation_id = fields[0], ";".join(fields[1 : count - 1]), fields[count - 1]
            elif not line or line.isspace():
                continue
            elif fields[0].strip().upper() == "EOF":
                _refuse_after_eof(source, block[number - base :], number, blocks)
                return
            else:
                yield Row(number, fields[0], "", raw=line, problem=TOO_FEW_FIELDS)
                continue
            row = new(row_type)
            set_dict(row, "__dict__", {
                "line": number, "destination": destination, "text": text, "correlation_id": correlation_id,
                "extra_info": "", "raw": line, "params": (), "problem": None,
            })  # fmt: skip
            yield row
        base += len(block)
    if not source.terminated:  # no EOF, and the last line cut: never taken as complete
        raise source.error("incomplete_file", "the last line has no line ending and no EOF line follows: its writer"
                           " may not have finished; drop the file again once it is complete", base)
    if source.require_eof:
        raise source.error("missing_eof", "the profile requires an EOF line at the end and there is none", base)


def _refuse_after_eof(source: Source, rest: list[str], eof_line: int, blocks: Iterator[list[str]]) -> None:
    """Raise if anything but blank lines follows the EOF line."""
    number = eof_line
    for block in itertools.chain((rest,), blocks):
        for line in block:
            number += 1
            if line.strip():
                raise source.error("content_after_eof", f"nothing may follow the EOF of line {eof_line}", number)
