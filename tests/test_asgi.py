"""The ASGI application `comptoir serve` runs: every middleware applies, in one synchronous
chain (no hop between the event loop and a thread per middleware), a streamed body (the
live updates) is still sent as it comes, and a request borrows a thread kept between requests
with its database connection, which is dropped if a request left it unusable."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import connections

from comptoir.asgi import (
    CONNECTION_SECONDS,
    RequestThreads,
    SyncChainASGIHandler,
    application,
    keep_connections,
)


def _get(path: str, cookie: str = "", app: Any = application) -> list[dict[str, Any]]:
    """The ASGI messages the application sends for GET `path`."""
    plain, _, query = path.partition("?")
    headers = [(b"host", b"testserver")] + ([(b"cookie", cookie.encode())] if cookie else [])
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": plain,
        "raw_path": plain.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 40000),
        "server": ("testserver", 80),
    }
    sent: list[dict[str, Any]] = []

    async def run() -> None:
        body_read = False

        async def receive() -> dict[str, Any]:
            nonlocal body_read
            if not body_read:
                body_read = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await asyncio.Event().wait()  # the client stays until the response ends
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await app(scope, receive, send)

    # Its own thread: another test's browser may keep an event loop in this one.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result()
    connections.close_all()
    return sent


def _headers(start: dict[str, Any]) -> dict[str, str]:
    return {k.decode().lower(): v.decode() for k, v in start["headers"]}


def test_the_middleware_chain_is_synchronous_and_every_middleware_applies(
    transactional_db: None,
) -> None:
    assert not asyncio.iscoroutinefunction(application._middleware_chain)

    sent = _get("/healthz")

    assert sent[0]["status"] == 200
    headers = _headers(sent[0])
    assert "default-src 'self'" in headers["content-security-policy"]  # CSP middleware
    assert headers["x-frame-options"] == "DENY"  # clickjacking middleware
    assert b'"status": "ok"' in b"".join(m.get("body", b"") for m in sent[1:])
    # Authentication and the login requirement: a page sends an anonymous visitor away.
    assert _get("/inbox/")[0]["status"] == 302


def test_a_signed_in_agent_gets_the_inbox_and_its_live_stream(
    transactional_db: None, agent: AbstractBaseUser, settings: Any
) -> None:
    from django.test import Client

    settings.COMPTOIR_LIVE_SECONDS = 0.5
    client = Client()
    client.force_login(agent)
    cookie = f"sessionid={client.cookies['sessionid'].value}"

    page = _get("/inbox/", cookie)
    assert page[0]["status"] == 200
    assert b'data-live="/inbox/live?after=' in b"".join(m.get("body", b"") for m in page[1:])

    stream = _get("/inbox/live?after=0", cookie)
    assert _headers(stream[0])["content-type"].startswith("text/event-stream")
    assert stream[1]["body"].startswith(b"retry:")
    assert stream[-1] == {"type": "http.response.body"}  # ended when its time was up


def test_a_thread_is_lent_to_one_request_at_a_time_and_a_few_are_kept() -> None:
    threads = RequestThreads(keep=1)
    first, second = threads.take(), threads.take()
    assert first is not second  # two requests in flight: two threads
    threads.give_back(first)
    threads.give_back(second)  # past the one kept: its thread ends
    assert threads.take() is first
    try:
        second.submit(int)
        raise AssertionError("a thread past those kept still takes work")
    except RuntimeError:
        pass
    first.shutdown()


def test_a_kept_thread_keeps_its_connection_unless_a_request_left_a_transaction_open(
    transactional_db: None, settings: Any
) -> None:
    settings.DATABASES["default"]["CONN_MAX_AGE"] = 600  # as keep_connections() in `serve`
    threads = RequestThreads(keep=1)
    app = SyncChainASGIHandler(threads)
    try:
        assert _get("/healthz", app=app)[0]["status"] == 200
        (thread,) = threads._idle

        def current() -> Any:
            return connections["default"].connection

        kept = thread.submit(current).result()
        assert kept is not None  # not closed when the request finished

        assert _get("/healthz", app=app)[0]["status"] == 200
        assert thread.submit(current).result() is kept  # the next request used it again

        # A request that ends inside a transaction: the next one does not inherit it.
        thread.submit(lambda: connections["default"].set_autocommit(False)).result()
        assert _get("/healthz", app=app)[0]["status"] == 200
        after = thread.submit(current).result()
        assert after is not kept
        assert thread.submit(lambda: connections["default"].get_autocommit()).result()
    finally:
        settings.DATABASES["default"]["CONN_MAX_AGE"] = 0
        for executor in threads._idle:
            executor.submit(connections.close_all).result()
            executor.shutdown()


def test_serve_keeps_connections_unless_a_pool_keeps_them(monkeypatch: Any) -> None:
    from types import SimpleNamespace

    import comptoir.asgi

    plain = {"ENGINE": "django.db.backends.sqlite3", "CONN_MAX_AGE": 0, "OPTIONS": {}}
    pooled = {"ENGINE": "django.db.backends.postgresql", "CONN_MAX_AGE": 0}
    pooled["OPTIONS"] = {"pool": {"max_size": 4}}
    databases = {"default": plain, "other": pooled}
    monkeypatch.setattr(comptoir.asgi, "settings", SimpleNamespace(DATABASES=databases))

    keep_connections()

    assert plain["CONN_MAX_AGE"] == CONNECTION_SECONDS
    assert pooled["CONN_MAX_AGE"] == 0  # Django refuses a pool with persistent connections
