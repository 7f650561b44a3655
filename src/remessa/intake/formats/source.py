"""A batch file as text: its encoding, decided by one streaming pass over the bytes, and its physical lines.

Every parser reads through a ``Source`` so that encodings, line endings and file-level errors are handled once.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Generator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from remessa.errors import BatchFileError

CHUNK = 1 << 20  # bytes per read in the pre-pass, characters per read while parsing
FALLBACK_NOTE = "not valid UTF-8: read as Windows-1252"


@dataclass(frozen=True)
class Source:
    """A readable batch file whose encoding is known."""

    path: Path
    encoding: str  # utf-8 | utf-8-sig | cp1252
    notes: tuple[str, ...] = ()
    newline: str = "\n"  # the line ending the file is written with (its first), for files written back
    terminated: bool = True  # its last line has a line ending (else a writer may not have finished it)
    require_eof: bool = False  # the profile's rule: a format with an EOF line must end with it

    @property
    def name(self) -> str:
        return self.path.name

    def error(self, code: str, message: str, line: int | None = None) -> BatchFileError:
        """A file-level error whose sentence starts with this file's name."""
        return BatchFileError(code, f"{self.name}: {message}", line)

    def blocks(self) -> Generator[list[str], None, None]:
        """The file's physical lines, without their endings, in lists of about ``CHUNK`` characters.

        CRLF, LF and CR all end a line. A line longer than a chunk is assembled whole (memory grows
        with that one line only). Raises ``BatchFileError("unreadable")`` if reading fails midway.
        """
        try:
            # newline=None: the decoder turns \r\n and \r into \n, also across chunk boundaries.
            with open(self.path, encoding=self.encoding, newline=None) as text:
                carry: list[str] = []
                while chunk := text.read(CHUNK):
                    parts = chunk.split("\n")
                    if len(parts) == 1:
                        carry.append(chunk)
                        continue
                    if carry:
                        carry.append(parts[0])
                        parts[0] = "".join(carry)
                        carry = []
                    tail = parts.pop()
                    if tail:
                        carry.append(tail)
                    yield parts
                if carry:
                    yield ["".join(carry)]
        except (OSError, UnicodeDecodeError) as exc:
            raise self.error("unreadable", f"cannot be read: {exc}") from exc

    def lines(self) -> Generator[tuple[int, str], None, None]:
        """``(line number, line)`` for every physical line, numbered from 1."""
        number = 0
        for block in self.blocks():
            for line in block:
                number += 1
                yield number, line

    def first_line(self) -> tuple[int, str] | None:
        """The first line that is not blank, with its number; None if there is none."""
        with closing(self.lines()) as lines:
            for number, line in lines:
                if line.strip():
                    return number, line
        return None


def sniff(path: Path) -> Source:
    """Decide a file's encoding in one streaming pass: UTF-8 (BOM or not), else Windows-1252.

    Raises ``BatchFileError`` "unreadable" (cannot open, NUL bytes, UTF-16, neither encoding), "empty" or
    "mixed_encoding" (some lines UTF-8, others Windows-1252).
    """
    name = path.name
    try:
        with open(path, "rb") as data:
            head = data.read(CHUNK)
            if not head:
                raise BatchFileError("empty", f"{name}: the file is empty")
            if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
                raise BatchFileError("unreadable", f"{name}: UTF-16 text is not supported; save it as UTF-8")
            bom = head.startswith(codecs.BOM_UTF8)
            newline = _newline(head)
            if _is_utf8(data, head, name):
                return Source(path, "utf-8-sig" if bom else "utf-8", newline=newline, terminated=_terminated(data))
            data.seek(0)
            _check_cp1252(data, name)
            data.seek(0)
            _refuse_mixed(data, name)
            terminated = _terminated(data)
    except OSError as exc:
        raise BatchFileError("unreadable", f"{name}: cannot be read: {exc.strerror or exc}") from exc
    return Source(path, "cp1252", (FALLBACK_NOTE,), newline, terminated)


def _terminated(data: BinaryIO) -> bool:
    """Whether the file's last byte ends a line."""
    data.seek(-1, 2)
    return data.read(1) in (b"\n", b"\r")


def _newline(head: bytes) -> str:
    """The first line ending in `head`: CRLF, CR or LF (LF when there is none)."""
    end = head.find(b"\n")
    cr = head.find(b"\r")
    if cr >= 0 and (end < 0 or cr < end):
        return "\r\n" if head[cr + 1:cr + 2] == b"\n" else "\r"
    return "\n"


def _is_utf8(data: BinaryIO, head: bytes, name: str) -> bool:
    """Whether the rest of the stream (after ``head``) is valid UTF-8; raises on NUL bytes."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    chunk = head
    valid = True
    while chunk:
        _refuse_nul(chunk, offset, name)
        if valid:
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                valid = False  # keep reading: a NUL byte later still makes the file binary
        offset += len(chunk)
        chunk = data.read(CHUNK)
    if valid:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            valid = False
    return valid


def _check_cp1252(data: BinaryIO, name: str) -> None:
    offset = 0
    while chunk := data.read(CHUNK):
        try:
            chunk.decode("cp1252")
        except UnicodeDecodeError as exc:
            bad = chunk[exc.start]
            raise BatchFileError(
                "unreadable",
                f"{name}: neither UTF-8 nor Windows-1252 text (byte 0x{bad:02x} at offset {offset + exc.start})",
            ) from None
        offset += len(chunk)


def _refuse_mixed(data: BinaryIO, name: str) -> None:
    """Raise if some lines are UTF-8 and others Windows-1252: decoding the whole as either would send
    mojibake on the other lines. A line of plain ASCII is both; a line that decodes as UTF-8 with accents
    is UTF-8 (Windows-1252 text almost never does)."""
    utf8: list[int] = []
    cp1252: list[int] = []
    number = 0
    for raw in data:
        line = raw[:-1] if raw.endswith(b"\n") else raw
        if line.endswith(b"\r"):
            line = line[:-1]
        for part in line.split(b"\r"):  # CR alone ends a line too, as Source.lines counts them
            number += 1
            if part.isascii():
                continue
            try:
                part.decode("utf-8")
            except UnicodeDecodeError:
                cp1252.append(number)
            else:
                utf8.append(number)
    if utf8 and cp1252:
        raise BatchFileError("mixed_encoding", f"{name}: lines in two encodings, which would send garbled text:"
                             f" UTF-8 on {_lines(utf8)} and Windows-1252 on {_lines(cp1252)}; save the whole file"
                             " in one encoding (UTF-8)")


def _lines(numbers: list[int], most: int = 10) -> str:
    shown = ", ".join(str(n) for n in numbers[:most])
    more = f" and {len(numbers) - most} more" if len(numbers) > most else ""
    return f"line{'s' if len(numbers) > 1 else ''} {shown}{more}"


def _refuse_nul(chunk: bytes, offset: int, name: str) -> None:
    nul = chunk.find(b"\0")
    if nul >= 0:
        raise BatchFileError("unreadable", f"{name}: binary content: NUL byte at offset {offset + nul}")


def split_line(line: str, separator: str) -> list[str]:
    """A line's fields; double-quoted fields (``""`` inside for a quote) are honoured when balanced."""
    if '"' not in line or line.count('"') % 2:
        # No quotes, or an odd number of them (a stray quote in a text): plain fields, kept as written.
        return line.split(separator)
    try:
        return next(csv.reader((line,), delimiter=separator, strict=False))
    except csv.Error:  # a field over csv's size limit: read the line plainly
        return line.split(separator)
