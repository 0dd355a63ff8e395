"""The base of every marketplace simulator: a real HTTP server on localhost, with faults.

Each marketplace package has a `simulator.py` that subclasses `Simulator`, registers its routes
(the marketplace's paths, fields, pagination and errors) and keeps the marketplace's state
(threads, messages, orders) in memory. Tests and `comptoir demo` start one per marketplace.

Faults make it behave like the real thing on a bad day. Scripted ones hit the next matching
requests (`sim.faults.add("error500", path="/api/inbox/threads", times=2)`); random ones hit a
share of all requests (`sim.faults.rates["timeout"] = 0.02`, seeded, so a failing run can be
replayed). Kinds:
- `error500`: a 500 before anything is done.
- `rate_limit`: a 429 with `Retry-After` (seconds, `retry_after`).
- `timeout`: the server holds the request for `hang_seconds`, then drops it without acting.
- `lose_response`: the request is carried out, then the connection is dropped: the client
  cannot know it worked (the case that tests exactly-once sending).
- `error500_after`: the request is carried out, then answered 500 (a marketplace that fails
  after storing: the client reads a failure that was not one).
- `store_late`: the server holds the request for `hang_seconds` (longer than the client's
  timeout), drops it, and carries it out only when the test calls `run_late()`: a marketplace
  still busy with it when the client gives up, that stores it a while later.
- `expired_token`: a 401, as for an OAuth token that expired early.
- `duplicate_page` / `reorder_page`: list endpoints repeat items of the previous page, or shuffle
  the page (each simulator applies them to its list endpoints via `page_fault()`).

A request that breaks the marketplace's contract (a wrong field, a missing parameter) is answered
400 with the reason and kept in `violations`: tests assert it stays empty.
"""

from __future__ import annotations

import functools
import json
import logging
import random
import re
import socket
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

logger = logging.getLogger("comptoir.simulator")

FAULT_KINDS = (
    "error500",
    "rate_limit",
    "timeout",
    "lose_response",
    "error500_after",
    "store_late",
    "expired_token",
    "duplicate_page",
    "reorder_page",
)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes
    params: dict[str, str] = field(default_factory=dict)  # from the route's named groups

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except json.JSONDecodeError as exc:
            raise ContractViolation(f"body is not JSON: {exc}") from None

    def form(self) -> dict[str, list[str]]:
        return {k: v for k, v in parse_qs(self.body.decode("utf-8", "replace")).items()}

    def multipart(self) -> list[Part]:
        """The parts of a multipart/form-data body."""
        ctype = self.headers.get("content-type", "")
        if not ctype.startswith("multipart/form-data"):
            raise ContractViolation(f"expected multipart/form-data, got {ctype or 'nothing'!r}")
        message = BytesParser(policy=HTTP).parsebytes(
            b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + self.body
        )
        parts = []
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            parts.append(
                Part(
                    name=name if isinstance(name, str) else "",
                    filename=part.get_filename() or "",
                    content_type=part.get_content_type(),
                    data=payload if isinstance(payload, bytes) else b"",
                )
            )
        return parts


@dataclass
class Part:
    name: str
    filename: str
    content_type: str
    data: bytes


@dataclass
class Response:
    status: int = 200
    body: bytes | str | Any = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"

    def encoded(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body, default=str).encode()


class ContractViolation(Exception):
    """What the connector sent breaks the marketplace's published contract."""


class HttpError(Exception):
    """An error the marketplace answers (404 unknown thread, 400 body too long...)."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None):
        super().__init__(f"{status}: {body}")
        self.response = Response(status, body, headers or {})


@dataclass
class _Scripted:
    kind: str
    method: str
    path: str
    times: int
    retry_after: float


class Faults:
    def __init__(self, seed: int = 0) -> None:
        self.scripted: list[_Scripted] = []
        self.rates: dict[str, float] = {}
        # Paths (regexes) random faults leave alone, e.g. a token endpoint whose 401 would
        # read as refused credentials rather than an expired token.
        self.exempt: list[str] = []
        self.random = random.Random(seed)
        self.hang_seconds = 1.0
        self.retry_after = 1.0
        self.injected: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add(
        self,
        kind: str,
        *,
        method: str = "",
        path: str = "",
        times: int = 1,
        retry_after: float | None = None,
    ) -> None:
        """The next `times` requests matching `method` and the `path` regex get `kind`."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; one of {', '.join(FAULT_KINDS)}")
        with self._lock:
            self.scripted.append(
                _Scripted(kind, method.upper(), path, times, retry_after or self.retry_after)
            )

    def clear(self) -> None:
        with self._lock:
            self.scripted.clear()
            self.rates.clear()

    def draw(self, method: str, path: str, kinds: tuple[str, ...]) -> tuple[str, float] | None:
        """The fault (of `kinds`) this request gets, if any."""
        with self._lock:
            for fault in self.scripted:
                if fault.kind not in kinds or fault.times <= 0:
                    continue
                if fault.method and fault.method != method:
                    continue
                if fault.path and not re.search(fault.path, path):
                    continue
                fault.times -= 1
                self.injected[fault.kind] += 1
                return fault.kind, fault.retry_after
            self.scripted = [f for f in self.scripted if f.times > 0]
            if any(re.search(pattern, path) for pattern in self.exempt):
                return None
            for kind in kinds:
                rate = self.rates.get(kind, 0.0)
                if rate and self.random.random() < rate:
                    self.injected[kind] += 1
                    return kind, self.retry_after
        return None


Route = tuple[str, re.Pattern[str], Callable[[Request], Response]]


class Simulator:
    """Subclasses call `self.route(method, path_regex, handler)` in `__init__` and override
    `authenticate(request)` to check credentials (raise HttpError(401/403))."""

    name = "marketplace"

    def __init__(self, *, seed: int = 0) -> None:
        self.routes: list[Route] = []
        self.faults = Faults(seed)
        self.violations: list[str] = []
        self.calls: Counter[str] = Counter()  # "GET /api/inbox/threads" -> count
        self.lock = threading.RLock()  # guards the marketplace's state
        self._server: ThreadingHTTPServer | None = None
        self._serve_thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._late: list[Callable[[], object]] = []  # requests held by `store_late`

    # -- life cycle ---------------------------------------------------------------------------

    def start(self) -> Simulator:
        handler = _handler_for(self)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._serve_thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # stop() returns within 50 ms
            name=f"sim-{self.name}",
            daemon=True,
        )
        self._serve_thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the simulator first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # -- routing ------------------------------------------------------------------------------

    def route(self, method: str, pattern: str, handler: Callable[[Request], Response]) -> None:
        self.routes.append((method.upper(), re.compile(f"^{pattern}$"), handler))

    def authenticate(self, request: Request) -> None:
        """Raise HttpError(401) for missing or wrong credentials."""

    def page_fault(self, request: Request) -> str | None:
        """For list endpoints: "duplicate_page", "reorder_page" or None for this request."""
        drawn = self.faults.draw(request.method, request.path, ("duplicate_page", "reorder_page"))
        return drawn[0] if drawn else None

    def run_late(self) -> int:
        """Carry out now the requests `store_late` held (their client gave up long ago);
        returns how many."""
        with self.lock:
            late, self._late = self._late, []
        for carry_out in late:
            carry_out()
        return len(late)

    def violation(self, message: str) -> HttpError:
        """Record a contract violation and make the error response for it."""
        self.violations.append(message)
        logger.warning("%s simulator: contract violation: %s", self.name, message)
        return HttpError(400, {"message": f"contract violation: {message}"})

    def dispatch(self, request: Request) -> Response | None:
        """The response, or None to drop the connection without one."""
        self.calls[f"{request.method} {request.path}"] += 1
        fault = self.faults.draw(
            request.method,
            request.path,
            (
                "error500",
                "rate_limit",
                "timeout",
                "lose_response",
                "error500_after",
                "store_late",
                "expired_token",
            ),
        )
        kind = fault[0] if fault else ""
        if kind == "error500":
            return Response(500, {"message": "Internal Server Error (simulated)"})
        if kind == "rate_limit":
            return Response(
                429,
                {"message": "Too Many Requests (simulated)"},
                {"Retry-After": f"{fault[1]:g}" if fault else "1"},
            )
        if kind == "expired_token":
            return Response(401, {"message": "token expired (simulated)"})
        if kind == "timeout":
            self._stopping.wait(self.faults.hang_seconds)
            return None
        for method, pattern, handler in self.routes:
            match = pattern.match(request.path)
            if match and method == request.method:
                request.params = match.groupdict()
                if kind == "store_late":
                    # In hand before the wait: a test may release it as soon as the client
                    # gave up.
                    with self.lock:
                        self._late.append(functools.partial(self._handle, handler, request))
                    self._stopping.wait(self.faults.hang_seconds)
                    return None
                response = self._handle(handler, request)
                if kind == "error500_after":
                    return Response(500, {"message": "Internal Server Error (simulated)"})
                return None if kind == "lose_response" else response
        return Response(404, {"message": f"no route {request.method} {request.path}"})

    def _handle(self, handler: Callable[[Request], Response], request: Request) -> Response:
        try:
            self.authenticate(request)
            return handler(request)
        except HttpError as exc:
            return exc.response
        except ContractViolation as exc:
            return self.violation(str(exc)).response


def _handler_for(sim: Simulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            # Headers and body go out in two writes: without this, Nagle's algorithm and the
            # client's delayed ACK add 40 ms to every answer.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def _serve(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            request = Request(
                method=self.command,
                path=url.path,
                query=parse_qs(url.query, keep_blank_values=True),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
            )
            try:
                response = sim.dispatch(request)
            except Exception:  # a simulator bug must show as a 500, not hang the client
                logger.exception("%s simulator crashed on %s %s", sim.name, self.command, url.path)
                response = Response(500, {"message": "simulator crashed"})
            if response is None:
                self.close_connection = True
                return
            data = response.encoded()
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

        def log_message(self, format: str, *args: Any) -> None:
            logger.debug("%s simulator: " + format, sim.name, *args)

    return Handler
