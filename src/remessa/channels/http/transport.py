"""The HTTP transport every HTTP channel shares: one pooled httpx.Client (keep-alive), timeouts, retries with
jittered back-off, a circuit breaker, and the sorting of every failure into what it means for the messages.

- An answer came: 2xx is the provider's answer; any other 4xx than 429 refuses the request's messages for good
  (`Refused`, with the API's error text): never retried.
- Nothing was taken: a connection that could not be made, a 408, 425, 429 or 503 is retried (the provider's
  `Retry-After` honoured) up to `retries` times, then the provider is failing (`TemporaryFailure`): its
  batches wait, no row is refused for it. A GET (status polling) is retried on any 5xx and lost answer too.
- Perhaps taken: a POST that went out and whose answer was lost (read timeout, connection dropped) or was a
  500, 502 or 504: `Lost`; the channel reports its messages in doubt (the profile's in_flight policy decides)
  and never sends them again itself. Lost answers count towards the breaker.
- A provider failing `breaker_failures` requests in a row opens the breaker for `breaker_pause` seconds: requests
  fail at once (`TemporaryFailure`) instead of hammering a provider that is down.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from remessa.backoff import Backoff
from remessa.errors import TemporaryFailure

log = logging.getLogger(__name__)

#: answers that say the request was not taken: tried again. Other 5xx (500, 502, 504) may come after the
#: provider took it (a gateway timing out in front of a busy backend): a POST answered so is in doubt.
NOT_TAKEN = frozenset({408, 425, 429, 503})
MAX_RETRY_AFTER = 60.0  # s: a provider's Retry-After beyond this is capped


@dataclass(frozen=True)
class TransportSettings:
    """How one provider is reached over HTTP; times in seconds (the defaults are the provider settings')."""

    base_url: str
    headers: Mapping[str, str] = field(repr=False)  # the credentials are in there
    connect_timeout: float
    read_timeout: float
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

    def __init__(self, settings: TransportSettings, sleep: Callable[[float], bool] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """`sleep(seconds)` waits between attempts and returns True when the channel is closing (then the call
        gives up at once)."""
        self.settings = settings
        self._sleep = sleep or _sleep
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
            try:
                wait, why = self._attempt(method, path, body)
            except Lost:
                self._failed()  # a provider that takes requests and never answers is failing too
                raise
            if why is None:
                self._succeeded()
                return wait
            if attempt == self.settings.retries:
                self._failed()
                raise TemporaryFailure(f"{self.where}{path}: {why} (after {attempt + 1} attempts)")
            pause = max(backoff.failed(), wait or 0.0)
            log.warning("HTTP %s %s%s: %s; trying again in %.1f s", method, self.where, path, why, pause)
            if self._sleep(pause):
                raise TemporaryFailure(f"{self.where}{path}: {why}; not tried again (closing)")
        raise AssertionError("unreachable")

    def close(self) -> None:
        self._client.close()

    def _attempt(self, method: str, path: str, body: Any) -> tuple[Any, str | None]:
        """(answer, None) on a 2xx, or (seconds to wait at least, why) for a failure worth retrying."""
        idempotent = method == "GET"
        try:
            response = self._client.request(method, path, json=body)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError,
                httpx.UnsupportedProtocol, httpx.LocalProtocolError) as exc:  # nothing went out
            return 0.0, f"cannot connect: {exc or type(exc).__name__}"
        except (httpx.ReadTimeout, httpx.WriteTimeout) as exc:
            if idempotent:
                return 0.0, f"no answer within {self.settings.read_timeout:g} s"
            raise Lost(f"no answer from {self.where}{path} within {self.settings.read_timeout:g} s"
                       f" ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:  # RemoteProtocolError, ReadError, DecodingError...: it went, or some of it
            if idempotent:
                return 0.0, f"connection lost ({exc or type(exc).__name__})"
            raise Lost(f"connection to {self.where}{path} lost before the answer ({exc or type(exc).__name__})") \
                from None
        status = response.status_code
        why = f"HTTP {status} {_text(response)}".rstrip()
        if status in NOT_TAKEN or (idempotent and status >= 500):
            return retry_after(response), why
        if 400 <= status < 500:
            raise Refused(status, _text(response))
        if not 200 <= status < 300:
            raise Lost(f"{self.where}{path} answered {why}: it may have taken the request")
        try:
            return response.json(), None
        except ValueError:
            return None, None  # an answer all the same: the caller judges what it lacks

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


def _sleep(seconds: float) -> bool:
    time.sleep(seconds)
    return False


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
