"""Intake: claim a file from an inbox, parse and validate every row, and store them as a batch.

A file refused as a whole (not a regular file, duplicate name, unreadable, unknown format…) still becomes
a batch in state FAILED, so that it gets a report and a summary in error/ like any other file.
"""

from __future__ import annotations

import errno
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from remessa.config import ProfileSettings, Settings
from remessa.errors import BatchFileError
from remessa.intake.formats import Parsed, open_batch, subaccount_from_name
from remessa.intake.formats.sidecar import BatchOptions, read_sidecar
from remessa.intake.timing import timing, zone_name
from remessa.intake.validate import Validator
from remessa.model import Batch, BatchState, Status
from remessa.results.settlement import Settlement
from remessa.schedule.planner import estimate
from remessa.spool import Spool, changed, identity, name_problem, refusal, shown_name, sidecar_of
from remessa.store import Store

log = logging.getLogger(__name__)


class Intake:
    """Turns files in the inboxes into stored batches."""

    def __init__(self, settings: Settings, store: Store, spool: Spool, settlement: Settlement) -> None:
        self.settings = settings
        self.store = store
        self.spool = spool
        self.settlement = settlement

    def take(self, profile_name: str, path: Path, now: float) -> int | None:
        """Claim one inbox entry and store it; returns the batch id (FAILED batches included), or None when
        the entry vanished before it could be taken.

        The file is claimed (renamed into processing/) before its batch is created: a crash between the two
        leaves a file in processing/ with no batch, which start-up loads (see resume), never a batch without
        its file.
        """
        profile = self.settings.profile(profile_name)
        try:
            problem = entry_problem(path)
        except FileNotFoundError:
            log.info("%s left the inbox before it was taken", path.name)
            return None
        if problem is not None:
            return self._refuse(profile, path, problem, now)
        if self.store.name_taken(profile.name, path.name) and not profile.allow_duplicate_names:
            error = BatchFileError("duplicate_name", f"a file named {path.name} was already processed")
            return self._refuse(profile, path, error, now)
        try:
            claimed = self.spool.claim(path)
        except FileExistsError:
            error = BatchFileError("duplicate_name", f"a file named {path.name} is already being processed")
            return self._refuse(profile, path, error, now)
        except FileNotFoundError:
            log.info("%s left the inbox before it was taken", path.name)
            return None
        batch = self.store.batch(self._new_batch(profile, path.name, now, final_name=""))
        log.info("batch %d: claimed %s for profile %s", batch.id, path.name, profile.name)
        return self.load(batch, claimed, now)

    def _refuse(self, profile: ProfileSettings, path: Path, error: BatchFileError, now: float) -> int:
        """An inbox entry refused as a whole: a FAILED batch, so that it gets its report in error/ (under
        its shown name when its own is not UTF-8 or too long)."""
        return self._fail(self._new_batch(profile, shown_name(path.name), now), path, error, now)

    def resume(self, profile_name: str, path: Path, now: float) -> int | None:
        """A file found in processing/ at start-up: continue its batch from the store, or load it if the
        crash came before anything was stored. Returns the batch id of a load it did, None when the rows
        were already stored (nothing to do here)."""
        problem = entry_problem(path)
        if problem is not None:  # e.g. a name an earlier version took
            return self._refuse(self.settings.profile(profile_name), path, problem, now)
        try:
            batch = self.store.find_batch(path.name, profile_name)
        except LookupError:
            batch = None
        if batch is None or batch.state in (BatchState.FAILED, BatchState.SETTLED):
            profile = self.settings.profile(profile_name)
            batch = self.store.batch(self._new_batch(profile, path.name, now))
            log.info("batch %d: %s found in processing/ with no stored rows; loading it", batch.id, path.name)
            return self.load(batch, path, now)
        if batch.state == BatchState.RECEIVING:
            log.info("batch %d: resuming the load of %s after line %d", batch.id, path.name, batch.last_line)
            return self.load(batch, path, now)
        return None  # rows stored: the dispatcher carries on from the store

    def load(self, batch: Batch, path: Path, now: float) -> int:
        """Parse, validate and store the rows of a claimed file (resuming after batch.last_line)."""
        profile = self.settings.profile(batch.profile)
        try:
            read = identity(path)
            parsed, options = open_file(self.settings, profile, path)
            self.store.update_batch(
                batch.id,
                format=parsed.info.format,
                encoding=parsed.info.encoding,
                kind=parsed.info.kind,
                info={**_info_json(parsed), "read": read},
                options=options.to_json(),
                **asdict(timing(options, parsed.info.template, profile, self.settings.daemon.timezone,
                                batch.received_at)),
            )
            validator = Validator(profile, kind=parsed.info.kind, blocklist=self.store.blocklist(profile.name))
            if batch.last_line:
                for destination, line in self.store.destinations(batch.id):
                    validator.remember(destination, line)
            stored = self.store.add_messages(
                batch.id, _records(parsed, validator, options, skip_to=batch.last_line)
            )
            if identity(path) != read:
                raise BatchFileError("file_changed", f"{path.name}: {changed(read, identity(path))} while it was"
                                     " being read: its writer had not finished; drop it again once it is complete")
        except BatchFileError as error:
            self.store.discard_messages(batch.id)
            return self._fail(batch.id, path, error, now)
        except Exception as exc:  # loop boundary: a bug must not crash-loop the daemon on one file
            log.exception("batch %d: unexpected error while loading %s", batch.id, path.name)
            self.store.discard_messages(batch.id)
            failure = BatchFileError("internal_error", f"{path.name}: {type(exc).__name__}: {exc}")
            return self._fail(batch.id, path, failure, now)
        self.store.update_batch(batch.id, state=BatchState.QUEUED, changed_at=now)
        loaded = self.store.batch(batch.id)
        log.info("batch %d: stored %d rows (%d new) from %s", batch.id, loaded.rows, stored, path.name)
        self._admit(loaded, profile, path, now)
        self.settlement.progress(self.store.batch(batch.id), now)
        return batch.id

    def _admit(self, batch: Batch, profile: ProfileSettings, path: Path, now: float) -> None:
        """ETA and admission: will the batch finish before it expires? `refuse` sends nothing if not."""
        queued = self.store.queued()
        eta = estimate(batch, queued, self.store.batches([BatchState.QUEUED]), self.settings.rate(batch.provider), now)
        self.store.update_batch(batch.id, eta=eta.finish.timestamp() if eta.finish else None,
                                expected_expired=eta.expiring)
        if not eta.expiring:
            return
        when = eta.local(ZoneInfo(batch.timing.zone))
        doomed, own = eta.expiring, queued.get(batch.id, 0)
        if profile.admission == "refuse":
            reason = f"would_expire: {doomed} of {own} messages would expire before being sent (ETA {when})"
            self.store.expire(batch.id, reason, now)
            error = BatchFileError("would_expire", f"{batch.name}: {doomed} of {own} messages would expire; ETA {when}")
            self._fail(batch.id, path, error, now)
        else:
            log.warning("batch %d: %d of %d messages are expected to expire (ETA %s)", batch.id, doomed, own, when)

    def _new_batch(self, profile: ProfileSettings, name: str, now: float, final_name: str | None = None) -> int:
        return self.store.create_batch(
            profile=profile.name,
            name=name,
            provider=profile.provider,
            subaccount=subaccount_from_name(name) or profile.subaccount,
            state=BatchState.RECEIVING,
            priority=profile.priority,
            in_flight=profile.in_flight,
            zone=zone_name(None, profile.timezone, self.settings.daemon.timezone),  # until the sidecar is read
            final_name=name if final_name is None else final_name,  # a refused entry keeps its own name
            received_at=now,
        )

    def _fail(self, batch_id: int, path: Path, error: BatchFileError, now: float) -> int:
        batch = self.store.batch(batch_id)
        log.warning("batch %d: %s refused: %s", batch_id, batch.name, error)
        self.store.update_batch(
            batch_id, state=BatchState.FAILED, error_code=error.code, error=str(error), changed_at=now
        )
        self.settlement.close(self.store.batch(batch_id), path, "error", now)
        return batch.id


def entry_problem(path: Path) -> BatchFileError | None:
    """Why an entry is refused before it is read (not a regular file, a name that cannot be taken), or None.
    Raises FileNotFoundError if it is gone."""
    why = refusal(path)
    if why is not None:
        return BatchFileError("not_regular_file", why)
    bad_name = name_problem(path.name)
    if bad_name is not None:
        return BatchFileError("bad_name", f"{shown_name(path.name)}: {bad_name}")
    return None


def open_file(settings: Settings, profile: ProfileSettings, path: Path) -> tuple[Parsed, BatchOptions]:
    """A batch file's sidecar options and its rows, as the daemon reads them (``remessa validate`` too);
    raises ``BatchFileError`` for anything that refuses the whole file."""
    options = read_options(path)
    template = options.default_message_text or profile.message_text
    parsed = open_batch(path, format=profile.format, message_text=template, require_eof=profile.require_eof)
    media = parsed.info.template.media if parsed.info.template else None
    if media is not None and media.source == "PATH":
        _check_media(settings, path.name, media.location)
    return parsed, options


def _check_media(settings: Settings, name: str, location: str) -> None:
    """A PATH media must be a file inside the configured media folder."""
    folder = settings.daemon.media_dir
    if not folder:
        raise BatchFileError("bad_media", f"{name}: media {location!r} is a PATH but no media_dir is configured", 2)
    root = Path(folder).resolve()
    target = (root / location.lstrip("/")).resolve()
    if not target.is_relative_to(root):
        raise BatchFileError("bad_media", f"{name}: media {location!r} is outside the media folder", 2)
    if not target.is_file():
        raise BatchFileError("bad_media", f"{name}: media {location!r} does not exist in the media folder", 2)


def read_options(path: Path) -> BatchOptions:
    """The options of the sidecar beside batch file `path`, or the defaults when it has none (a link, even
    broken, or a FIFO is a sidecar: refused, never followed nor opened)."""
    sidecar = sidecar_of(path)
    try:
        os.lstat(sidecar)
    except FileNotFoundError:
        return BatchOptions()
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:  # no sidecar can have that name
            return BatchOptions()
        raise BatchFileError("bad_sidecar", f"{sidecar.name}: cannot be read: {exc.strerror or exc}") from None
    return read_sidecar(sidecar)


def _records(
    parsed: Parsed, validator: Validator, options: BatchOptions, skip_to: int
) -> Iterator[tuple[Any, ...]]:
    """Rows as tuples in schema.MESSAGE_INSERT_COLUMNS order (without batch_id)."""
    default_extra = options.extra_info
    queued = Status.QUEUED.value
    for row in parsed.rows:
        if row.line <= skip_to:
            continue
        verdict = validator.check(row)
        status = verdict.status.value
        yield (
            row.line,
            status,
            verdict.destination,
            row.text,
            row.correlation_id,
            row.extra_info or default_extra,
            json.dumps(row.params) if row.params else "",
            row.raw,
            "" if status == queued else verdict.reason,
            0,
        )


def _info_json(parsed: Parsed) -> dict[str, Any]:
    info = asdict(parsed.info)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in info.items()}
