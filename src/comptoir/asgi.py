"""The ASGI application (`comptoir serve`): Django's handler, its middleware run in one thread hop.

Every page view and every middleware of ours is synchronous. Django's own ASGI handler builds
an asynchronous chain wherever a middleware can run both ways, and hops between the event loop
and a thread at each border and for each `process_request`/`process_response` of those: about
ten hops a request, 5 ms of CPU on the inbox page (a third of it). Here the chain is built
synchronous, as under WSGI, and the event loop hands it the request once. What stays
asynchronous: reading the request, sending the response, and streamed bodies (the live
updates' server-sent events, downloads), which the handler consumes on the loop as before.

Django also starts a new thread for each request (its `ThreadSensitiveContext`): the thread's
database connection dies with it, so every request connected again (SQLite: its PRAGMAs and
functions; PostgreSQL: a new session or a pool checkout). Here a request borrows a thread kept
between requests (one per request in flight, `KEEP_THREADS` kept idle), and `comptoir serve`'s
processes keep each thread's connection (`CONN_MAX_AGE`, set by the settings for them) under
Django's usual rules: closed at the start or end of a request if it failed unusably, was left
in a transaction (autocommit not restored) or is older than that age."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import django
from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.base import BaseHandler
from django.db import connections
from django.http import HttpRequest, HttpResponseBase

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "comptoir.settings")

# Idle request threads kept per process: as many as requests usually in flight at once. A burst
# beyond starts more threads, which end (their connections closed) once the burst is served.
KEEP_THREADS = 8


class RequestThreads:
    """Single-thread executors lent to one request at a time: a thread and its connection reused."""

    def __init__(self, keep: int = KEEP_THREADS) -> None:
        self.keep = keep
        self._idle: list[ThreadPoolExecutor] = []
        self._lock = threading.Lock()

    def take(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="comptoir-request")

    def give_back(self, executor: ThreadPoolExecutor) -> None:
        with self._lock:
            if len(self._idle) < self.keep:
                self._idle.append(executor)
                return
        # Queued after whatever the request left running in it (a call cannot be cancelled).
        executor.submit(connections.close_all)
        executor.shutdown(wait=False)


class SyncChainASGIHandler(ASGIHandler):
    def __init__(self, threads: RequestThreads | None = None) -> None:
        BaseHandler.__init__(self)
        self.load_middleware(is_async=False)
        self.threads = threads or RequestThreads()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        # Every thread-sensitive call of the request (the request signals, the chain, a
        # download's chunks, closing the response) runs in the borrowed thread, in order.
        executor = self.threads.take()
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.handle(scope, receive, send)
        finally:
            self.threads.give_back(executor)

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        # The request's own thread, as for any synchronous view (`thread_sensitive`).
        response: HttpResponseBase = await sync_to_async(self.get_response)(request)
        return response


def get_application() -> Any:
    django.setup(set_prefix=False)
    return SyncChainASGIHandler()


application = get_application()
