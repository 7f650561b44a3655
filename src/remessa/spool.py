"""The spool tree (``<root>/<profile>/{inbox,processing,success,error}``): which files are complete,
claiming them by atomic rename, and the watchdog observer that notices them.

A file is taken when renamed into the inbox (complete by construction), or when it has been unchanged for
the settle interval (written in place, copied, or found by a scan). Events get lost, so the inbox is also
scanned at start-up and periodically; the observer only enqueues, the daemon's loop decides.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import re
import stat
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

log = logging.getLogger(__name__)

FOLDERS = ("inbox", "processing", "success", "error")
NEVER_TAKEN_SUFFIXES = (".tmp", ".part")
SIDECAR_SUFFIX = ".json"
SIDECAR_MAX_BYTES = 1 << 20  # options fit in a few hundred bytes; more is not a sidecar
# The longest name taken: its results need room beside it within the 255 bytes a name may have on Linux
# (".NAME.summary.json.1234abcd.tmp" adds 27, a second file of that name "NAME.batch1234567" more).
NAME_MAX_BYTES = 200
_TEMPORARY = re.compile(r"\..+\.[0-9a-f]{8}\.tmp", re.DOTALL)  # how results/report.py names a file being written


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


def _move_sidecar(batch: Path, moved_to: Path) -> None:
    """The sidecar travels with its batch file (a link or a FIFO too: it is moved, never opened)."""
    try:
        os.rename(sidecar_of(batch), sidecar_of(moved_to))
    except FileNotFoundError:
        pass
    except OSError as exc:
        if exc.errno != errno.ENAMETOOLONG:  # such a sidecar cannot exist
            raise


@dataclass
class _Seen:
    size: int
    mtime_ns: int
    since: float  # monotonic instant the file was first seen with this size and mtime


class Spool:
    """The folders of every profile, and the rules for taking files out of an inbox."""

    def __init__(self, root: Path, profiles: list[str], settle_seconds: float = 2.0) -> None:
        self.root = root
        self.profiles = list(profiles)
        self.settle = settle_seconds
        self._seen: dict[Path, _Seen] = {}
        self._moved_in: set[Path] = set()

    @property
    def control(self) -> Path:
        """Touched by the CLI after it changes a batch (pause, resume, cancel), to wake the daemon."""
        return self.root / ".control"

    def ensure(self) -> None:
        self.control.mkdir(parents=True, exist_ok=True)
        for profile in self.profiles:
            for folder in FOLDERS:
                self.folder(profile, folder).mkdir(parents=True, exist_ok=True)

    def folder(self, profile: str, name: str) -> Path:
        return self.root / profile / name

    def profile_of(self, path: Path) -> str | None:
        """The profile whose inbox holds `path`, if any."""
        for profile in self.profiles:
            if path.parent == self.folder(profile, "inbox"):
                return profile
        return None

    def moved_in(self, path: Path) -> None:
        """The watcher saw `path` renamed into an inbox: it is complete."""
        self._moved_in.add(path)

    def ready(self, profile: str, now: float | None = None) -> list[Path]:
        """Inbox entries that may be taken now, oldest first; non-regular entries are included so that
        the caller refuses them with a reason."""
        now = time.monotonic() if now is None else now
        inbox = self.folder(profile, "inbox")
        found: list[tuple[float, Path]] = []
        try:
            with os.scandir(inbox) as listing:
                entries = list(listing)
        except FileNotFoundError:
            return []
        present = set()
        for entry in entries:
            path = Path(entry.path)
            if not eligible(entry.name):
                continue
            present.add(path)
            try:
                info = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            if not stat.S_ISREG(info.st_mode) or self._settled(path, info, now):
                found.append((info.st_mtime, path))
        for gone in [p for p in self._seen if p.parent == inbox and p not in present]:
            del self._seen[gone]
        self._moved_in &= present | {p for p in self._moved_in if p.parent != inbox}
        return [path for _, path in sorted(found)]

    def _settled(self, path: Path, info: os.stat_result, now: float) -> bool:
        if path in self._moved_in:
            return True
        seen = self._seen.get(path)
        if seen is None or (seen.size, seen.mtime_ns) != (info.st_size, info.st_mtime_ns):
            # A file found unchanged since well before we looked (e.g. at start-up) needs no wait.
            age = time.time() - info.st_mtime
            since = now - age if age > 0 else now
            seen = self._seen[path] = _Seen(info.st_size, info.st_mtime_ns, since)
        return now - seen.since >= self.settle

    def claim(self, path: Path) -> Path:
        """Move an inbox file into processing/ atomically; raise FileExistsError if one is there."""
        target = path.parent.parent / "processing" / path.name
        if target.exists() or target.is_symlink():
            raise FileExistsError(f"{target} already exists")
        os.rename(path, target)
        self._seen.pop(path, None)
        self._moved_in.discard(path)
        _move_sidecar(path, target)
        return target

    def finish(self, path: Path, outcome: str, name: str | None = None) -> Path:
        """Move a processing/ (or refused inbox) entry to success/ or error/ under `name`, then its sidecar;
        what an interrupted move already moved is not there any more, and the rest follows."""
        target = path.parent.parent / outcome / (name or path.name)
        try:
            os.rename(path, target)
        except FileNotFoundError:
            pass
        _move_sidecar(path, target)
        return target

    def remove_stale_temporaries(self, profile: str) -> list[Path]:
        """Delete the temporary files (``.NAME.1234abcd.tmp``) that report writes cut short by a crash left in
        success/ and error/; returns them. Only at start-up: a running writer's file is young and its own."""
        removed = []
        for outcome in ("success", "error"):
            folder = self.folder(profile, outcome)
            try:
                with os.scandir(folder) as entries:
                    names = [e.name for e in entries if _TEMPORARY.fullmatch(e.name)]
            except FileNotFoundError:
                continue
            for name in names:
                try:
                    os.unlink(folder / name)
                except FileNotFoundError:
                    continue
                removed.append(folder / name)
        return removed

    def free_name(self, profile: str, outcome: str, name: str, batch_id: int) -> str:
        """`name`, or a variant carrying the batch id when success/ or error/ already has it."""
        folder = self.folder(profile, outcome)
        if not (folder / name).exists() and not (folder / name).is_symlink():
            return name
        stem, dot, ext = name.rpartition(".")
        return f"{stem}.batch{batch_id}.{ext}" if dot and stem else f"{name}.batch{batch_id}"

    def stray_sidecars(self, profile: str, orphan_seconds: float,
                       now: float | None = None) -> list[tuple[Path, Path, bool]]:
        """Move to error/ the sidecars in the inbox that will never apply: those whose batch file was taken
        before they came (it is in processing/, success/ or error/ already), and those whose batch file has
        not come `orphan_seconds` after they did (by their mtime against wall time `now`). Returns
        (sidecar, where it went, whether it was an orphan); a sidecar still waiting for its file stays."""
        now = time.time() if now is None else now
        inbox = self.folder(profile, "inbox")
        try:
            with os.scandir(inbox) as entries:
                names = [e.name for e in entries if e.name.endswith(SIDECAR_SUFFIX) and not e.name.startswith(".")]
        except FileNotFoundError:
            return []
        moved: list[tuple[Path, Path, bool]] = []
        for name in names:
            batch = name.removesuffix(SIDECAR_SUFFIX)
            if os.path.lexists(inbox / batch):
                continue
            taken = any(os.path.lexists(self.folder(profile, folder) / batch)
                        for folder in ("processing", "success", "error"))
            try:
                orphan = not taken and now - os.lstat(inbox / name).st_mtime >= orphan_seconds
            except FileNotFoundError:
                continue
            if not (taken or orphan):
                continue
            target = self.folder(profile, "error") / name
            number = 1
            while os.path.lexists(target):
                number += 1
                target = self.folder(profile, "error") / f"{batch}.late{number}{SIDECAR_SUFFIX}"
            try:
                os.rename(inbox / name, target)
            except FileNotFoundError:  # taken away meanwhile
                continue
            moved.append((inbox / name, target, orphan))
        return moved

    def pending(self, profile: str) -> bool:
        """Whether the inbox holds anything that may become a batch."""
        try:
            with os.scandir(self.folder(profile, "inbox")) as entries:
                return any(eligible(entry.name) for entry in entries)
        except FileNotFoundError:
            return False

    def poke(self) -> None:
        """Wake a running daemon watching this spool (if any): its observer sees the write."""
        if self.control.is_dir():
            (self.control / "wake").write_text(f"{time.time()}\n")

    def processing(self, profile: str) -> list[Path]:
        folder = self.folder(profile, "processing")
        return sorted(p for p in folder.iterdir() if eligible(p.name)) if folder.exists() else []


class _Events:
    """What the observer saw since the loop last looked, coalesced: the paths moved in and whether anything
    happened at all. However many events come while the loop is busy, this stays one flag and a set."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._moved: set[Path] = set()
        self._pending = False

    def put(self, moved: Path | None = None) -> None:
        with self._changed:
            if moved is not None:
                self._moved.add(moved)
            self._pending = True
            self._changed.notify_all()

    def take(self, timeout: float) -> set[Path] | None:
        """The moved-in paths once something happened (waiting at most `timeout` s), else None."""
        with self._changed:
            if not self._pending:
                self._changed.wait(timeout)
            if not self._pending:
                return None
            moved, self._moved, self._pending = self._moved, set(), False
            return moved


class _Handler(FileSystemEventHandler):
    def __init__(self, events: _Events) -> None:
        self.events = events

    def on_any_event(self, event: FileSystemEvent) -> None:
        # Runs on the observer thread: only records.
        if event.is_directory:
            return
        if event.event_type == "moved":
            if event.dest_path:  # not a move out of the inbox
                self.events.put(Path(os.fsdecode(event.dest_path)))
        elif event.event_type in ("created", "modified", "closed"):
            self.events.put()


def _observer() -> BaseObserver:
    """inotify with full move events where there is inotify: a file renamed in from outside the inbox is then
    a move (taken at once), not a creation (left to settle); elsewhere the platform's observer."""
    try:
        from watchdog.observers.inotify import InotifyObserver

        return InotifyObserver(generate_full_events=True)
    except (ImportError, OSError):
        return Observer()


class Watcher:
    """A watchdog observer on every inbox; its events wake the daemon's loop through a queue."""

    def __init__(self, spool: Spool) -> None:
        self.spool = spool
        self.events = _Events()
        self.observer = _observer()
        self.observer.name = "spool-watcher"
        self.observer.daemon = True

    def start(self) -> None:
        handler = _Handler(self.events)
        for profile in self.spool.profiles:
            self.observer.schedule(handler, str(self.spool.folder(profile, "inbox")), recursive=False)
        self.observer.schedule(handler, str(self.spool.control), recursive=False)
        self.observer.start()

    def stop(self) -> None:
        self.observer.stop()
        self.observer.join(timeout=5)

    def wake(self) -> None:
        """Wake the loop now (safe from any thread)."""
        self.events.put()

    def wait(self, timeout: float) -> bool:
        """Block until something happened or `timeout` passes; hand moves to the spool. Returns whether
        anything happened."""
        moved = self.events.take(timeout)
        if moved is None:
            return False
        for path in moved:
            if self.spool.profile_of(path) is not None:
                self.spool.moved_in(path)
        return True
