"""The settings of an SMPP provider (a ``[providers.NAME]`` table of type ``smpp``) and their checks."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from remessa.channels.smpp import text as smpp_text

AUTO = -1  # source_ton / source_npi: 5/0 for an alphanumeric source_addr, else 1/1


@dataclass(frozen=True)
class SmppSettings:
    """A ``[providers.NAME]`` table of type ``smpp``. Times in seconds; `rate` is submits/s per bind."""

    host: str = "127.0.0.1"
    port: int = 2775
    system_id: str = ""
    password: str = ""  # at most 8 characters (SMPP 3.4)
    system_type: str = "MovileSMSC"
    binds: int = 4
    window: int = 10
    rate: float = 80.0
    enquire_link: float = 45.0
    response_timeout: float = 10.0
    tls: bool = False
    ca_file: str = ""  # PEM bundle to trust instead of the system's
    source_addr: str = ""
    source_ton: int = AUTO
    source_npi: int = AUTO
    dest_ton: int = 1
    dest_npi: int = 1
    validity_hours: int = 24  # 0: the SMSC's default
    encoding: str = "auto"  # auto | gsm7 | latin1 | ucs2
    transliterate: bool = False
    sixteen_bit_reference: bool = False
    registered_delivery: bool = True
    reconnect_min: float = 1.0
    reconnect_max: float = 60.0
    receipt_time_zone: str = "UTC"  # the SMSC's clock in a receipt text's dates (seed 002: "Server Timezone UTC")
    allow_short_timers: bool = False  # tests only: lift the provider's 30-59 s enquire_link range

    def __post_init__(self) -> None:
        if not self.allow_short_timers and not 30 <= self.enquire_link <= 59:
            raise ValueError("enquire_link must be between 30 and 59 seconds (the provider's range)")
        if len(self.password) > 8:
            raise ValueError("password: SMPP 3.4 allows at most 8 characters")
        if self.encoding not in smpp_text.MODES:
            raise ValueError(f"encoding must be one of {', '.join(smpp_text.MODES)}")
        for name in ("binds", "window"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        for name in ("rate", "response_timeout", "reconnect_min", "reconnect_max"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if not 0 <= self.validity_hours <= 99 * 24:
            raise ValueError("validity_hours must be between 0 and 2376")
        self.zone()  # raises for an unknown zone

    def zone(self) -> ZoneInfo:
        """The zone of the dates in receipt texts (they carry no offset)."""
        try:
            return ZoneInfo(self.receipt_time_zone)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise ValueError(f"receipt_time_zone: unknown time zone {self.receipt_time_zone!r}") from None

    def source(self) -> tuple[int, int]:
        """(TON, NPI) of source_addr: as configured, else 5/0 (alphanumeric) or 1/1 (international)."""
        alphanumeric = any(c.isalpha() for c in self.source_addr)
        ton = self.source_ton if self.source_ton != AUTO else (5 if alphanumeric else 1)
        npi = self.source_npi if self.source_npi != AUTO else (0 if alphanumeric else 1)
        return ton, npi


def validity_period(hours: int) -> str:
    """The relative SMPP time `YYMMDDhhmmss000R` for `hours`; empty for 0 (the SMSC's default)."""
    if hours <= 0:
        return ""
    return f"0000{hours // 24:02d}{hours % 24:02d}0000000R"
