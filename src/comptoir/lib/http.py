"""Outbound HTTP, all of it: Comptoir's requests to marketplaces, webhooks and integrators go
through this module, so that they behave alike and a check on where a request may go has one
place to live. No Django and no Comptoir app here: a caller turns `HttpError` into its own terms.

`HttpClient` is the marketplace connectors' client:
- timeouts, dropped connections and 5xx are retried with exponential backoff and jitter, but
  only for requests that are safe to repeat (GET, or a POST the caller marks `idempotent`).
  A non-idempotent POST that may have reached the marketplace raises
  `HttpError(maybe_sent=True)`: the caller checks before sending again (exactly once).
- 429 waits for `Retry-After` (seconds or an HTTP date, believed up to an hour; or backoff)
  and retries: the marketplace did not act on it.
- 401 calls `refresh_auth` once (an expired OAuth token) and retries; a second 401 and any 403
  are permanent (the channel needs a human); other 4xx are permanent too, with the
  marketplace's own message, since sending the same request again cannot succeed.
- a token bucket keeps under the marketplace's published rate (Amazon: 1 request/s, burst 5).

`post` is one request with no retry (a webhook): the caller's task decides what to retry.
"""

from __future__ import annotations

import email.utils
import functools
import json
import re
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from comptoir.lib.backoff import backoff

# Callers annotate with this rather than importing httpx: the HTTP stack is this module's.
Response = httpx.Response

# Tests replace this (and `monotonic`) to run retries and rate limits without waiting.
sleep: Callable[[float], None] = time.sleep
monotonic: Callable[[], float] = time.monotonic
# An HTTP-date Retry-After is a wall time: tests replace this to read it at a fixed instant.
wall_clock: Callable[[], datetime] = functools.partial(datetime.now, UTC)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# Longest Retry-After we wait for inside one call; longer, the task retries later instead.
MAX_INLINE_WAIT = 60.0
# Longest Retry-After believed at all: a wrong clock or a hostile header must not park a
# channel for days; past this the task retries after an hour and asks again.
MAX_RETRY_AFTER = 3600.0
# Backoff between attempts inside one call (0.5 s, 1 s, 2 s... with jitter).
BACKOFF_BASE = 0.5
BACKOFF_CAP = 30.0
# RFC 9110 delay-seconds is digits only; a decimal point is tolerated (some servers send it).
_DELAY_SECONDS = re.compile(r"\d{1,10}(\.\d+)?")


class HttpError(Exception):
    """An outbound request failed. `permanent`: sending it again cannot succeed.

    `retry_after`: the seconds the server asked us to wait, when it did. `status`: the HTTP
    status, when there was an answer. `maybe_sent`: a request that may have reached the server
    (no answer to a request that is not safe to repeat): check before sending it again.
    `about_message`: a permanent refusal of this request (a 4xx other than 401 and 403), not of
    the credentials.
    """

    def __init__(
        self,
        message: str,
        *,
        permanent: bool = False,
        retry_after: float | None = None,
        maybe_sent: bool = False,
        status: int | None = None,
        about_message: bool = False,
    ):
        super().__init__(message)
        self.about_message = about_message
        self.permanent = permanent
        self.retry_after = retry_after
        self.maybe_sent = maybe_sent
        self.status = status


@dataclass
class RateLimit:
    """Token bucket: `rate` requests per second on average, `burst` at once."""

    rate: float
    burst: int = 1
    _tokens: float = field(default=-1.0, init=False)
    _at: float = field(default=0.0, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def wait(self) -> float:
        """Take a token, sleeping until one is there; returns the seconds waited."""
        with self._lock:
            now = monotonic()
            if self._tokens < 0:
                self._tokens, self._at = float(self.burst), now
            self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate)
            self._at = now
            waited = 0.0
            if self._tokens < 1:
                waited = (1 - self._tokens) / self.rate
                sleep(waited)
                self._tokens, self._at = 1.0, monotonic()
            self._tokens -= 1
            return waited


# One bucket per (marketplace, account): every connector instance of a process shares it.
_buckets: dict[str, RateLimit] = {}
_buckets_lock = threading.Lock()


def shared_rate_limit(key: str, rate: float, burst: int = 1) -> RateLimit:
    with _buckets_lock:
        bucket = _buckets.get(key)
        if bucket is None or (bucket.rate, bucket.burst) != (rate, burst):
            bucket = _buckets[key] = RateLimit(rate, burst)
        return bucket


class HttpClient:
    # What every failure raises: the connectors' client raises their `ConnectorError`.
    error: type[HttpError] = HttpError

    def __init__(
        self,
        base_url: str,
        *,
        name: str,
        timeout: float = 30.0,
        max_attempts: int = 5,
        headers: Callable[[], Mapping[str, str]] | None = None,
        refresh_auth: Callable[[], None] | None = None,
        rate_limit: RateLimit | None = None,
        verify: bool = True,
    ) -> None:
        self.name = name  # the marketplace, for error messages
        self.max_attempts = max_attempts
        self.headers = headers or dict
        self.refresh_auth = refresh_auth
        self.rate_limit = rate_limit
        self.calls = 0  # requests sent, retries included: the benchmark reports calls/message
        # Plain http (the simulators) needs no certificates: loading the CA bundle costs
        # tens of milliseconds per client.
        plain = base_url.startswith("http://")
        self._client = httpx.Client(
            base_url=base_url,
            timeout=timeout,
            verify=False if plain or not verify else _tls_context(),
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        content: bytes | str | None = None,
        data: Mapping[str, Any] | None = None,
        files: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> httpx.Response:
        """Send with retries; return a 2xx response or raise `self.error`."""
        method = method.upper()
        repeatable = method in SAFE_METHODS if idempotent is None else idempotent
        send = functools.partial(
            self._send,
            method,
            path,
            params=params,
            json=json_body,
            content=content,
            data=data,
            files=files,
            headers=headers,
        )
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            try:
                response = send()
            except httpx.TransportError as exc:
                error = self._no_answer(exc, method, path, repeatable)
            else:
                if response.status_code < 300:
                    return response
                if response.status_code == 401 and self.refresh_auth is not None and not refreshed:
                    refreshed = True
                    self.refresh_auth()  # raises when the credentials are bad
                    attempt -= 1  # a refresh is not a failure
                    continue
                error = self._refused(response, method, path, repeatable, attempt)
            if attempt >= self.max_attempts:
                raise error
            sleep(error.retry_after or backoff(attempt, base=BACKOFF_BASE, cap=BACKOFF_CAP))

    def _send(
        self, method: str, path: str, *, headers: Mapping[str, str] | None, **kwargs: Any
    ) -> httpx.Response:
        """One attempt, within the rate limit, with fresh headers (a refreshed token)."""
        if self.rate_limit is not None:
            self.rate_limit.wait()
        self.calls += 1
        return self._client.request(
            method, path, headers={**self.headers(), **(headers or {})}, **kwargs
        )

    def _no_answer(
        self, exc: httpx.TransportError, method: str, path: str, repeatable: bool
    ) -> HttpError:
        """An attempt without an answer: the error to retry, or raised when it must not be."""
        if isinstance(exc, httpx.ConnectError):
            # Refused before anything was sent: always safe to try again.
            return self.error(f"{self.name}: cannot connect ({exc})")
        # Timed out or cut off: the marketplace may have acted on it.
        error = self.error(
            f"{self.name}: no answer to {method} {path} ({type(exc).__name__})",
            maybe_sent=not repeatable,
        )
        if not repeatable:
            raise error from exc
        return error

    def _refused(
        self, response: httpx.Response, method: str, path: str, repeatable: bool, attempt: int
    ) -> HttpError:
        """A non-2xx answer: the error to retry after its wait, or raised when retrying here
        cannot help (a 4xx, a wait too long for this call, a request not safe to repeat)."""
        status = response.status_code
        if status == 429:
            wait = _retry_after(response) or backoff(attempt, base=BACKOFF_BASE, cap=BACKOFF_CAP)
            error = self.error(
                f"{self.name}: rate limited (429), retry in {wait:.0f} s", retry_after=wait
            )
            if wait > MAX_INLINE_WAIT:
                raise error
            return error
        if status < 500:
            raise self.error(
                f"{self.name}: {status} on {method} {path}: {describe(response)}",
                permanent=True,
                status=status,
                # Refused credentials stop the channel; any other 4xx is about this request
                # (a thread gone, a body the marketplace rejects).
                about_message=status not in (401, 403),
            )
        error = self.error(
            f"{self.name}: server error {status} on {method} {path}: {describe(response)}",
            maybe_sent=not repeatable,
            retry_after=_retry_after(response),
        )
        if not repeatable:
            raise error
        return error

    def get_json(self, path: str, **kwargs: Any) -> Any:
        return parse_json(self.request("GET", path, **kwargs), self.name, error=self.error)


def post(url: str, *, content: bytes, headers: Mapping[str, str], timeout: float) -> httpx.Response:
    """One POST with no retry, redirects not followed: any answer is returned, the caller
    judges its status. No answer raises `HttpError`: "timed out: ..." or "<Failure>: ..."."""
    try:
        with httpx.Client(timeout=timeout, verify=_tls_context()) as client:
            return client.post(url, content=content, headers=headers)
    except httpx.TimeoutException as exc:
        raise HttpError(f"timed out: {exc}", maybe_sent=True) from exc
    except httpx.TransportError as exc:
        sent = not isinstance(exc, httpx.ConnectError | httpx.UnsupportedProtocol)
        raise HttpError(f"{type(exc).__name__}: {exc}", maybe_sent=sent) from exc


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One verifying context per process: building one loads the whole CA bundle."""
    return ssl.create_default_context()


def parse_json(response: httpx.Response, name: str, *, error: type[HttpError] = HttpError) -> Any:
    try:
        return response.json()
    except json.JSONDecodeError:
        raise error(
            f"{name}: the answer to {response.request.method} {response.request.url.path} "
            f"is not JSON: {response.text[:200]!r}"
        ) from None


def describe(response: httpx.Response) -> str:
    """The marketplace's own words for an error, short."""
    text = response.text.strip()
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return text[:300] or response.reason_phrase
    if isinstance(body, dict):
        for key in ("message", "error_description", "error", "errors", "detail", "title"):
            if body.get(key):
                value = body[key]
                return (value if isinstance(value, str) else json.dumps(value))[:300]
    return text[:300]


def _retry_after(response: httpx.Response) -> float | None:
    return parse_retry_after(response.headers.get("Retry-After", ""))


def parse_retry_after(value: str) -> float | None:
    """Seconds to wait from a `Retry-After` value (RFC 9110: delay-seconds or an HTTP date),
    within [0, MAX_RETRY_AFTER]; None when absent or unreadable (the caller backs off)."""
    value = value.strip()
    if not value:
        return None
    if _DELAY_SECONDS.fullmatch(value):
        seconds = float(value)
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None  # garbage: backing off is safer than a made-up wait
        if when.tzinfo is None:  # "-0000": UTC, as HTTP dates always are
            when = when.replace(tzinfo=UTC)
        # A date already past means "now"; the wall clock, since the date is a wall time.
        seconds = (when - wall_clock()).total_seconds()
    return min(MAX_RETRY_AFTER, max(0.0, seconds))
