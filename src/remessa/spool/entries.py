"""Inbox entries one at a time: which names may be batch files, which entries are refused and why (not a
regular file, a name that is not UTF-8 or too long), how a name is shown, a file's identity to tell that it
changed, and a small file read that never blocks nor reads without bound (sidecars).
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from pathlib import Path

FOLDERS = ("inbox", "processing", "success", "error")
NEVER_TAKEN_SUFFIXES = (".tmp", ".part")
SIDECAR_SUFFIX = ".json"
SIDECAR_MAX_BYTES = 1 << 20  # options fit in a few hundred bytes; more is not a sidecar
# The longest name taken: its results need room beside it within the 255 bytes a name may have on Linux
# (".NAME.summary.json.1234abcd.tmp" adds 27, a second file of that name "NAME.batch1234567" more).
NAME_MAX_BYTES = 200
TEMPORARY = re.compile(r"\..+\.[0-9a-f]{8}\.tmp", re.DOTALL)  # how results/report.py names a file being written


def sidecar_of(path: Path) -> Path:
    """Where a batch file's sidecar options are: its full name plus ``.json``, beside it."""
    return path.with_name(path.name + SIDECAR_SUFFIX)


def eligible(name: str) -> bool:
    """Whether a name in an inbox may be a batch file (sidecars travel with their batch)."""
    return not (
        name.startswith(".") or name.endswith(NEVER_TAKEN_SUFFIXES) or name.endswith(SIDECAR_SUFFIX)
    )


def refusal(path: Path) -> str | None:
    """Why an inbox entry that is not a regular file is refused, or None for a regular file."""
    mode = os.lstat(path).st_mode
    if stat.S_ISREG(mode):
        return None
    what = (
        "a symbolic link" if stat.S_ISLNK(mode)
        else "a directory" if stat.S_ISDIR(mode)
        else "a named pipe" if stat.S_ISFIFO(mode)
        else "not a regular file"
    )
    return f"{path.name} is {what}; only regular files are taken"


def name_problem(name: str) -> str | None:
    """Why a file name cannot be taken (not UTF-8, too long for the names derived from it), or None."""
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        return "the file name is not valid UTF-8 (shown with \\x escapes); rename it in UTF-8"
    if size > NAME_MAX_BYTES:
        return (f"the file name is {size} bytes long; at most {NAME_MAX_BYTES} are taken, so that its report"
                " files fit beside it")
    return None


def shown_name(name: str) -> str:
    """`name` as stored and shown: bytes that are not UTF-8 escaped (\\xff), and a name too long cut to fit
    with a hash of the whole, so that two long names stay apart. A good name is itself."""
    shown = os.fsencode(name).decode("utf-8", "backslashreplace")
    encoded = shown.encode("utf-8")
    if len(encoded) <= NAME_MAX_BYTES:
        return shown
    digest = hashlib.sha256(os.fsencode(name)).hexdigest()[:8]
    return encoded[:NAME_MAX_BYTES - 10].decode("utf-8", "ignore") + "~" + digest


def identity(path: Path) -> dict[str, int]:
    """What tells that a file changed: its inode, size and modification time."""
    info = os.stat(path)
    return {"inode": info.st_ino, "size": info.st_size, "mtime_ns": info.st_mtime_ns}


def changed(read: dict[str, int], now: dict[str, int]) -> str:
    """How a file changed since it was read, in words."""
    if now["inode"] != read["inode"]:
        return "the file was replaced"
    if now["size"] != read["size"]:
        return f"the file grew from {read['size']} to {now['size']} bytes" if now["size"] > read["size"] else \
            f"the file shrank from {read['size']} to {now['size']} bytes"
    return "the file was modified"


def read_small(path: Path, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes, never blocking (a FIFO) nor reading more than
    that (a link to /dev/zero). Raises ValueError saying why the entry is not one, OSError if unreadable."""
    why = refusal(path)
    if why is not None:
        raise ValueError(why)
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # swapped for something else since the lstat
            raise ValueError(f"{path.name} is not a regular file")
        data = file.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"{path.name} is larger than {limit} bytes")
    return data
