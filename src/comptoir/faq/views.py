"""The FAQ page: the latest mining run's clusters, one cluster's messages and replies, and the
button that drafts a template from it. Thin: the work is in mining and actions."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from comptoir.accounts.models import Role, User
from comptoir.accounts.permissions import find_visible, require
from comptoir.faq import actions
from comptoir.faq.models import Cluster, MiningRun
from comptoir.inbox.models import Marketplace, Message
from comptoir.lib import intents

VIEWERS = frozenset({Role.OWNER, Role.ADMIN, Role.SUPERVISOR, Role.ANALYST})
PER_PAGE = 50
# The minimum sizes offered; the default is settings.FAQ_MIN_CLUSTER_SIZE (2: a question asked
# once is rarely worth a template; `?min=1` shows the single messages too).
MIN_SIZES = (1, 2, 3, 5, 10)


def can_view(user: User) -> bool:
    return user.is_active and (user.is_superuser or user.role in VIEWERS)


def _viewer(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return require(user, can_view, "the FAQ page is for supervisors, admins and analysts")


def _latest() -> QuerySet[Cluster]:
    run = MiningRun.objects.filter(finished_at__isnull=False).first()
    return Cluster.objects.filter(run=run).select_related("template")


@login_required
def cluster_list(request: HttpRequest) -> HttpResponse:
    _viewer(request)
    rows = _latest()
    chosen = {k: request.GET.get(k, "") for k in ("language", "marketplace", "intent", "min")}
    raw_min = chosen["min"]
    default = settings.FAQ_MIN_CLUSTER_SIZE
    min_size = int(raw_min) if raw_min.isdigit() and len(raw_min) < 6 else default
    chosen["min"] = str(min_size)
    rows = rows.filter(size__gte=min_size)
    if chosen["language"]:
        rows = rows.filter(language=chosen["language"])
    if chosen["intent"]:
        rows = rows.filter(intent=chosen["intent"])
    clusters = list(rows)
    if chosen["marketplace"]:  # a JSON key: filtered here, the same on every database
        clusters = [c for c in clusters if chosen["marketplace"] in c.marketplaces]
    everything = list(_latest().values_list("language", "intent"))
    page = Paginator(clusters, PER_PAGE).get_page(request.GET.get("page"))
    # The filters, kept in the page links.
    kept = QueryDict(mutable=True)
    kept.update({k: v for k, v in chosen.items() if v})
    context = {
        "run": MiningRun.objects.filter(finished_at__isnull=False).first(),
        "clusters": [(c, intents.label(c.intent)) for c in page.object_list],
        "page": page,
        "kept": kept.urlencode(),
        "min_sizes": sorted({*MIN_SIZES, min_size}),
        "chosen": chosen,
        "languages": sorted({lang for lang, _ in everything}),
        "intents": [(i, intents.label(i)) for i in sorted({i for _, i in everything})],
        "marketplaces": Marketplace.choices,
    }
    return render(request, "faq/list.html", context)


@login_required
def cluster_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = _viewer(request)
    cluster = find_visible(Cluster.objects.select_related("template"), pk)
    asked = Message.objects.filter(pk__in=cluster.examples).select_related("conversation")
    by_id = {m.pk: m for m in asked}
    replies = actions.agent_replies(cluster.examples)
    rows = [(by_id[i], replies.get(i)) for i in cluster.examples if i in by_id]
    context = {
        "cluster": cluster,
        "intent_label": intents.label(cluster.intent),
        "rows": rows,
        "can_draft": actions.can_draft(user),
    }
    return render(request, "faq/detail.html", context)


@login_required
@require_POST
def draft(request: HttpRequest, pk: int) -> HttpResponse:
    user = _viewer(request)
    cluster = find_visible(Cluster.objects.all(), pk)
    try:
        template = actions.draft_template(cluster, actor=user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("faq:detail", pk=cluster.pk)
    messages.success(request, _("Draft template created (inactive): review it, then activate it."))
    return redirect("settings:template_edit", template_id=template.pk)
