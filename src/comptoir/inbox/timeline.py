"""The conversation page's timeline (its messages and events) as HTML, built in Python: the
template engine spent about 3 ms of a page's 9 on this loop, resolving each message's dozen
variables and tags. The markup is the one `inbox/conversation.html` had, byte for byte (the
same escaping, translations, localised dates and URLs); the template shows it as is."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape  # the same entities as Django's escape, without its lazy-string wrapper
from typing import Any

from django.template import Context
from django.template.base import render_value_in_context
from django.template.defaultfilters import filesizeformat, linebreaksbr
from django.urls import NoReverseMatch, reverse
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext

from comptoir.inbox.models import Attachment, Conversation
from comptoir.lib import intents

# What `{{ value }}` does in a page's context (autoescape on, the active language's formats
# and timezone): the template's own function, for what is not a plain string.
_CONTEXT = Context(autoescape=True)

_DELIVERY = {
    "queued": "Queued",
    "sending": "Sending",
    "sent": "Sent",
    "failed": "Failed",
    "replaced": "Replaced by an edited copy",
}


def _v(value: Any) -> str:
    """`{{ value }}`."""
    if type(value) is str:
        return escape(value)
    return render_value_in_context(value, _CONTEXT)


def _t(text: str) -> str:
    """`{% translate "text" %}`: a literal of the template, its translation shown as is (not
    escaped)."""
    return gettext(text)


def _firstof(*values: Any) -> str:
    for value in values:
        if value:
            return _v(value)
    return ""


class _Words:
    """The page's translated words, looked up once per page rather than once per message."""

    def __init__(self) -> None:
        self.note = _t("note")
        self.automatic = _t("automatic")
        self.quoted = _t("Quoted history")
        self.formatted = _t("Formatted version")
        self.frame_title = _t("The message as the sender formatted it")
        self.remote_images = _t("Show remote images")
        self.not_kept = _t("not kept")
        self.original = _t("Original (.eml)")
        self.delivery = {state: _t(text) for state, text in _DELIVERY.items()}


def render_timeline(
    timeline: Sequence[tuple[str, Any, Any]],
    attachments: dict[int, list[Attachment]],
    conv: Conversation,
    *,
    can_write: bool,
    csrf: Any,
) -> SafeString:
    """`timeline`'s items (("message", at, Message) or ("event", at, Event), events described
    by `inbox.display.describe_events`), with the messages' `attachments` by message, as the
    <ol class="timeline">'s content; `csrf` is the page's token (read only if a failed reply
    offers its forms)."""
    words = _Words()
    buyer = _firstof(conv.customer.name, conv.customer.email) if conv.customer else ""
    out = []
    for kind, at, item in timeline:
        if kind == "message":
            files = attachments.get(item.pk, ())
            body = _message(item, files, at, conv, buyer, words, can_write, csrf)
        else:
            body = _event(item, at)
        out.append(f"\n        \n          {body}\n        \n      ")
    return mark_safe("".join(out))


def _message(
    item: Any,
    files: Iterable[Attachment],
    at: Any,
    conv: Conversation,
    buyer: str,
    words: _Words,
    can_write: bool,
    csrf: Any,
) -> str:
    direction, state = item.direction, item.delivery_state
    if direction == "in":
        who = buyer
    else:
        author = item.author
        who = _firstof(author.display_name if author else "", item.author_name, conv.channel.name)
    parts = _header(item, at, who, words)
    parts.append(
        f'</header>\n            <div class="text">{linebreaksbr(item.new_text or item.text)}'
        "</div>\n            "
    )
    if item.new_text and item.new_text != item.text:
        parts.append(
            f'<details><summary>{words.quoted}</summary><div class="text">'
            f"{linebreaksbr(item.text)}</div></details>"
        )
    parts.append("\n            ")
    if item.delivery_error:
        parts.append(f'<p class="error {_v(state)}">{_v(item.delivery_error)}</p>')
    parts.append("\n            ")
    if can_write and direction == "out" and state == "failed":
        parts.append(_failed_actions(item, csrf))
    parts.append("\n            ")
    if item.html:
        parts.append(_formatted(item, words))
    parts.append("\n            ")
    parts.extend(_files(files, words))
    parts.append("\n            ")
    if item.source_sha256:
        url = _v(reverse("inbox:message_source", args=[item.pk]))
        parts.append(f'<a class="source" href="{url}">{words.original}</a>')
    parts.append("\n          </li>")
    return "".join(parts)


def _header(item: Any, at: Any, who: str, words: _Words) -> list[str]:
    """A message's opening and header: author, badges, intent, time, delivery."""
    direction, auto = item.direction, item.is_auto
    parts = [
        f'<li class="message {_v(direction)}{" auto" if auto else ""}">\n'
        f"            <header><strong>{who}</strong>\n              ",
        f'<span class="badge">{words.note}</span>' if direction == "note" else "",
        "\n              ",
        f'<span class="badge">{words.automatic}</span>' if auto else "",
        "\n              ",
    ]
    intent = item.intent
    if direction == "in" and intent and intent != "unsure":
        label = _v(intents.label(intent))
        title = gettext("Intent: %(intent)s") % {"intent": label}
        parts.append(f'<span class="intent-chip" title="{title}">{label}</span>')
    parts.append(
        f'\n              <time datetime="{_v(at.isoformat())}">{_v(at)}</time>\n              '
    )
    state = item.delivery_state
    if direction == "out":
        parts.append(f'<span class="delivery {_v(state)}">{words.delivery.get(state, "")}</span>')
    return parts


def _files(files: Iterable[Attachment], words: _Words) -> list[str]:
    """A message's attachments: a download link, or why the file was not kept."""
    parts: list[str] = []
    for a in files:
        name, size = _v(a.filename), _v(filesizeformat(a.size))
        if a.sha256:
            url = _v(reverse("inbox:attachment", args=[a.pk]))
            parts.append(f'<a class="attachment" href="{url}" download>{name} ({size})</a>')
        else:
            parts.append(
                f'<span class="attachment dropped" title="{_v(a.dropped_reason)}">{name} '
                f"({size}) · {words.not_kept}</span>"
            )
    return parts


def _failed_actions(item: Any, csrf: Any) -> str:
    """A failed reply's forms: retry it, or edit and resend it."""
    token = "" if not csrf or csrf == "NOTPROVIDED" else str(csrf)
    field = f'<input type="hidden" name="csrfmiddlewaretoken" value="{_v(token)}">' if token else ""
    pk = _v(item.pk)
    retry = _v(reverse("inbox:retry_message", args=[item.pk]))
    resend = _v(reverse("inbox:resend_message", args=[item.pk]))
    return (
        f'\n            <div class="failed-actions" id="failed-{pk}">\n'
        f'              <form method="post" action="{retry}">{field}<button type="submit"'
        f' class="retry">{_t("Retry")}</button></form>\n'
        f'              <details class="resend"><summary>{_t("Edit and resend")}</summary>\n'
        f'                <form method="post" action="{resend}">{field}\n'
        f'                  <textarea name="text" rows="4" required aria-label='
        f'"{_t("The new text of this reply")}">{_v(item.text)}</textarea>\n'
        f'                  <p class="hint">'
        f"{_t('The failed message is replaced: the buyer gets only the new text.')}</p>\n"
        f'                  <button type="submit" class="send">{_t("Resend")}</button>\n'
        "                </form>\n"
        "              </details>\n"
        "            </div>\n"
        "            "
    )


def _formatted(item: Any, words: _Words) -> str:
    """The message's HTML version: a sandboxed frame, and its remote images on request."""
    pk = _v(item.pk)
    frame = _v(reverse("inbox:message_html", args=[item.pk]))
    images = ""
    if "data-remote-src=" in item.html:
        url = _v(reverse("inbox:message_html_images", args=[item.pk]))
        images = f'<a class="allow-images" href="{url}" target="msg-{pk}">{words.remote_images}</a>'
    return (
        f'<details class="html-version"><summary>{words.formatted}</summary>\n'
        f'              <iframe name="msg-{pk}" title="{words.frame_title}"'
        ' sandbox="allow-popups allow-popups-to-escape-sandbox" loading="lazy"'
        f' src="{frame}"></iframe>\n'
        f"              {images}\n"
        "            </details>"
    )


def _event(item: Any, at: Any) -> str:
    if item.kind == "same_order":
        data = item.data if isinstance(item.data, dict) else {}
        number = data.get("conversation")
        try:
            url = reverse("inbox:conversation", args=[number])
        except NoReverseMatch:
            url = ""
        text = gettext('Same order as <a href="%(url)s">#%(number)s</a>') % {
            "url": _v(url),
            "number": _v(number if number is not None else ""),
        }
    else:
        text = _v(item.summary or item.get_kind_display())
    author = f' <span class="by">{_v(item.author)}</span>' if item.author else ""
    return (
        f'<li class="event">{text}{author} · <time datetime="{_v(at.isoformat())}">{_v(at)}</time>'
        "</li>"
    )
