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

Where requests may go: every connection resolves the host, checks every address it got, and
connects to a checked address (no second lookup a DNS answer could change in between).
Loopback, private, link-local, unique-local, unspecified, multicast and other non-public
addresses (and IPv6 forms embedding them) raise `AddressNotAllowed` unless `allow_private()`
says yes (the simulators, the tests, a marketplace on the seller's own network), or the caller
passes `allow_private=True` for one request (`post`, `checked_client`, `check_url`: a server the
admin saved as local, such as an AI drafting endpoint on 127.0.0.1); cloud metadata addresses
are refused even then. Redirects are never followed. `check_url` applies
the same rule to a URL when it is saved, for a clear error before any request.
"""

from __future__ import annotations

import email.utils
import functools
import ipaddress
import json
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpcore
import httpx

from comptoir.lib.backoff import backoff

# Callers annotate with this rather than importing httpx: the HTTP stack is this module's.
Response = httpx.Response

# Tests replace this (and `monotonic`) to run retries and rate limits without waiting.
sleep: Callable[[float], None] = time.sleep
monotonic: Callable[[], float] = time.monotonic
# An HTTP-date Retry-After is a wall time: tests replace this to read it at a fixed instant.
wall_clock: Callable[[], datetime] = functools.partial(datetime.now, UTC)


# Whether private, loopback and link-local addresses may be reached: Django's settings say
# (COMPTOIR_OUTBOUND_ALLOW_PRIVATE, wired at start-up); without them, never.
def _never() -> bool:
    return False


allow_private: Callable[[], bool] = _never


def _allowed_by_settings() -> bool:
    # For `check_url`, whose `allow_private` argument hides the hook above.
    return allow_private()


# The resolver: tests replace it to make a name point anywhere without a network.
getaddrinfo: Callable[..., list[Any]] = socket.getaddrinfo

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
    the credentials. `detail`: the server's own words for a refusal (`describe`), when any.
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
        detail: str = "",
    ):
        super().__init__(message)
        self.detail = detail
        self.about_message = about_message
        self.permanent = permanent
        self.retry_after = retry_after
        self.maybe_sent = maybe_sent
        self.status = status


class AddressNotAllowed(HttpError):
    """The request would go to an address Comptoir does not reach (see the module's doc)."""

    def __init__(self, message: str) -> None:
        super().__init__(f"address not allowed: {message}", permanent=True)


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Instance metadata services (AWS, ECS, GCP, Azure, Oracle, Alibaba): credentials live there,
# so they are refused even when private addresses are allowed.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",
        "169.254.170.2",
        "169.254.169.253",
        "fd00:ec2::254",
        "168.63.129.16",
        "192.0.0.192",
        "100.100.100.200",
    )
)


def refusal(ip: IPAddress, *, private_ok: bool = False) -> str:
    """Why Comptoir does not connect to `ip` ("is private"...), or "" when it may.
    `private_ok`: this caller may reach non-public addresses (metadata is refused still)."""
    if isinstance(ip, ipaddress.IPv6Address):
        # ::ffff:10.0.0.1, 2002:0a00:0001::, Teredo: an IPv4 address in IPv6 clothes.
        teredo = ip.teredo[1] if ip.teredo else None
        for inner in (ip.ipv4_mapped, ip.sixtofour, teredo):
            if inner is not None and (why := refusal(inner, private_ok=private_ok)):
                return why
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if private_ok or allow_private():
        return ""
    for test, why in (
        (ip.is_unspecified, "unspecified"),
        (ip.is_loopback, "loopback"),
        (ip.is_link_local, "link-local"),
        (ip.is_multicast, "multicast"),
        (ip.is_private, "private"),
        (not ip.is_global, "not a public address"),
    ):
        if test:
            return why
    return ""


def allowed_addresses(host: str, port: int, *, private_ok: bool = False) -> list[str]:
    """The addresses `host` resolves to, every one checked: `AddressNotAllowed` when any is
    refused (a name that also points inside is not trusted for its other answers)."""
    try:
        infos = getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
    named = _literal(host) is None
    addresses: list[str] = []
    for info in infos:
        # Scoped IPv6 ("fe80::1%eth0") is link-local anyway; the scope is not an address.
        text = str(info[4][0]).split("%", 1)[0]
        ip = ipaddress.ip_address(text)
        why = refusal(ip, private_ok=private_ok)
        if why:
            raise AddressNotAllowed(f"{ip} is {why}" + (f" ({host})" if named else ""))
        if text not in addresses:
            addresses.append(text)
    return addresses


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def check_url(url: str, *, resolve: bool = True, allow_private: bool = False) -> None:
    """Raise `AddressNotAllowed` (or ValueError for a URL that is not http(s) with a host)
    when requests to `url` would be refused. A name that does not resolve passes: nothing
    can be reached through it, and the check runs again on every connection."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise ValueError(f"not a valid URL: {exc}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError("must be an http:// or https:// URL with a host")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    literal = _literal(parsed.host)
    if literal is not None:
        why = refusal(literal, private_ok=allow_private)
        if why:
            raise AddressNotAllowed(f"{literal} is {why}")
        return
    if not resolve or allow_private or _allowed_by_settings():
        return  # names are checked when connecting: only metadata is refused then anyway
    try:
        allowed_addresses(parsed.host, port)
    except httpcore.ConnectError:
        return


class _CheckedBackend(httpcore.SyncBackend):
    """Resolves, checks, then connects to an address it checked (TLS still verifies the name)."""

    def __init__(self, *, private_ok: bool = False) -> None:
        self.private_ok = private_ok

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        failure: Exception | None = None
        for address in allowed_addresses(host, port, private_ok=self.private_ok):
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        raise failure or httpcore.ConnectError(f"no address for {host}")


class _CheckedTransport(httpx.HTTPTransport):
    """httpx's transport on a connection pool whose every connection is checked; no proxy
    from the environment (the proxy, not the target, would be checked)."""

    def __init__(  # no super(): its pool is unchecked
        self, ssl_context: ssl.SSLContext, *, private_ok: bool = False
    ) -> None:
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=_CheckedBackend(private_ok=private_ok),
        )


def checked_client(
    *, timeout: float, verify: bool = True, base_url: str = "", allow_private: bool = False
) -> httpx.Client:
    """An httpx client whose requests only go where the rule above allows, never redirected;
    `allow_private`: to a non-public address too (a server the admin saved as local)."""
    context = _tls_context() if verify else _unverified_context()
    return httpx.Client(
        base_url=base_url,
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
        transport=_CheckedTransport(context, private_ok=allow_private),
    )


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
        self._client = checked_client(base_url=base_url, timeout=timeout, verify=verify)

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
        try:
            return self._client.request(
                method, path, headers={**self.headers(), **(headers or {})}, **kwargs
            )
        except AddressNotAllowed as exc:
            raise self.error(f"{self.name}: {exc}", permanent=True) from exc

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
        detail = describe(response)
        if status < 500:
            raise self.error(
                f"{self.name}: {status} on {method} {path}: {detail}",
                permanent=True,
                status=status,
                detail=detail,
                # Refused credentials stop the channel; any other 4xx is about this request
                # (a thread gone, a body the marketplace rejects).
                about_message=status not in (401, 403),
            )
        error = self.error(
            f"{self.name}: server error {status} on {method} {path}: {detail}",
            maybe_sent=not repeatable,
            retry_after=_retry_after(response),
            detail=detail,
        )
        if not repeatable:
            raise error
        return error

    def get_json(self, path: str, **kwargs: Any) -> Any:
        return parse_json(self.request("GET", path, **kwargs), self.name, error=self.error)


def post(
    url: str,
    *,
    content: bytes,
    headers: Mapping[str, str],
    timeout: float,
    allow_private: bool = False,
) -> httpx.Response:
    """One POST with no retry, redirects not followed: any answer is returned, the caller
    judges its status. No answer raises `HttpError`: "timed out: ..." or "<Failure>: ...";
    an address refused raises `AddressNotAllowed` (permanent), before anything is sent.
    `allow_private`: only for a URL an admin saved as a local server (see the module's doc)."""
    try:
        with checked_client(timeout=timeout, allow_private=allow_private) as client:
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


@functools.cache
def _unverified_context() -> ssl.SSLContext:
    """For a connector told not to verify certificates (a test instance's own certificate)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def parse_json(response: httpx.Response, name: str, *, error: type[HttpError] = HttpError) -> Any:
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        # Never the body itself: it could be any page the URL led to.
        kind = response.headers.get("content-type", "").split(";")[0].strip() or "no type"
        raise error(
            f"{name}: the answer to {response.request.method} {response.request.url.path} "
            f"is not JSON ({_plain(kind, 60)}, {len(response.content)} bytes)"
        ) from None


# Printable text only, one line: what a marketplace wrote must not pass for anything else.
_UNPRINTABLE = re.compile(r"[^\w\s.,;:!?'\"()\[\]{}/@#%&*+=<>|~^$-]+|\s+")


def _plain(text: str, limit: int) -> str:
    return _UNPRINTABLE.sub(" ", text).strip()[:limit]


# An XML API's error message element (Rakuten's <message>), in an XML answer only.
_XML_MESSAGE = re.compile(r"<message>([^<]{1,2000})</message>")


def _json_message(response: httpx.Response) -> str:
    """The message field of a JSON (or XML API) error answer, printable and short; "" without
    one: never the rest of the body."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        head = response.content[:65536].decode("utf-8", "replace")
        xml = "xml" in response.headers.get("content-type", "") or head.startswith("<?xml")
        found = _XML_MESSAGE.search(head) if xml else None
        return _plain(found.group(1), 300) if found else ""
    if isinstance(body, dict):
        for key in ("message", "error_description", "error", "errors", "detail", "title"):
            if body.get(key):
                value = body[key]
                return _plain(value if isinstance(value, str) else json.dumps(value), 300)
    return ""


def describe(response: httpx.Response) -> str:
    """The marketplace's own words for an error, short: the message field of a JSON answer,
    else the status. Never the body itself (an error page could hold anything)."""
    return _json_message(response) or f"{response.status_code} {_plain(response.reason_phrase, 60)}"


def status_line(response: httpx.Response) -> str:
    """ "HTTP 404 Not Found", and the message field of a JSON answer when there is one."""
    line = f"HTTP {response.status_code} {_plain(response.reason_phrase, 60)}".strip()
    words = _json_message(response)
    return f"{line}: {words}" if words else line


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
