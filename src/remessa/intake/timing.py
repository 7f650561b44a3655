"""A batch's timing, decided once at intake and stored on the batch: its time zone (sidecar, then profile,
then daemon default, then UTC), its window (the WhatsApp header's wins over timeWindow), start and expiry.

Everything later (planner, reports, status) reads the stored zone; nothing recomputes it from today's config.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from remessa.config import ProfileSettings
from remessa.intake.formats import WhatsAppTemplate
from remessa.intake.formats.sidecar import BatchOptions
from remessa.model import Timing
from remessa.schedule.window import load_zone, resolve_expiry, resolve_start


def zone_name(options_zone: str | None, profile_zone: str | None, daemon_zone: str | None) -> str:
    """The batch's time zone name: the sidecar's, else the profile's, else the daemon's, else "UTC"."""
    for name in (options_zone, profile_zone, daemon_zone):
        if name and name.strip():
            return name.strip()
    return "UTC"


def timing(
    options: BatchOptions, template: WhatsAppTemplate | None, profile: ProfileSettings, daemon_zone: str,
    received_at: float,
) -> Timing:
    """The Timing of a batch received at `received_at` (epoch seconds) with these options and header."""
    zone_key = zone_name(options.time_zone, profile.timezone, daemon_zone)
    zone = load_zone(zone_key)
    window: dict[str, Any] = {}
    hours = options.time_window if options.time_window is not None else profile.time_window
    if hours:
        window = {"hours": list(hours)}
    if template is not None and (template.date or template.start or template.end):
        window = {"date": template.date, "start": template.start, "end": template.end}
    received = datetime.fromtimestamp(received_at, UTC)
    start = resolve_start(options, received, zone)
    expiry = resolve_expiry(options, received, zone)
    return Timing(
        zone=zone_key,
        window=window,
        not_before=start.timestamp() if start else None,
        expires_at=expiry.timestamp() if expiry else None,
    )
