"""Settings: one TOML file loaded into frozen dataclasses, every problem reported at once.

Search order: ``--config``, ``$REMESSA_CONFIG``, ``/etc/remessa/remessa.toml``; with no file at all the
built-in defaults apply (spool ``./spool``, SQLite inside it, one profile ``default`` on ``sandbox``).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import tomllib
import types
import typing
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from remessa.channels.base import CHANNEL_TYPES, DEFAULT_RATE, capacity
from remessa.channels.smpp.text import MODES as ENCODINGS
from remessa.errors import ConfigError, NotFound

SYSTEM_CONFIG = Path("/etc/remessa/remessa.toml")
FORMATS = ("auto", "sms_txt", "csv", "whatsapp")
IN_FLIGHT_POLICIES = ("retry", "unknown")


@dataclass(frozen=True)
class DaemonSettings:
    """The ``[daemon]`` table."""

    spool: Path = Path("spool")
    database: str = ""  # empty: sqlite:///<spool>/remessa.sqlite
    timezone: str = ""  # empty: UTC
    settle_seconds: float = 2.0  # a file written in place must be unchanged this long
    poll_seconds: float = 0.5  # wait of the main loop while batches await receipts or files settle
    idle_seconds: float = 5.0  # wait when nothing is in flight (also the period of the inbox re-scan)
    media_dir: str = ""  # where WhatsApp PATH media must resolve
    orphan_sidecar_seconds: float = 3600.0  # a sidecar whose batch file has not come by then goes to error/
    retention_days: float = 90.0  # a settled batch's messages and receipts are deleted after this (0: never)

    @property
    def database_url(self) -> str:
        return self.database or f"sqlite:///{(self.spool / 'remessa.sqlite').resolve()}"


@dataclass(frozen=True)
class HttpSettings:
    """The ``[http]`` table: the daemon's HTTP listener (provider webhooks). It runs when a provider takes
    its receipts by webhook, or when this table says where to listen."""

    listen: str = "127.0.0.1:8080"  # host:port; beyond loopback, give each provider a webhook_token
    body_limit: int = 64 * 1024  # bytes of one webhook body; more is refused with 413
    allowed_networks: tuple[str, ...] = ()  # CIDRs a webhook may come from; empty: any

    def address(self) -> tuple[str, int]:
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]") or "127.0.0.1", int(port)


@dataclass(frozen=True)
class ProviderSettings:
    """A ``[providers.NAME]`` table: a channel type and that type's own typed settings."""

    name: str
    type: str
    description: str = ""
    active: bool = True
    settings: Any = None


@dataclass(frozen=True)
class ProfileSettings:
    """A ``[profiles.NAME]`` table: how files dropped into ``spool/NAME/inbox`` are handled."""

    name: str
    provider: str = "sandbox"
    country: str = "BR"  # default country of numbers written without one
    subaccount: str = ""  # used when the file name does not carry one
    message_text: str = ""  # CSV template, {column} placeholders
    blocklist: tuple[str, ...] = ()
    blocklist_file: str = ""  # one number per line
    dedupe: bool = False  # refuse a destination already seen in the same batch
    format: str = "auto"
    in_flight: str = "retry"  # after a crash: resubmit unacknowledged messages, or mark UNKNOWN
    allow_duplicate_names: bool = False
    require_eof: bool = False  # refuse an SMS TXT file that does not end with its EOF line
    priority: int = 0
    timezone: str = ""
    time_window: tuple[int, ...] = ()  # hours a batch may send in, local time (a sidecar's timeWindow wins)
    receipt_timeout: float = 86400.0  # seconds after the last submit the batch waits for receipts
    admission: str = "warn"  # rows would expire before the ETA: "warn" (send, report) or "refuse"
    chunk_size: int = 500
    max_attempts: int = 5  # a message refused temporarily (throttled, system error) is tried at most this often
    encoding: str = ""  # SMS text coding: auto | gsm7 | latin1 | ucs2; empty: the provider's setting
    transliterate: bool | None = None  # fold accents (á→a, ç→c) to stay in GSM7; unset: the provider's


class TextCoding(NamedTuple):
    """The SMS text coding of a profile's messages."""

    mode: str  # auto | gsm7 | latin1 | ucs2
    transliterate: bool
    sixteen_bit: bool  # 16-bit concatenation references (one unit less per part)


@dataclass(frozen=True)
class Settings:
    """Everything remessa is configured with."""

    source: Path | None
    daemon: DaemonSettings
    providers: Mapping[str, ProviderSettings]
    profiles: Mapping[str, ProfileSettings]
    http: HttpSettings = HttpSettings()
    http_configured: bool = False  # an [http] table was given (then the listener runs whatever the providers)

    def profile(self, name: str) -> ProfileSettings:
        try:
            return self.profiles[name]
        except KeyError:
            raise NotFound(f"no profile named {name!r}") from None

    def text_coding(self, profile: ProfileSettings) -> TextCoding:
        """How a profile's SMS texts go out: its encoding and transliteration, else its provider's, else
        auto without transliteration (what the dispatcher hands the channel and `validate` counts with)."""
        provider = self.providers.get(profile.provider)
        own = provider.settings if provider is not None else None
        mode = profile.encoding or getattr(own, "encoding", "") or "auto"
        fold = profile.transliterate
        if fold is None:
            fold = bool(getattr(own, "transliterate", False))
        return TextCoding(mode, fold, bool(getattr(own, "sixteen_bit_reference", False)))

    def rate(self, provider: str) -> float:
        """Messages per second provider `provider` can take (what every ETA is computed with)."""
        known = self.providers.get(provider)
        return capacity(known.settings) if known is not None else DEFAULT_RATE


def locate(explicit: str | Path | None) -> Path | None:
    """The file to load: ``--config``, then ``$REMESSA_CONFIG``, then the system file if present."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("REMESSA_CONFIG")
    if env:
        return Path(env)
    return SYSTEM_CONFIG if SYSTEM_CONFIG.exists() else None


def load(explicit: str | Path | None = None) -> Settings:
    """Load and check the configuration; raise ConfigError listing every problem."""
    path = locate(explicit)
    if path is None:
        return parse({}, None)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError([f"{path}: file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot read: {exc}"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML: {exc}"]) from None
    return parse(data, path)


def parse(data: Mapping[str, Any], source: Path | None) -> Settings:
    """Build Settings from a parsed TOML document (``source`` names it in errors)."""
    where = str(source) if source else "<defaults>"
    problems: list[str] = []
    _unknown_keys(data, {"daemon", "providers", "profiles", "http"}, where, "", problems)
    daemon = build(DaemonSettings, _table(data, "daemon", where, problems), where, "daemon", problems)
    if daemon.timezone:
        _check_zone(daemon.timezone, where, "daemon.timezone", problems)
    if daemon.retention_days < 0:
        problems.append(f"{where}: daemon.retention_days: must be 0 (keep for ever) or more")

    providers: dict[str, ProviderSettings] = {}
    raw_providers = _table(data, "providers", where, problems) or {"sandbox": {"type": "sandbox"}}
    for name, table in raw_providers.items():
        key = f"providers.{name}"
        if not isinstance(table, dict):
            problems.append(f"{where}: {key}: must be a table")
            continue
        kind = table.get("type")
        if not isinstance(kind, str) or kind not in CHANNEL_TYPES:
            known = ", ".join(sorted(CHANNEL_TYPES))
            problems.append(f"{where}: {key}.type: {kind!r} is not a provider type (one of {known})")
            continue
        common = {k: table[k] for k in ("description", "active") if k in table}
        own = {k: v for k, v in table.items() if k not in ("type", "description", "active")}
        settings_cls = CHANNEL_TYPES[kind].settings_class()
        typed = build(settings_cls, own, where, key, problems)
        base = build(ProviderSettings, common, where, key, problems, name=name, type=kind)
        providers[name] = dataclasses.replace(base, settings=typed)

    profiles: dict[str, ProfileSettings] = {}
    raw_profiles = _table(data, "profiles", where, problems) or {"default": {}}
    for name, table in raw_profiles.items():
        key = f"profiles.{name}"
        if not isinstance(table, dict):
            problems.append(f"{where}: {key}: must be a table")
            continue
        profile = build(ProfileSettings, table, where, key, problems, name=name)
        _check_profile(profile, providers, where, key, problems)
        profiles[name] = profile

    http_table = _table(data, "http", where, problems)
    http = build(HttpSettings, http_table, where, "http", problems)
    _check_http(http, where, problems)
    if problems:
        raise ConfigError(problems)
    return Settings(source=source, daemon=daemon, providers=providers, profiles=profiles, http=http,
                    http_configured=bool(http_table))


def _check_http(http: HttpSettings, where: str, problems: list[str]) -> None:
    try:
        host, port = http.address()
        if not 0 <= port <= 65535:
            raise ValueError
    except ValueError:
        problems.append(f"{where}: http.listen: {http.listen!r} is not HOST:PORT")
    if http.body_limit < 1024:
        problems.append(f"{where}: http.body_limit: at least 1024 bytes")
    for network in http.allowed_networks:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            problems.append(f"{where}: http.allowed_networks: {network!r} is not a network (e.g. 10.0.0.0/8)")


def _check_profile(
    profile: ProfileSettings,
    providers: Mapping[str, ProviderSettings],
    where: str,
    key: str,
    problems: list[str],
) -> None:
    if profile.provider not in providers:
        problems.append(f"{where}: {key}.provider: no provider named {profile.provider!r}")
    if profile.format not in FORMATS:
        problems.append(f"{where}: {key}.format: {profile.format!r} is not one of {', '.join(FORMATS)}")
    if profile.admission not in ("warn", "refuse"):
        problems.append(f"{where}: {key}.admission: {profile.admission!r} is not warn or refuse")
    if profile.encoding not in ("", *ENCODINGS):
        problems.append(f"{where}: {key}.encoding: {profile.encoding!r} is not one of {', '.join(ENCODINGS)}")
    if profile.in_flight not in IN_FLIGHT_POLICIES:
        problems.append(f"{where}: {key}.in_flight: {profile.in_flight!r} is not retry or unknown")
    if profile.timezone:
        _check_zone(profile.timezone, where, f"{key}.timezone", problems)
    if any(not 0 <= hour <= 23 for hour in profile.time_window):
        problems.append(f"{where}: {key}.time_window: hours must be 0-23")
    if profile.chunk_size < 1:
        problems.append(f"{where}: {key}.chunk_size: must be at least 1")
    if profile.max_attempts < 1:
        problems.append(f"{where}: {key}.max_attempts: must be at least 1")
    import phonenumbers

    if profile.country.upper() not in phonenumbers.SUPPORTED_REGIONS:
        problems.append(f"{where}: {key}.country: {profile.country!r} is not a country code like BR")
    if profile.blocklist_file and not Path(profile.blocklist_file).is_file():
        problems.append(f"{where}: {key}.blocklist_file: {profile.blocklist_file} is not a file")


def _check_zone(name: str, where: str, key: str, problems: list[str]) -> None:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        problems.append(f"{where}: {key}: unknown time zone {name!r}")


def _table(data: Mapping[str, Any], name: str, where: str, problems: list[str]) -> dict[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, dict):
        problems.append(f"{where}: {name}: must be a table")
        return {}
    return value


def _unknown_keys(
    table: Mapping[str, Any], known: set[str], where: str, prefix: str, problems: list[str]
) -> None:
    for key in table:
        if key not in known:
            problems.append(f"{where}: {prefix}{key}: unknown setting")


def build(
    cls: type[Any],
    table: Mapping[str, Any],
    where: str,
    prefix: str,
    problems: list[str],
    **fixed: Any,
) -> Any:
    """Build dataclass `cls` from a TOML table, checking names and types; problems are appended.

    String values ``env:NAME`` and ``file:PATH`` are secrets read from the environment or a file.
    """
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init} - set(fixed)
    _unknown_keys(table, names, where, f"{prefix}.", problems)
    values: dict[str, Any] = dict(fixed)
    for name in names & set(table):
        try:
            values[name] = _coerce(table[name], hints[name])
        except (TypeError, ValueError, OSError) as exc:
            problems.append(f"{where}: {prefix}.{name}: {exc}")
    for name in getattr(cls, "SECRETS", ()):  # credentials never sit in the file itself
        raw = table.get(name)
        if isinstance(raw, str) and raw and not raw.startswith(("env:", "file:")):
            problems.append(f"{where}: {prefix}.{name}: give it as env:NAME or file:PATH, not in the file")
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        problems.append(f"{where}: {prefix}: {exc}")
        try:
            return cls(**fixed)
        except (TypeError, ValueError):  # its defaults alone are not valid either (required settings)
            return None


def _coerce(value: Any, hint: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [h for h in typing.get_args(hint) if h is not type(None)]
        return _coerce(value, options[0])
    if hint is bool:
        if not isinstance(value, bool):
            raise TypeError(f"expected true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"expected an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"expected a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise TypeError(f"expected a string, got {value!r}")
        return _secret(value)
    if hint is Path:
        if not isinstance(value, str):
            raise TypeError(f"expected a path, got {value!r}")
        return Path(value)
    if origin is tuple:
        if not isinstance(value, list):
            raise TypeError(f"expected a list, got {value!r}")
        item = typing.get_args(hint)[0]
        return tuple(_coerce(v, item) for v in value)
    if origin in (dict, Mapping) or hint is dict:
        if not isinstance(value, dict):
            raise TypeError(f"expected a table, got {value!r}")
        args = typing.get_args(hint)
        return {str(k): _coerce(v, args[1]) if args else v for k, v in value.items()}
    return value


def _secret(value: str) -> str:
    if value.startswith("env:"):
        name = value[4:]
        if name not in os.environ:
            raise ValueError(f"environment variable {name} is not set")
        return os.environ[name]
    if value.startswith("file:"):
        return Path(value[5:]).read_text(encoding="utf-8").strip()
    return value


def defaults() -> Settings:
    """The built-in settings used when no configuration file exists."""
    return parse({}, None)


__all__ = [
    "DaemonSettings", "ProfileSettings", "ProviderSettings", "Settings",
    "defaults", "load", "locate", "parse", "build",
]
