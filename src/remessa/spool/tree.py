"""The spool tree (``<root>/<profile>/{inbox,processing,success,error}``): which files are complete, and
claiming them by atomic rename.

A file is taken when renamed into the inbox (complete by construction), or when it has been unchanged for
the settle interval (written in place, copied, or found by a scan). Events get lost, so the inbox is also
scanned at start-up and periodically.
"""

from __future__ import annotations

import errno
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from remessa.spool.entries import FOLDERS, SIDECAR_SUFFIX, TEMPORARY, eligible, sidecar_of


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
                    names = [e.name for e in entries if TEMPORARY.fullmatch(e.name)]
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
