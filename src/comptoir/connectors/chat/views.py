"""The widget's public endpoints (no session, no cookie: the signed token in the body is the
visitor). Bodies are JSON sent as text/plain, so a browser posts them across sites without a
preflight; the Origin header must be one of the shop's sites. Rate limits per address and per
shop key are counted before any of this (`web.ratelimit`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.core.handlers.asgi import ASGIRequest
from django.db import connections
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    JsonResponse,
    StreamingHttpResponse,
)
from django.http.response import HttpResponseBase
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from comptoir.connectors.chat import service, stream
from comptoir.connectors.chat.models import ChatLine, ChatVisitor
from comptoir.connectors.chat.service import ChatChannel, ChatRefused
from comptoir.connectors.chat.transcript import mail_transcript

STATIC = Path(__file__).resolve().parent / "static" / "chat"
ASSETS = {"widget.js": "text/javascript", "widget.css": "text/css"}
# A 1.5 MB attachment in base64 and the text; Django refuses a body past 2.5 MB anyway
# (DATA_UPLOAD_MAX_MEMORY_SIZE).
MAX_BODY = 2_200_000

Handler = Callable[[HttpRequest, ChatChannel, dict[str, Any]], HttpResponseBase]


def snippet(base_url: str, shop_key: str) -> str:
    """The tag a shop pastes on its pages (`base_url`: this server's, ending with /)."""
    if not shop_key:
        return ""
    return f'<script src="{base_url}chat/widget.js" data-shop-key="{shop_key}" defer></script>'


def asset(request: HttpRequest, name: str) -> FileResponse:
    if name not in ASSETS:
        raise Http404(name)
    response = FileResponse((STATIC / name).open("rb"), content_type=ASSETS[name])
    response["Cache-Control"] = "public, max-age=3600"
    # Loaded by the shop's pages, from another site.
    response["Access-Control-Allow-Origin"] = "*"
    response["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


def _cors(response: HttpResponseBase, origin: str) -> HttpResponseBase:
    if origin:
        response["Access-Control-Allow-Origin"] = origin
        response["Vary"] = "Origin"
    return response


def endpoint(handler: Handler) -> Callable[[HttpRequest, str], HttpResponseBase]:
    """The shop key and the site checked, the JSON body read; a refusal says why."""

    @csrf_exempt
    @wraps(handler)
    def view(request: HttpRequest, shop_key: str) -> HttpResponseBase:
        origin = request.headers.get("Origin", "")
        response: HttpResponseBase
        try:
            chat = service.find_channel(shop_key)
            if not service.origin_allowed(chat, origin, request.get_host()):
                raise ChatRefused(403, "this site is not allowed to use the shop's chat")
            body: dict[str, Any] = {}
            if request.method == "POST":
                if int(request.headers.get("Content-Length") or 0) > MAX_BODY:
                    raise ChatRefused(413, "the request is too large")
                try:
                    body = json.loads(request.body or b"{}")
                except RequestDataTooBig:
                    raise ChatRefused(413, "the request is too large") from None
                except ValueError:
                    raise ChatRefused(400, "the body is not JSON") from None
                if not isinstance(body, dict):
                    raise ChatRefused(400, "the body must be a JSON object")
            elif request.method != "GET":
                raise ChatRefused(405, "GET or POST only")
            response = handler(request, chat, body)
        except ChatRefused as exc:
            response = JsonResponse({"error": exc.reason}, status=exc.status)
        return _cors(response, origin)

    return view


@endpoint
def hello(request: HttpRequest, chat: ChatChannel, body: dict[str, Any]) -> HttpResponse:
    """Opening the widget: who the visitor is (a new token, or the one kept), what was said,
    the greeting and form, and whether an answer comes now."""
    visitor = service.start(chat, str(body.get("token") or ""), str(body.get("language") or ""))
    lines = ChatLine.objects.filter(visitor=visitor).order_by("-pk")[:100]
    french = visitor.language.startswith("fr")
    conf = chat.conf
    return JsonResponse(
        {
            "token": service.token_for(visitor),
            "greeting": (conf.greeting_fr if french and conf.greeting_fr else conf.greeting),
            "form": {
                "name": conf.ask_name,
                "email": conf.ask_email,
                "order_number": conf.ask_order_number,
            },
            "visitor": {"name": visitor.name, "email": visitor.email, "by_email": visitor.by_email},
            "lines": [service.line_json(line) for line in reversed(lines)],
            "max_attachment_kb": conf.max_attachment_kb,
            **service.availability(chat),
        }
    )


@endpoint
def messages(request: HttpRequest, chat: ChatChannel, body: dict[str, Any]) -> HttpResponse:
    visitor = service.visitor_for(chat, str(body.get("token") or ""))
    line = service.post_message(chat, visitor, body)
    return JsonResponse({"line": service.line_json(line)}, status=201)


@endpoint
def activity(request: HttpRequest, chat: ChatChannel, body: dict[str, Any]) -> HttpResponse:
    """ "typing" or "left" (the page's last beacon)."""
    visitor = service.visitor_for(chat, str(body.get("token") or ""))
    service.mark(visitor, str(body.get("what") or ""))
    return HttpResponse(status=204)


@endpoint
def transcript(request: HttpRequest, chat: ChatChannel, body: dict[str, Any]) -> HttpResponse:
    visitor = service.visitor_for(chat, str(body.get("token") or ""))
    mail_transcript(chat, visitor, str(body.get("email") or ""))
    return HttpResponse(status=204)


@endpoint
def events(request: HttpRequest, chat: ChatChannel, body: dict[str, Any]) -> HttpResponseBase:
    visitor: ChatVisitor = service.visitor_for(chat, request.GET.get("token", ""))
    raw = request.headers.get("Last-Event-ID") or request.GET.get("after", "")
    after = int(raw) if raw.isdigit() and len(raw) < 19 else 0
    ChatVisitor.objects.filter(pk=visitor.pk).update(last_seen_at=timezone.now(), left_at=None)
    watch = stream.Watch(chat.id, visitor.pk, visitor.key, after)
    response = StreamingHttpResponse(
        stream.async_stream(watch)
        if isinstance(request, ASGIRequest)
        else stream.sync_stream(watch),
        content_type="text/event-stream",
    )
    if isinstance(request, ASGIRequest):
        connections.close_all()  # this thread is the stream's until it ends: hold nothing
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response
