"""The watchdog observer on every inbox and the control folder: it only enqueues (coalesced), the daemon's
loop decides.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

from remessa.spool.tree import Spool


def _quiet_stop(record: logging.LogRecord) -> bool:
    """While the observer stops, an emitter thread that already passed its keep-running check reads once
    more from the inotify it just closed, and watchdog logs that at ERROR (gorakhargosh/watchdog#963): a
    benign race of its shutdown, not ours to report. Every other record passes."""
    return "called when the thread is inactive" not in record.getMessage()


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
        inotify = logging.getLogger("watchdog.observers.inotify")
        inotify.addFilter(_quiet_stop)
        try:
            self.observer.stop()
            self.observer.join(timeout=5)
        finally:
            inotify.removeFilter(_quiet_stop)

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
