"""The ASGI application (`comptoir serve`): Django's handler, its middleware run in one thread hop.

Every page view and every middleware of ours is synchronous. Django's own ASGI handler builds
an asynchronous chain wherever a middleware can run both ways, and hops between the event loop
and a thread at each border and for each `process_request`/`process_response` of those: about
ten hops a request, 5 ms of CPU on the inbox page (a third of it). Here the chain is built
synchronous, as under WSGI, and the event loop hands it the request once. What stays
asynchronous: reading the request, sending the response, and streamed bodies (the live
updates' server-sent events, downloads), which the handler consumes on the loop as before."""

from __future__ import annotations

import os
from typing import Any

import django
from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.base import BaseHandler
from django.http import HttpRequest, HttpResponseBase

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "comptoir.settings")


class SyncChainASGIHandler(ASGIHandler):
    def __init__(self) -> None:
        BaseHandler.__init__(self)
        self.load_middleware(is_async=False)

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        # The request's own thread, as for any synchronous view (`thread_sensitive`).
        response: HttpResponseBase = await sync_to_async(self.get_response)(request)
        return response


def get_application() -> Any:
    django.setup(set_prefix=False)
    return SyncChainASGIHandler()


application = get_application()
