"""The ASGI application `comptoir serve` runs: every middleware applies, in one synchronous
chain (no hop between the event loop and a thread per middleware), a streamed body (the
live updates) is still sent as it comes, and a request borrows a thread kept between requests
with its database connection, which is dropped if a request left it unusable."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import AbstractBaseUser
from django.core import signals
from django.db import connections
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.urls import path
from django.utils import translation

from comptoir.asgi import RequestThreads, SyncChainASGIHandler, application


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


def _plain(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b"plain")


def _streamed_in_french(request: HttpRequest) -> StreamingHttpResponse:
    translation.activate("fr")  # in the request's context only

    async def chunks() -> Any:
        for _ in range(2):
            yield translation.get_language() or ""

    return StreamingHttpResponse(chunks())


def _stream_that_fails(request: HttpRequest) -> StreamingHttpResponse:
    async def chunks() -> Any:
        yield "first"
        raise ValueError("the stream broke")

    return StreamingHttpResponse(chunks())


urlpatterns = [
    path("plain", _plain),
    path("streamed", _streamed_in_french),
    path("broken", _stream_that_fails),
]


def test_a_plain_response_is_made_and_closed_in_one_call_in_the_request_thread(
    db: None, settings: Any
) -> None:
    settings.ROOT_URLCONF = __name__
    threads = RequestThreads(keep=1)
    app = SyncChainASGIHandler(threads)
    seen: list[tuple[str, str]] = []

    def started(**kwargs: Any) -> None:
        seen.append(("started", threading.current_thread().name))

    def finished(**kwargs: Any) -> None:
        seen.append(("finished", threading.current_thread().name))

    signals.request_started.connect(started)
    signals.request_finished.connect(finished)
    try:
        sent = _get("/plain", app=app)
    finally:
        signals.request_started.disconnect(started)
        signals.request_finished.disconnect(finished)
        for executor in threads._idle:
            executor.shutdown()
    assert sent[0]["status"] == 200
    assert sent[1] == {"type": "http.response.body", "body": b"plain", "more_body": False}
    assert [what for what, _ in seen] == ["started", "finished"]  # each once
    assert {thread for _, thread in seen} == {seen[0][1]}
    assert seen[0][1].startswith("comptoir-request")  # the borrowed thread, not the loop's


def test_a_streamed_response_goes_on_in_the_views_context(db: None, settings: Any) -> None:
    settings.ROOT_URLCONF = __name__
    sent = _get("/streamed")
    assert sent[0]["status"] == 200
    chunks = [m["body"] for m in sent[1:] if m.get("body")]
    assert chunks == [b"fr", b"fr"]  # the view's language, not the loop's default
    assert sent[-1] == {"type": "http.response.body"}


def test_a_stream_that_fails_raises_its_error_and_the_request_still_finishes(
    db: None, settings: Any
) -> None:
    settings.ROOT_URLCONF = __name__
    finished: list[str] = []

    def done(**kwargs: Any) -> None:
        finished.append(threading.current_thread().name)

    signals.request_finished.connect(done)
    try:
        with pytest.raises(ValueError, match="the stream broke"):  # the error, not a group
            _get("/broken")
    finally:
        signals.request_finished.disconnect(done)
    assert len(finished) == 1
    assert finished[0].startswith("comptoir-request")


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
    settings.DATABASES["default"]["CONN_MAX_AGE"] = 600  # as the settings set it for `serve`
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


_CONN_MAX_AGE = (
    "import django; django.setup(); from django.conf import settings as s; "
    "d = s.DATABASES['default']; print(d['CONN_MAX_AGE'], 'pool' in d.get('OPTIONS', {}))"
)


def _conn_max_age(tmp_path: Path, **env: str) -> str:
    environ = {k: v for k, v in os.environ.items() if k != "COMPTOIR_WEB_PROCESS"}
    environ |= {"COMPTOIR_DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "comptoir.settings"}
    proc = subprocess.run(
        [sys.executable, "-c", _CONN_MAX_AGE],
        env=environ | env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_the_served_processes_keep_connections_unless_a_pool_keeps_them(tmp_path: Path) -> None:
    sqlite = {"DATABASE_URL": ""}
    postgres = {"DATABASE_URL": "postgres://u@127.0.0.1:5432/x", "COMPTOIR_SECRET_KEY": "k" * 50}
    postgres["COMPTOIR_ENCRYPTION_KEY"] = "e" * 44
    assert _conn_max_age(tmp_path, **sqlite) == "0 False"  # commands and workers: as before
    assert _conn_max_age(tmp_path, **sqlite, COMPTOIR_WEB_PROCESS="1") == "600 False"
    pooled = postgres | {"COMPTOIR_DB_POOL_SIZE": "4", "COMPTOIR_WEB_PROCESS": "1"}
    # Django refuses a pool with persistent connections.
    assert _conn_max_age(tmp_path, **pooled) == "0 True"


def test_comptoir_serve_marks_its_processes(monkeypatch: Any) -> None:
    import django.core.management

    import comptoir.cli

    ran: list[list[str]] = []
    monkeypatch.setenv(comptoir.cli.WEB_PROCESS, "")  # recorded, so that the test's own is undone
    monkeypatch.delenv(comptoir.cli.WEB_PROCESS)
    monkeypatch.setattr(django.core.management, "execute_from_command_line", ran.append)
    comptoir.cli.main(["migrate", "--check"])
    assert comptoir.cli.WEB_PROCESS not in os.environ
    comptoir.cli.main(["serve", "--port", "8123"])
    assert os.environ[comptoir.cli.WEB_PROCESS] == "1"
    assert ran == [["comptoir", "migrate", "--check"], ["comptoir", "serve", "--port", "8123"]]
