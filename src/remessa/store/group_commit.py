"""Group commit: what several threads hand over at the same time is written in one transaction.

Each SMPP bind thread must not acknowledge its receipts before they are stored. With one transaction per
bind read, four binds and the dispatcher queue on the store's write lock; the dispatcher's commits wait
behind a stream of small receipt commits. Here a caller that finds no write running writes everything
queued so far (its own and the other callers'); the others wait for that write and share its result.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class _Ticket(Generic[T]):
    __slots__ = ("items", "done", "error")

    def __init__(self, items: Sequence[T]) -> None:
        self.items = items
        self.done = False
        self.error: BaseException | None = None


class GroupCommit(Generic[T]):
    """`__call__(items)` returns once `write` has stored them (with whatever else was queued), or raises
    what `write` raised for the group they were in."""

    def __init__(self, write: Callable[[list[T]], object]) -> None:
        self._write = write
        self._changed = threading.Condition()
        self._queued: list[_Ticket[T]] = []
        self._writing = False

    @property
    def waiting(self) -> int:
        """Calls queued behind the write in progress."""
        with self._changed:
            return len(self._queued)

    def __call__(self, items: Sequence[T]) -> None:
        ticket = _Ticket(items)
        with self._changed:
            self._queued.append(ticket)
            while self._writing and not ticket.done:
                self._changed.wait()
            if not ticket.done:  # nobody is writing: write for everyone queued
                self._writing = True
                group, self._queued = self._queued, []
        if not ticket.done:
            error: BaseException | None = None
            try:
                self._write([item for queued in group for item in queued.items])
            except BaseException as exc:  # handed to every caller of the group, which raise it
                error = exc
            with self._changed:
                for queued in group:
                    queued.done, queued.error = True, error
                self._writing = False
                self._changed.notify_all()
        if ticket.error is not None:
            raise ticket.error
