"""The agent's inbox and conversation pages. Thin: scope and lookups from `inbox.permissions`,
queries from `inbox.queries`, every change through `inbox.actions`, which decide who may do it
(their refusals are answered as `accounts.permissions` says: 404 not visible, 403 not allowed)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.context_processors import csrf as csrf_context
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import SimpleLazyObject
from django.utils.translation import gettext
from django.views.decorators.http import require_POST

from comptoir.accounts.models import User
from comptoir.accounts.permissions import (
    can_write,
    sees_everything,
)
from comptoir.cases.queries import set_row_badges as set_case_badges
from comptoir.inbox import actions, page_reads, tasks, template_picker
from comptoir.inbox.bar_views import snooze_presets, snooze_until
from comptoir.inbox.buyer import buyer_panel
from comptoir.inbox.display import absolute_time, deadline_html, describe_events
from comptoir.inbox.filter_chips import filter_chips
from comptoir.inbox.list_page import list_page
from comptoir.inbox.models import (
    Attachment,
    Conversation,
    Marketplace,
    Message,
    PresenceState,
    Priority,
    SLAState,
    Status,
)
from comptoir.inbox.options import assignee_options, filter_options, team_options
from comptoir.inbox.permissions import visible_or_404
from comptoir.inbox.queries import (
    FILTER_PARAMS,
    SLA_FILTER_STATES,
    VIEWS,
    InboxView,
    InvalidCursor,
    latest_event,
    marketplace_counts,
    presence_on,
    view_counts,
)
from comptoir.inbox.rows import InboxRow, filter_selects, render_rows
from comptoir.inbox.timeline import render_timeline
from comptoir.lib import intents
from comptoir.lib.i18n import per_language
from comptoir.sla.policies import policy_for
from comptoir.triage.panel import intent_groups, latest_inbound_among, reading_panel

PAGE_SIZE = 50


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


@login_required
def inbox(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    view = VIEWS.get(request.GET.get("view", ""), VIEWS["needs_reply"])
    params = {name: request.GET.get(name, "").strip() for name in FILTER_PARAMS}
    # Read before the rows: a change made meanwhile is then sent by the live stream, not lost.
    latest = latest_event()
    tz = timezone.get_current_timezone()
    try:
        rows, next_cursor = list_page(user, view, params, tz, request.GET.get("cursor"), PAGE_SIZE)
    except (ValidationError, InvalidCursor) as exc:
        return render(
            request,
            "inbox/inbox.html",
            {"error": exc, "params": params, **_chrome(request, view, latest, params)},
            status=400,
        )
    _set_urls(rows)
    set_case_badges(rows, timezone.now())
    kept = {k: v for k, v in {"view": view.key, **params}.items() if v}
    more = f"?{urlencode({**kept, 'cursor': next_cursor})}" if next_cursor else ""
    now = timezone.now()
    context = {
        "rows": rows,
        "rows_html": render_rows(rows, now),
        "more": more,
        "params": params,
        "query": urlencode(kept),
        "now": now,
        "last_event": latest[0],
    }
    if request.htmx and request.GET.get("cursor"):  # type: ignore[attr-defined]
        return render(request, "inbox/_rows.html", context)
    chrome = _chrome(request, view, latest, params)
    chips = filter_chips(view.key, params, chrome)
    bar = _filter_bar_key(view, params, chrome, len(chips))
    return render(
        request, "inbox/inbox.html", {**context, **chrome, "chips": chips, "filter_bar": bar}
    )


def _filter_bar_key(
    view: InboxView, params: dict[str, str], chrome: dict[str, Any], chips: int
) -> str:
    """What the filter bar shows besides the language and the search words (a slot): a new
    set of choices (a new channel, colleague...) has a new token, so a new bar."""
    state = urlencode(sorted((k, v) for k, v in params.items() if k != "q"))
    return f"{chrome['options_token']}:{view.key}:{chips}:{state}"


_PLACEHOLDER = 987654321


def _set_urls(rows: list[InboxRow]) -> None:
    """Each row's link, from one `reverse` per page instead of two per row (a tenth of the
    rendering time of a 50-row page)."""
    pattern = reverse("inbox:conversation", args=[_PLACEHOLDER])
    for conv in rows:
        conv.url = pattern.replace(str(_PLACEHOLDER), str(conv.pk))


def _chrome(
    request: HttpRequest,
    view: InboxView,
    latest: tuple[int, float] | None = None,
    params: dict[str, str] | None = None,
) -> dict[str, Any]:
    user = _user(request)
    latest = latest or latest_event()
    counts = view_counts(user, latest)
    views = [(v, counts[v.key]) for v in VIEWS.values()]
    sources = marketplace_counts(user, latest)
    presets = snooze_presets()
    chrome = {
        "view": view,
        "views": views,
        "marketplace_views": sources,
        # The nav's and the bulk bar's kept parts (`{% fragment %}`) are named by all they show.
        "nav_key": _nav_key(view, params or {}, views, sources),
        "snooze_key": "|".join(value for _, value in presets),
        "saved_views": page_reads.SAVED_VIEWS.all(user=user.pk),
        "can_write": can_write(user),
        **filter_options(user),
        "marketplaces": Marketplace.choices,
        "statuses": Status.choices,
        "priorities": Priority.choices,
        "snooze_presets": presets,
        "sla_states": SLA_FILTER_STATES,
        "languages": LANGUAGES,
        **_labels(),
    }
    # Built only if the filter bar is rendered, not when a kept one is shown.
    selects = SimpleLazyObject(lambda: filter_selects(chrome, params or {}))
    return chrome | {"selects": selects}


@per_language
def _labels() -> dict[str, Any]:
    """The filter bar's fixed choices in the user's language."""
    return {
        "intent_groups": intent_groups(),
        # Named with their filter: the chosen one alone in a narrow select still says what
        # it is.
        "urgencies": [
            (k, gettext("Urgency: %(urgency)s") % {"urgency": v})
            for k, v in intents.URGENCIES.items()
        ],
        "sentiments": [
            (k, gettext("Sentiment: %(sentiment)s") % {"sentiment": v})
            for k, v in intents.SENTIMENTS.items()
        ],
    }


def _nav_key(
    view: InboxView,
    params: dict[str, str],
    views: list[tuple[InboxView, str]],
    sources: dict[str, list[Any]],
) -> str:
    """The nav's views and sources as they are shown: the current one and every count (a
    repr, so that no channel's name can make two different navs one key)."""
    shown = (
        view.key,
        params.get("marketplace", ""),
        params.get("channel", ""),
        tuple((v.key, n) for v, n in views),
        *(
            tuple((s.key, s.label, s.count) for s in sources.get(part, ()))
            for part in ("marketplaces", "channels")
        ),
    )
    return repr(shown)


# The buyers' languages the filter offers (any other code can still be typed in the URL).
LANGUAGES = [
    ("fr", "Français"),
    ("en", "English"),
    ("de", "Deutsch"),
    ("es", "Español"),
    ("it", "Italiano"),
]


@login_required
@require_POST
def save_view(request: HttpRequest) -> HttpResponse:
    saved = actions.save_view(
        _user(request), name=request.POST.get("name", ""), query=request.POST.get("query", "")
    )
    return redirect(f"{reverse('inbox:inbox')}?{saved.query}")


@login_required
@require_POST
def delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    actions.delete_view(_user(request), view_id=pk)
    return redirect(reverse("inbox:inbox"))


def _conversation(request: HttpRequest, pk: int, *, write: bool = False) -> Conversation:
    """`inbox.permissions.conversation_for` with the page's related rows, by a prepared query
    (the ORM built this join in a fifth of the page's time)."""
    user = _user(request)
    return visible_or_404(user, page_reads.conversation(user, pk), pk, write=write)


@login_required
def conversation(request: HttpRequest, pk: int) -> HttpResponse:
    conv = _conversation(request, pk)
    last_event = page_reads.last_event_id()  # before the timeline: what comes after is streamed
    # The newest part of a long history; "show earlier" asks for all of it.
    limit = None if request.GET.get("all") == "1" else TIMELINE_LIMIT
    messages, timeline, earlier, attachments = _timeline(conv, limit)
    complete = limit is None or len(messages) < limit  # every message of the conversation
    from comptoir.orders.actions import can_message_buyer

    user = _user(request)
    present, mine = presence_on(conv.pk, user)
    # The page's own presence is written only when it says something new (most views do not).
    if can_write(user) and not actions.presence_is_current(mine, PresenceState.VIEWING):
        actions.mark_presence(conv, user=user, state=PresenceState.VIEWING)
    draft = page_reads.draft(conv.pk, user)
    presets = snooze_presets()
    assignable = assignee_options(conv) if can_write(user) else []
    teams = _team_choices(user) if can_write(user) else []
    # What the action bar's kept parts (`{% fragment %}`) are keyed by, besides the fields.
    bar = {
        "mine": conv.assignee_id == user.pk,
        "people": tuple(assignable),
        "teams": tuple(teams),
        "presets": tuple(presets),
        "answer": bool(conv.needs_reply or conv.respond_by),
    }
    csrf = csrf_context(request)["csrf_token"]
    return render(
        request,
        "inbox/conversation.html",
        {
            "conv": conv,
            # The messages and events, built in Python (`inbox.timeline`), with the page's
            # own CSRF token (the one every form of the page carries).
            "timeline_html": render_timeline(
                timeline, attachments, conv, can_write=can_write(user), csrf=csrf
            ),
            "csrf_token": csrf,
            "earlier": earlier,
            "tags": page_reads.tag_names(conv.pk),
            "can_write": can_write(user),
            "can_message_buyer": can_write(user) and can_message_buyer(conv),
            "statuses": Status.choices,
            "priorities": Priority.choices,
            "buyer": buyer_panel(conv, user),
            "reading": reading_panel(conv, latest_inbound_among(messages, complete)),
            "present": present,
            "draft": draft,
            "wa_picker": template_picker.picker(conv) if can_write(user) else None,
            "snooze_default": presets[0][1],
            "snooze_presets": presets,
            "assignable": assignable,
            "teams": teams,
            "bar": bar,
            "last_event": last_event,
            **_deadline(conv),
        },
    )


def _timeline(
    conv: Conversation, limit: int | None
) -> tuple[list[Message], list[tuple[str, Any, Any]], bool, dict[int, list[Attachment]]]:
    """(the newest `limit` messages, them and the events in order, whether earlier ones exist,
    the messages' attachments by message)."""
    messages, attachments = page_reads.messages(conv, limit)
    events = page_reads.events(conv, limit, _SHOWN_AS_MESSAGES)
    timeline = sorted(
        [("message", m.created_at, m) for m in messages]
        + [("event", e.created_at, e) for e in events],
        key=lambda item: (item[1], item[0] == "message"),
    )
    earlier = limit is not None and (len(messages) == limit or len(events) == limit)
    if earlier:  # both lists were cut: keep the span that both cover
        start = max(
            messages[-1].created_at if len(messages) == limit else timeline[0][1],
            events[-1].created_at if len(events) == limit else timeline[0][1],
        )
        timeline = [item for item in timeline if item[1] >= start]
    describe_events(events)
    return messages, timeline, earlier, attachments


def _deadline(conv: Conversation) -> dict[str, Any]:
    """The header's respond-by (relative, absolute in the tooltip), the policy that set it and
    the snooze-until."""
    now = timezone.now()
    late = bool(conv.respond_by and conv.respond_by < now)
    # The state the header shows: breached once the deadline has passed, even before the sweep
    # records it (never "On time" beside "overdue by 7 d").
    state = SLAState.BREACHED if late else SLAState(conv.sla_state)
    return {
        "deadline": deadline_html(conv.respond_by, now, conv.sla_state) if conv.respond_by else "",
        "sla_state": state.value,
        "sla_state_label": state.label,
        # Which rule set the deadline: the marketplace's published one or the channel's own.
        "sla_policy": policy_for(conv.channel_id).source if conv.respond_by else "",
        # Past the deadline: late, whatever the sweep has recorded yet.
        "late": late,
        "snoozed_until": absolute_time(conv.snoozed_until)
        if conv.status == Status.SNOOZED and conv.snoozed_until
        else "",
    }


def _team_choices(user: User) -> list[Any]:
    """The teams this user may give a conversation to (agents: their own; the action decides)."""
    options = team_options()
    if sees_everything(user):
        return options
    mine = page_reads.team_ids(user)
    return [option for option in options if option.pk in mine]


TIMELINE_LIMIT = 200

# Events whose message already stands in the timeline.
_SHOWN_AS_MESSAGES = ("message_received", "note_added", "replied")


def _writable(request: HttpRequest, pk: int) -> Conversation:
    return _conversation(request, pk, write=True)


# What one composer submission may carry; each channel's own limits are pre-send checks.
MAX_UPLOAD_FILES = 10
MAX_UPLOAD_BYTES = 25_000_000


def _uploads(request: HttpRequest) -> list[actions.NewAttachment]:
    files = request.FILES.getlist("attachments")
    if len(files) > MAX_UPLOAD_FILES:
        raise ValidationError(f"at most {MAX_UPLOAD_FILES} files per message")
    out = []
    for f in files:
        if f.size is not None and f.size > MAX_UPLOAD_BYTES:
            raise ValidationError(f"{f.name} is over {MAX_UPLOAD_BYTES // 1_000_000} MB")
        out.append(
            actions.NewAttachment(
                filename=f.name or "attachment",
                content_type=f.content_type or "application/octet-stream",
                data=f.read(),
            )
        )
    return out


@login_required
@require_POST
def reply(request: HttpRequest, pk: int) -> HttpResponse:
    """The composer: a reply (then nothing, resolve or snooze) or an internal note, with files."""
    conv = _writable(request, pk)
    user = _user(request)
    text = request.POST.get("text", "").strip()
    then = request.POST.get("then", "")
    raw_template = request.POST.get("template_id", "")
    template_id = int(raw_template) if raw_template.isdigit() and len(raw_template) < 10 else None
    try:
        text = template_picker.reply_text(conv, request.POST) or text
    except ValidationError as exc:
        return _plain("; ".join(exc.messages))
    if not text:
        return redirect(reverse("inbox:conversation", args=[conv.pk]))
    try:
        files = _uploads(request)
        if request.POST.get("mode") == "note":
            actions.add_note(conv, actor=user, text=text, attachments=files)
        elif then == "snooze":
            until = snooze_until(request.POST.get("snooze_until", ""))
            actions.reply_and_snooze(
                conv, actor=user, text=text, until=until, attachments=files, template_id=template_id
            )
        else:
            actions.reply(
                conv,
                actor=user,
                text=text,
                attachments=files,
                then_status=Status.RESOLVED if then == "resolve" else None,
                template_id=template_id,
            )
    except actions.ReplyRefused as exc:
        # The composer checks before sending; this is for a page without script.
        return _plain("\n".join(r.message for r in exc.results))
    except ValidationError as exc:
        return _plain("; ".join(exc.messages))
    return redirect(reverse("inbox:conversation", args=[conv.pk]))


def _plain(text: str) -> HttpResponse:
    return HttpResponse(text, status=400, content_type="text/plain; charset=utf-8")


@login_required
@require_POST
def refresh_templates(request: HttpRequest, pk: int) -> HttpResponse:
    """The picker's "refresh": the WhatsApp channel's templates read again, by the worker."""
    conv = _writable(request, pk)
    if conv.channel.kind == "whatsapp":
        tasks.refresh_templates.enqueue(conv.channel_id)
    return redirect(reverse("inbox:conversation", args=[conv.pk]) + "#wa-picker")


@login_required
@require_POST
def presence(request: HttpRequest, pk: int) -> HttpResponse:
    """The page's heartbeat: the agent is here (viewing), writing (replying), or gone (left)."""
    conv = _writable(request, pk)
    state = request.POST.get("state", "")
    if state == "left":
        actions.leave_conversation(conv, user=_user(request))
    elif state in PresenceState.values:
        actions.mark_presence(conv, user=_user(request), state=state)
    else:
        return HttpResponse("state must be viewing, replying or left", status=400)
    return HttpResponse(status=204)


@login_required
@require_POST
def draft(request: HttpRequest, pk: int) -> HttpResponse:
    """Autosave of the composer; writing also tells the others this agent is replying."""
    conv = _writable(request, pk)
    user = _user(request)
    text = request.POST.get("text", "")
    after = request.GET.get("after", "")  # the page's newest event: see `save_draft`
    known = int(after) if after.isdigit() and len(after) < 19 else None  # a 64-bit id at most
    mode = request.POST.get("mode", "reply")
    kept = actions.save_draft(conv, user=user, text=text, mode=mode, after=known)
    state = PresenceState.REPLYING if kept and text.strip() else PresenceState.VIEWING
    actions.mark_presence(conv, user=user, state=state)
    return HttpResponse(status=204)


@login_required
@require_POST
def order_message(request: HttpRequest, pk: int) -> HttpResponse:
    """Message the buyer about this conversation's order: a new conversation, a new thread."""
    from comptoir.orders.actions import message_buyer_about_order

    conv = _writable(request, pk)
    text = request.POST.get("text", "").strip()
    if not text:
        return redirect(reverse("inbox:conversation", args=[conv.pk]))
    try:
        started = message_buyer_about_order(
            conv, actor=_user(request), text=text, subject=request.POST.get("subject", "")
        )
    except actions.ReplyRefused as exc:
        return _plain("\n".join(r.message for r in exc.results))
    except ValidationError as exc:
        return _plain("; ".join(exc.messages))
    return redirect(reverse("inbox:conversation", args=[started.pk]))
