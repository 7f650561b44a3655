"""The HTTP transport every HTTP channel shares: one pooled httpx.Client (keep-alive), timeouts, retries with
jittered back-off, a circuit breaker, and the sorting of every failure into what it means for the messages.

- An answer came: 2xx is the provider's answer; any other 4xx than 429 refuses the request's messages for good
  (`Refused`, with the API's error text): never retried.
- Nothing was taken: a connection that could not be made, a 429 or a 5xx is retried (the provider's
  `Retry-After` honoured) up to `retries` times, then the provider is failing (`TemporaryFailure`): its
  batches wait, no row is refused for it.
- Perhaps taken: the request went out and its answer was lost (read timeout, connection dropped): `Lost`; the
  channel reports its messages in doubt (the profile's in_flight policy decides), never sends them again itself.
- A provider failing `breaker_failures` requests in a row opens the breaker for `breaker_pause` seconds: requests
  fail at once (`TemporaryFailure`) instead of hammering a provider that is down.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from remessa.backoff import Backoff
from remessa.errors import TemporaryFailure

log = logging.getLogger(__name__)

RETRYABLE = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_AFTER = 300.0  # s: a provider's Retry-After beyond this is capped


@dataclass(frozen=True)
class TransportSettings:
    """How one provider is reached over HTTP; times in seconds (the defaults are the provider settings')."""

    base_url: str
    headers: Mapping[str, str]
    connect_timeout: float
    read_timeout: float
    total_timeout: float  # a request that takes longer is given up on (its answer is lost)
    retries: int
    backoff_min: float
    backoff_max: float
    breaker_failures: int
    breaker_pause: float
    ca_file: str
    connections: int


class Refused(Exception):
    """The provider answered with a client error (4xx other than 429): the request's messages are refused."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(f"HTTP {status}: {text}")
        self.status = status
        self.text = text


class Lost(Exception):
    """The request was sent and its answer never came: the provider may have taken it."""


class Transport:
    """JSON requests to one provider, safe to call from several threads at once."""

    def __init__(self, settings: TransportSettings, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self._sleep = sleep
        self._clock = clock
        verify: ssl.SSLContext | bool = True
        if settings.ca_file:
            verify = ssl.create_default_context(cafile=settings.ca_file)
        timeout = httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout)
        limits = httpx.Limits(max_connections=settings.connections, max_keepalive_connections=settings.connections)
        self._client = httpx.Client(base_url=settings.base_url, headers=dict(settings.headers), timeout=timeout,
                                    limits=limits, verify=verify)
        self._lock = threading.Lock()
        self._failures = 0  # provider-level failures in a row
        self._open_until = 0.0

    @property
    def where(self) -> str:
        return self.settings.base_url

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """The decoded JSON answer of a 2xx; raises Refused, Lost or TemporaryFailure (see the module doc)."""
        self._check_breaker()
        backoff = Backoff(self.settings.backoff_min, self.settings.backoff_max, jitter=0.5)
        for attempt in range(self.settings.retries + 1):
            wait, why = self._attempt(method, path, body)
            if why is None:
                self._succeeded()
                return wait
            if attempt == self.settings.retries:
                self._failed()
                raise TemporaryFailure(f"{self.where}{path}: {why} (after {attempt + 1} attempts)")
            pause = max(backoff.failed(), wait or 0.0)
            log.warning("HTTP %s %s%s: %s; trying again in %.1f s", method, self.where, path, why, pause)
            self._sleep(pause)
        raise AssertionError("unreachable")

    def close(self) -> None:
        self._client.close()

    def _attempt(self, method: str, path: str, body: Any) -> tuple[Any, str | None]:
        """(answer, None) on a 2xx, or (seconds to wait at least, why) for a failure worth retrying."""
        started = self._clock()
        try:
            response = self._client.request(method, path, json=body)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            return 0.0, f"cannot connect: {exc or type(exc).__name__}"
        except (httpx.ReadTimeout, httpx.WriteTimeout) as exc:
            raise Lost(f"no answer from {self.where}{path} within {self.settings.read_timeout:g} s"
                       f" ({type(exc).__name__})") from None
        except httpx.TransportError as exc:  # RemoteProtocolError, ReadError, WriteError: it went, or some of it
            raise Lost(f"connection to {self.where}{path} lost before the answer ({exc or type(exc).__name__})") \
                from None
        if self._clock() - started > self.settings.total_timeout:
            raise Lost(f"answer from {self.where}{path} came after {self.settings.total_timeout:g} s")
        if response.status_code in RETRYABLE:
            return retry_after(response), f"HTTP {response.status_code} {_text(response)}".rstrip()
        if 400 <= response.status_code < 500:
            raise Refused(response.status_code, _text(response))
        if not 200 <= response.status_code < 300:
            return 0.0, f"HTTP {response.status_code} {_text(response)}".rstrip()
        try:
            return response.json(), None
        except ValueError:
            raise Lost(f"{self.where}{path} answered {response.status_code} with a body that is not JSON:"
                       f" {response.text[:200]!r}") from None

    def _check_breaker(self) -> None:
        with self._lock:
            left = self._open_until - self._clock()
        if left > 0:
            raise TemporaryFailure(f"{self.where}: failing, not tried again for {left:.0f} s")

    def _succeeded(self) -> None:
        with self._lock:
            self._failures = 0

    def _failed(self) -> None:
        with self._lock:
            self._failures += 1
            if self._failures >= self.settings.breaker_failures:
                self._open_until = self._clock() + self.settings.breaker_pause
                log.error("%s failed %d requests in a row: not tried for %.0f s", self.where, self._failures,
                          self.settings.breaker_pause)
                self._failures = 0


def retry_after(response: httpx.Response) -> float:
    """Seconds the provider asked us to wait (Retry-After: seconds or an HTTP date), capped; 0 if none."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return 0.0
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return 0.0
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def _text(response: httpx.Response) -> str:
    """The API's error text: errorMessage/message/error of a JSON body, else the body's start."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300]
    if isinstance(body, dict):
        for key in ("errorMessage", "message", "error", "detail"):
            if body.get(key):
                return str(body[key])[:300]
    return response.text.strip()[:300]
