"""One message's pages: retry or resend a failed reply, its HTML in a sandboxed frame, its
original source, its attachments. Scope as on the conversation page: 404 not visible, 403 not
allowed."""

from __future__ import annotations

from urllib.parse import quote

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.csp import CSP
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.csp import csp_override
from django.views.decorators.http import require_POST

from comptoir.accounts.permissions import (
    find_visible,
    require_write,
)
from comptoir.inbox import actions, files
from comptoir.inbox.models import (
    Attachment,
    Message,
)
from comptoir.inbox.permissions import visible_conversations
from comptoir.inbox.views import _plain, _user


def _message(request: HttpRequest, pk: int) -> Message:
    visible = visible_conversations(_user(request))
    return find_visible(Message.objects.filter(conversation__in=visible), pk)


def _writable_message(request: HttpRequest, pk: int) -> Message:
    """A message of a conversation the user may see (else 404) and answer (else 403)."""
    message = _message(request, pk)
    require_write(_user(request))
    return message


@login_required
@require_POST
def retry_message(request: HttpRequest, pk: int) -> HttpResponse:
    """A failed reply sent again as it is."""
    message = _writable_message(request, pk)
    try:
        actions.retry_delivery(message, actor=_user(request))
    except ValidationError as exc:
        return _plain("; ".join(exc.messages))
    return redirect(reverse("inbox:conversation", args=[message.conversation_id]))


@login_required
@require_POST
def resend_message(request: HttpRequest, pk: int) -> HttpResponse:
    """A failed reply sent again with the text the agent edited; the failed one is replaced."""
    message = _writable_message(request, pk)
    text = request.POST.get("text", "").strip()
    try:
        actions.resend_edited(message, actor=_user(request), text=text)
    except actions.ReplyRefused as exc:
        return _plain("\n".join(r.message for r in exc.results))
    except ValidationError as exc:
        return _plain("; ".join(exc.messages))
    return redirect(reverse("inbox:conversation", args=[message.conversation_id]))


# A message's HTML is the sender's: shown in a sandboxed frame (no script, no same origin), with
# nothing loaded from elsewhere until the agent allows that message's images.
_FRAME_CSP: dict[str, list[str]] = {
    "default-src": [CSP.NONE],
    "img-src": ["data:", "cid:"],
    "style-src": [CSP.UNSAFE_INLINE],
    "sandbox": ["allow-popups", "allow-popups-to-escape-sandbox"],
    "frame-ancestors": [CSP.SELF],
}
_FRAME_CSP_IMAGES: dict[str, list[str]] = {
    **_FRAME_CSP,
    "img-src": ["data:", "cid:", "https:", "http:"],
}


def _frame(request: HttpRequest, pk: int, *, images: bool) -> HttpResponse:
    message = _message(request, pk)
    html = message.html
    if images:
        html = html.replace("data-remote-src=", "src=")
    body = (
        '<!doctype html><html><head><meta charset="utf-8"><base target="_blank">'
        f"</head><body>{html}</body></html>"
    )
    response = HttpResponse(body, content_type="text/html; charset=utf-8")
    response["X-Content-Type-Options"] = "nosniff"
    return response


@login_required
@xframe_options_sameorigin
@csp_override(_FRAME_CSP)
def message_html(request: HttpRequest, pk: int) -> HttpResponse:
    return _frame(request, pk, images=False)


@login_required
@xframe_options_sameorigin
@csp_override(_FRAME_CSP_IMAGES)
def message_html_with_images(request: HttpRequest, pk: int) -> HttpResponse:
    return _frame(request, pk, images=True)


@login_required
def message_source(request: HttpRequest, pk: int) -> HttpResponse:
    """The message exactly as it arrived (an email as .eml)."""
    message = _message(request, pk)
    if not message.source_sha256:
        raise Http404("this message has no original source")
    response = HttpResponse(files.read_bytes(message.source_sha256), content_type="message/rfc822")
    response["Content-Disposition"] = f'attachment; filename="message-{message.pk}.eml"'
    return response


@login_required
def attachment(request: HttpRequest, pk: int) -> HttpResponse:
    """A file of a message, always as a download: a sender's HTML or SVG never runs here."""
    visible = visible_conversations(_user(request))
    found = find_visible(Attachment.objects.filter(message__conversation__in=visible), pk)
    if not found.sha256:
        raise Http404(f"not kept: {found.dropped_reason or 'no content'}")
    response = HttpResponse(files.read_bytes(found.sha256), content_type="application/octet-stream")
    name = quote(found.filename or f"attachment-{found.pk}")
    response["Content-Disposition"] = f"attachment; filename*=UTF-8''{name}"
    response["X-Content-Type-Options"] = "nosniff"
    return response
