"""The settings of an HTTP provider (a ``[providers.NAME]`` table of type ``wavy_sms_http``) and their checks.

Credentials are given as ``env:NAME`` or ``file:PATH`` in the configuration (config.py reads them); they are
sent as the API's ``username`` and ``authenticationtoken`` headers and never logged.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import ClassVar

from remessa.channels.http.transport import TransportSettings

MAX_PER_REQUEST = 1000  # the API's bound on messages[] (seed 002)


@dataclass(frozen=True)
class WavySmsHttpSettings:
    """A ``[providers.NAME]`` table of type ``wavy_sms_http``. Times in seconds; `rate` in messages/s over all
    requests (0: no cap)."""

    SECRETS: ClassVar[tuple[str, ...]] = ("token", "webhook_token")  # env:NAME or file:PATH only

    url: str = "https://api-messaging.wavy.global"
    username: str = ""
    token: str = field(default="", repr=False)
    per_request: int = MAX_PER_REQUEST
    concurrency: int = 4
    rate: float = 0.0
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    retries: int = 5
    backoff_min: float = 0.5
    backoff_max: float = 30.0
    breaker_failures: int = 5
    breaker_pause: float = 30.0
    ca_file: str = ""
    receipts: str = "webhook"  # webhook | poll
    poll_interval: float = 5.0
    webhook_token: str = field(default="", repr=False)  # the shared secret webhooks must carry

    def __post_init__(self) -> None:
        if not self.url.startswith(("https://", "http://")):
            raise ValueError(f"url must start with https:// (or http:// for a local simulator): {self.url!r}")
        if not 1 <= self.per_request <= MAX_PER_REQUEST:
            raise ValueError(f"per_request must be between 1 and {MAX_PER_REQUEST} (the API's limit)")
        if self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if self.rate < 0:
            raise ValueError("rate must be 0 (no cap) or positive")
        for name in ("connect_timeout", "read_timeout", "backoff_min", "backoff_max",
                     "breaker_pause", "poll_interval"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.retries < 0 or self.breaker_failures < 1:
            raise ValueError("retries must be at least 0 and breaker_failures at least 1")
        if self.backoff_min > self.backoff_max:
            raise ValueError("backoff_min must not be above backoff_max")
        if self.ca_file and not Path(self.ca_file).is_file():
            raise ValueError(f"ca_file: {self.ca_file} is not a file")
        if self.receipts not in ("webhook", "poll"):
            raise ValueError("receipts must be 'webhook' or 'poll'")
        self.check_credentials()

    def check_credentials(self) -> None:
        """ValueError unless the credentials the API asks for are given."""
        if not self.username or not self.token:
            raise ValueError("username and token are required (token as env:NAME or file:PATH)")

    def credentials(self) -> dict[str, str]:
        """The headers that authenticate a request."""
        return {"username": self.username, "authenticationtoken": self.token}

    def transport(self) -> TransportSettings:
        shared = {f.name: getattr(self, f.name) for f in fields(TransportSettings) if hasattr(self, f.name)}
        return TransportSettings(
            base_url=self.url.rstrip("/"),
            headers={**self.credentials(), "content-type": "application/json", "user-agent": "remessa"},
            connections=max(self.concurrency + 1, 2), **shared,
        )
