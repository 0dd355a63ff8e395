"""A file download streamed as it is written: a large export never sits whole in memory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, StreamingHttpResponse

from comptoir.analytics.writers import CONTENT_TYPES

_END = object()


async def _pulled(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    # Under ASGI, Django reads a synchronous iterator whole into a list before sending it: each
    # chunk is pulled in the thread that holds the request's database connection instead.
    def step() -> object:
        return next(chunks, _END)

    pull = sync_to_async(step, thread_sensitive=True)
    while (chunk := await pull()) is not _END:
        assert isinstance(chunk, bytes)
        yield chunk


def download(request: HttpRequest, chunks: Iterator[bytes], filename: str) -> StreamingHttpResponse:
    fmt = filename.rsplit(".", 1)[-1]
    body = _pulled(chunks) if isinstance(request, ASGIRequest) else chunks
    response = StreamingHttpResponse(body, content_type=CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["X-Accel-Buffering"] = "no"
    return response
