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
in a transaction (autocommit not restored) or is older than that age.

One hop per request: Django's handler sends the request-started signal, runs the chain and
closes the response (the request-finished signal) each in a thread hop of its own, with two
tasks and a task group on the loop around them: a third of what `/healthz` cost the server.
Here the signals, the request, the chain and the closing of a plain response run in one call
in the borrowed thread, in a copy of the request's context, and the loop only sends the bytes.
A streamed response goes on as Django streams it, in that context (the view's language and
script prefix), with the client's disconnect watched while it streams."""

from __future__ import annotations

import asyncio
import contextvars
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from typing import IO, Any

import django
from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.base import BaseHandler
from django.db import connections
from django.http import FileResponse, HttpResponseBase
from django.urls import set_script_prefix

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
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        # Every call of the request (the one hop, a download's chunks, closing a stream) runs
        # in the borrowed thread, in order, in the request's own context.
        executor = self.threads.take()
        context = contextvars.copy_context()
        try:
            with closing(body_file):
                response = await asyncio.get_running_loop().run_in_executor(
                    executor, context.run, self._respond, scope, body_file
                )
                if response.streaming:
                    task = self._stream(executor, response, receive, send)
                    await asyncio.create_task(task, context=context)
                else:
                    await self.send_response(response, send)
        finally:
            self.threads.give_back(executor)

    def _respond(self, scope: dict[str, Any], body_file: IO[bytes]) -> HttpResponseBase:
        """The request's synchronous part, in its thread: a plain response comes back closed."""
        set_script_prefix(get_script_prefix(scope))
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, refused = self.create_request(scope, body_file)
        if request is None:
            assert refused is not None  # 400 or 413: no view runs
            response: HttpResponseBase = refused
        else:
            response = self.get_response(request)
            response._handler_class = self.__class__  # type: ignore[attr-defined]  # its close's sender
            if isinstance(response, FileResponse):
                response.block_size = self.chunk_size  # the server chunks what it sends
        if not response.streaming:
            response.close()  # request_finished: the content is already bytes
        return response

    async def _stream(
        self, executor: ThreadPoolExecutor, response: HttpResponseBase, receive: Any, send: Any
    ) -> None:
        """Django's way: chunks pulled in the request's thread while the client stays."""

        class Sent(Exception):
            pass

        async def send_all() -> None:
            await self.send_response(response, send)
            raise Sent

        async with ThreadSensitiveContext(executor=executor):
            # What the view left in asgiref's locals (its language, say) is tagged with the
            # request thread; coming back from a hop moves it to this one, for an
            # asynchronous body read here.
            await sync_to_async(_nothing)()
            try:
                try:
                    async with asyncio.TaskGroup() as group:
                        group.create_task(self.listen_for_disconnect(receive))
                        group.create_task(send_all())
                except* (Sent, RequestAborted):
                    pass
            except BaseExceptionGroup as failed:  # as Django: the one error, not a group
                if len(failed.exceptions) == 1:
                    raise failed.exceptions[0] from None
                raise
            finally:
                await sync_to_async(response.close)()  # request_finished, even after an error


def _nothing() -> None:
    pass


def get_application() -> Any:
    django.setup(set_prefix=False)
    return SyncChainASGIHandler()


application = get_application()
