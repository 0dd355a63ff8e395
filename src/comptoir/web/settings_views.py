"""Settings pages for owners and admins: shops, channels (health, a connection test that runs as
a task, and their configuration), users and teams. Every change goes through an action."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.functional import Promise as StrOrPromise
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from comptoir.accounts import actions as account_actions
from comptoir.accounts.models import Role, Team, User
from comptoir.accounts.permissions import can_manage_channels, find_visible, require
from comptoir.automation.rules import MANAGE_ROLES
from comptoir.connectors.chat.views import snippet as chat_snippet
from comptoir.connectors.forms import form_values, settings_fields, settings_from_form
from comptoir.connectors.registry import CONNECTORS, connector_class
from comptoir.inbox import actions as inbox_actions
from comptoir.inbox.ingest import Outcome
from comptoir.inbox.models import (
    Channel,
    ChannelKind,
    InboundRecord,
    Marketplace,
    Shop,
)
from comptoir.inbox.permissions import failed_inbound, visible_channels
from comptoir.inbox.queries import InvalidCursor, KeysetOrder, page
from comptoir.inbox.tasks import channel_test_outcome, test_channel
from comptoir.inbox.webhook_ports import SILENCE, webhook_report
from comptoir.lib.meta_window import META_KINDS
from comptoir.web.oauth_views import oauth_status
from comptoir.web.views import TIMEZONES


@dataclass(frozen=True)
class _Page:
    url_name: str
    title: StrOrPromise
    description: StrOrPromise
    allowed: Callable[[User], bool]


def _manages_rules(user: User) -> bool:
    return user.is_active and (user.is_superuser or user.role in MANAGE_ROLES)


# Every settings page, in the order the index shows them, with who may open it (the same tests
# as the pages' own views).
SETTINGS_PAGES = (
    _Page(
        "settings:channels",
        _("Channels"),
        _("Mailboxes and marketplace accounts: their settings, health and a connection test."),
        can_manage_channels,
    ),
    _Page(
        "settings:inbound",
        _("Failed inbound"),
        _("Messages that arrived but could not be stored: the reason, the raw payload, a retry."),
        can_manage_channels,
    ),
    _Page(
        "settings:trash",
        _("Trash"),
        _("Deleted conversations, restored or purged with their files after the retention."),
        can_manage_channels,
    ),
    _Page(
        "settings:audit",
        _("Audit log"),
        _("Who changed what, when and from where: settings, users, deletions, exports."),
        can_manage_channels,
    ),
    _Page(
        "settings:privacy",
        _("Data protection"),
        _("A buyer's access and erasure requests, and how long conversations are kept."),
        can_manage_channels,
    ),
    _Page(
        "settings:shops",
        _("Shops"),
        _("Your shops: language, country, timezone."),
        can_manage_channels,
    ),
    _Page(
        "settings:users",
        _("Users"),
        _("Who may log in, and with which role."),
        can_manage_channels,
    ),
    _Page(
        "settings:security",
        _("Security"),
        _("Two-factor sign-in: whether owners and admins must use it, and who has it."),
        can_manage_channels,
    ),
    _Page(
        "settings:teams",
        _("Teams"),
        _("Teams and the channels they answer."),
        can_manage_channels,
    ),
    _Page(
        "settings:sla",
        _("Response times"),
        _("Respond-by targets per channel, business hours and closures."),
        can_manage_channels,
    ),
    _Page(
        "settings:triage",
        _("Triage"),
        _("How incoming messages are read: the model in use, its figures, training."),
        can_manage_channels,
    ),
    _Page(
        "settings:templates",
        _("Templates"),
        _("Saved answers, with variables."),
        _manages_rules,
    ),
    _Page(
        "settings:checks",
        _("Pre-send checks"),
        _("What is checked before a reply leaves, and whether it warns or blocks."),
        _manages_rules,
    ),
    _Page(
        "settings:rules",
        _("Rules"),
        _("Automatic actions when a message arrives or waits."),
        _manages_rules,
    ),
    _Page(
        "settings:surveys",
        _("Surveys"),
        _("A satisfaction question after resolution: when, how, and where the rules allow it."),
        can_manage_channels,
    ),
    _Page(
        "settings:notifications",
        _("Notifications"),
        _("What Comptoir tells you, by mail or webhook."),
        lambda user: user.is_active,
    ),
)


@login_required
def index(request: HttpRequest) -> HttpResponse:
    """Links to each settings page this user's role may open."""
    user = request.user
    assert isinstance(user, User)
    pages = [page for page in SETTINGS_PAGES if page.allowed(user)]
    return render(request, "web/settings_index.html", {"pages": pages})


def _admin(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return require(user, can_manage_channels, "channel settings are for owners and admins")


def _channel(request: HttpRequest, pk: int) -> tuple[User, Channel]:
    """A channel's settings: 404 for a channel the user cannot see, then 403 for a non-admin."""
    user = request.user
    assert isinstance(user, User)
    channel = find_visible(visible_channels(user), pk)
    return _admin(request), channel


@login_required
def channels(request: HttpRequest) -> HttpResponse:
    user = _admin(request)
    rows = list(
        visible_channels(user).select_related("shop", "team").order_by("shop__name", "name")
    )
    # Meta's channels hear by webhook: what it last heard is part of their health.
    webhooks = {c.pk: webhook_report(c) for c in rows if c.kind in META_KINDS}
    context = {
        "channels": [(c, webhooks.get(c.pk)) for c in rows],
        "silence_hours": SILENCE // timedelta(hours=1),
    }
    return render(request, "web/channels.html", context)


@login_required
@require_POST
def start_test(request: HttpRequest, pk: int) -> HttpResponse:
    _, channel = _channel(request, pk)
    result = test_channel.enqueue(channel.pk)
    return render(request, "web/_channel_test.html", {"channel": channel, "task_id": result.id})


@login_required
def test_result(request: HttpRequest, pk: int, task_id: str) -> HttpResponse:
    _, channel = _channel(request, pk)
    try:
        state = channel_test_outcome(channel.pk, task_id)
    except LookupError as exc:
        raise Http404(str(exc)) from None
    outcome = state if "ok" in state else None
    context = {"channel": channel, "task_id": task_id, "outcome": outcome}
    return render(request, "web/_channel_test.html", context)


# -- failed inbound messages ----------------------------------------------------------------------

INBOUND_PAGE = 50
_INBOUND_ORDER = KeysetOrder("inbound", "received_at", descending=True)


@login_required
def inbound(request: HttpRequest) -> HttpResponse:
    """What arrived but could not be stored (the CLI's `comptoir inbound list --failed`): the
    reason, the raw payload and a retry. Newest first, a page at a time."""
    user = _admin(request)
    failed = failed_inbound(user)
    # The raw payload (up to a whole mail) is read only for its download.
    rows = failed.select_related("channel").defer("raw")
    try:
        records, next_cursor = page(rows, _INBOUND_ORDER, request.GET.get("cursor"), INBOUND_PAGE)
    except InvalidCursor as exc:
        return HttpResponse(str(exc), status=400, content_type="text/plain; charset=utf-8")
    context = {
        "records": records,
        "next_cursor": next_cursor,
        "first_page": not request.GET.get("cursor"),
        "total": failed.count(),
    }
    return render(request, "web/inbound.html", context)


@login_required
def inbound_raw(request: HttpRequest, pk: int) -> HttpResponse:
    """The payload as it was received, as a download (never shown: it is the sender's)."""
    user = _admin(request)
    record = get_object_or_404(
        InboundRecord.objects.filter(Q(channel__in=visible_channels(user)) | Q(channel=None)),
        pk=pk,
    )
    response = HttpResponse(bytes(record.raw), content_type="application/octet-stream")
    response["Content-Disposition"] = f'attachment; filename="inbound-{record.pk}.json"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


@login_required
@require_POST
def inbound_retry(request: HttpRequest) -> HttpResponse:
    """Process failed records again, one (`record`) or all, as `comptoir inbound retry` does:
    one at once, all in a worker (there may be many, and big)."""
    user = _admin(request)
    back = redirect(reverse("settings:inbound"))
    if request.POST.get("all"):
        inbox_actions.retry_inbound(None, actor=user)
        messages.success(
            request,
            _("Every failed message is being processed again; those that fail again stay here."),
        )
        return back
    raw = request.POST.get("record", "")
    result = inbox_actions.retry_inbound(_int(raw) or -1, actor=user)
    if result is None:  # another admin's retry took it meanwhile
        messages.info(request, _("This message is no longer failed."))
    elif result.outcome == Outcome.FAILED:
        messages.error(request, _("It failed again: %(error)s") % {"error": result.error})
    else:
        messages.success(request, _("The message is stored in its conversation."))
    return back


def _error(exc: ValidationError) -> str:
    return "; ".join(exc.messages)


# -- shops --------------------------------------------------------------------------------------


@login_required
def shops(request: HttpRequest) -> HttpResponse:
    _admin(request)
    rows = Shop.objects.order_by("name")
    return render(request, "web/shops.html", {"shops": rows})


@login_required
def shop_form(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    user = _admin(request)
    shop = get_object_or_404(Shop, pk=pk) if pk else None
    error = None
    if request.method == "POST":
        try:
            inbox_actions.save_shop(
                shop,
                actor=user,
                name=request.POST.get("name", ""),
                language=request.POST.get("language", ""),
                country=request.POST.get("country", ""),
                timezone_name=request.POST.get("timezone", ""),
            )
        except ValidationError as exc:
            error = _error(exc)
        else:
            return redirect("settings:shops")
    selected_tz = request.POST.get("timezone") or (shop.timezone if shop else "Europe/Paris")
    context = {
        "shop": shop,
        "error": error,
        "timezones": TIMEZONES,
        "selected_tz": selected_tz,
        "form": request.POST,
    }
    return render(request, "web/shop_form.html", context, status=400 if error else 200)


# -- channels: add and configure ----------------------------------------------------------------


@login_required
def channel_form(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    """Add a channel (its kind chosen first) or change one; the settings fields come from the
    connector's own settings model, secrets are never shown back."""
    user, channel = _channel(request, pk) if pk else (_admin(request), None)
    kind = channel.kind if channel else request.GET.get("kind", "") or request.POST.get("kind", "")
    if kind not in CONNECTORS:
        kinds = [(k, label) for k, label in ChannelKind.choices if k in CONNECTORS]
        return render(request, "web/channel_kind.html", {"kinds": kinds})
    model = connector_class(kind).settings_model
    stored = channel.get_settings() if channel else {}
    error = None
    if request.method == "POST":
        try:
            data = settings_from_form(model, request.POST, stored) if model else stored
            saved = inbox_actions.configure_channel(
                channel,
                actor=user,
                shop_id=_int(request.POST.get("shop")) or None,
                kind=kind,
                marketplace=request.POST.get("marketplace", ""),
                name=request.POST.get("name", ""),
                team_id=_int(request.POST.get("team")) or None,
                is_active=request.POST.get("is_active") == "on",
                settings=data,
            )
        except ValidationError as exc:
            error = _error(exc)
        else:
            status = oauth_status(saved, data)
            if status and not status["connected"]:  # next: the provider's consent
                return redirect(f"{reverse('settings:channel_edit', args=[saved.pk])}#connect")
            return redirect(f"{reverse('settings:channels')}#channel-{saved.pk}")
    fields = settings_fields(model) if model else []
    values = form_values(model, stored) if model else {}
    if request.method == "POST":  # what was typed stays (never a secret)
        values.update({f.name: request.POST.get(f.name, "") for f in fields if not f.secret})
    context = {
        "channel": channel,
        "kind": kind,
        "kind_label": dict(ChannelKind.choices).get(kind, kind),
        "fields": [(f, values.get(f.name, ""), f.name in stored) for f in fields],
        "shops": Shop.objects.order_by("name"),
        "teams": Team.objects.order_by("name"),
        "marketplaces": Marketplace.choices,
        "error": error,
        "oauth": oauth_status(channel, stored),
        # A live chat's one script tag, for the shop's site (once its key is saved).
        "snippet": chat_snippet(request.build_absolute_uri("/"), stored.get("shop_key", ""))
        if kind == "chat" and channel
        else "",
        "webhook": kind in META_KINDS,
        "webhook_url": request.build_absolute_uri(reverse("meta_webhook", args=[channel.pk]))
        if channel and kind in META_KINDS
        else "",
    }
    return render(request, "web/channel_form.html", context, status=400 if error else 200)


def _int(raw: object) -> int:
    text = str(raw or "")
    return int(text) if text.isdigit() and len(text) < 19 else 0


# -- users and teams ----------------------------------------------------------------------------


def _user_admin(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    why = "users and teams are managed by owners and admins"
    return require(user, account_actions.can_manage_users, why)


@login_required
def users(request: HttpRequest) -> HttpResponse:
    _user_admin(request)
    rows = User.objects.order_by("-is_active", "username").prefetch_related("teams")
    return render(request, "web/users.html", {"users": rows})


@login_required
def user_form(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    actor = _user_admin(request)
    target = get_object_or_404(User, pk=pk) if pk else None
    error = None
    if request.method == "POST":
        teams = [_int(t) for t in request.POST.getlist("teams")]
        try:
            if target is None:
                account_actions.create_user(
                    actor=actor,
                    username=request.POST.get("username", ""),
                    email=request.POST.get("email", ""),
                    role=request.POST.get("role", ""),
                    password=request.POST.get("password", ""),
                    first_name=request.POST.get("first_name", ""),
                    last_name=request.POST.get("last_name", ""),
                    teams=teams,
                )
            else:
                account_actions.update_user(
                    target,
                    actor=actor,
                    role=request.POST.get("role", target.role),
                    is_active=request.POST.get("is_active") == "on",
                    teams=teams,
                )
        except ValidationError as exc:
            error = _error(exc)
        else:
            return redirect("settings:users")
    context = {
        "target": target,
        "roles": Role.choices,
        "teams": Team.objects.order_by("name"),
        "member_of": set(target.teams.values_list("pk", flat=True)) if target else set(),
        "error": error,
        "form": request.POST,
    }
    return render(request, "web/user_form.html", context, status=400 if error else 200)


@login_required
def teams(request: HttpRequest) -> HttpResponse:
    _user_admin(request)
    rows = Team.objects.order_by("name").prefetch_related("members")
    owned: dict[int | None, list[str]] = {}
    for channel in Channel.objects.filter(team__isnull=False).order_by("name"):
        owned.setdefault(channel.team_id, []).append(channel.name)
    return render(request, "web/teams.html", {"teams": [(t, owned.get(t.pk, [])) for t in rows]})


@login_required
def team_form(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    actor = _user_admin(request)
    team = get_object_or_404(Team, pk=pk) if pk else None
    error = None
    if request.method == "POST":
        try:
            account_actions.save_team(
                team,
                actor=actor,
                name=request.POST.get("name", ""),
                members=[_int(m) for m in request.POST.getlist("members")],
            )
        except ValidationError as exc:
            error = _error(exc)
        else:
            return redirect("settings:teams")
    context = {
        "team": team,
        "users": User.objects.filter(is_active=True).order_by("username"),
        "members": set(team.members.values_list("pk", flat=True)) if team else set(),
        "error": error,
    }
    return render(request, "web/team_form.html", context, status=400 if error else 200)
