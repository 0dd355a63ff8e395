"""The "at risk" page: orders the detector flagged, the figures that say whether writing first
helps, and the proactive message to one order or many. Thin: `care.actions` does the work."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from comptoir.accounts.models import User
from comptoir.care import actions, metrics
from comptoir.care.models import Reason
from comptoir.care.queries import PAGE, clean_params, risk_list, usable_templates, visible_risks
from comptoir.inbox.models import Marketplace

# The figures look back this far.
FIGURES_DAYS = 90


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


@login_required
def at_risk(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    params = clean_params(request.GET.dict(), set(Marketplace.values))
    risks = list(risk_list(user, params)[: PAGE + 1])
    more = len(risks) > PAGE
    risks = risks[:PAGE]
    types: dict[str, None] = {}
    seen: set[int] = set()
    for risk in risks:
        if risk.channel_id not in seen:  # one look per channel, not per row
            seen.add(risk.channel_id)
            types.update(dict.fromkeys(actions.message_types(actions.sending_channel(risk.order))))
    now = timezone.now()
    figures = metrics.figures(visible_risks(user), now - timedelta(days=FIGURES_DAYS), now)
    return render(
        request,
        "care/list.html",
        {
            "risks": risks,
            "more": more,
            "params": params,
            "now": now,
            "reasons": Reason.choices,
            "marketplaces": Marketplace.choices,
            "can_send": user.can_write,
            "templates": usable_templates(user) if user.can_write else [],
            "message_types": list(types),
            "default_type": actions.DEFAULT_AMAZON_TYPE,
            "figures": figures,
            "figures_days": FIGURES_DAYS,
            "page_size": PAGE,
        },
    )


@login_required
@require_POST
def send(request: HttpRequest) -> HttpResponse:
    """The proactive message to the orders ticked (or the one whose row button was pressed)."""
    user = _user(request)
    one = request.POST.get("one", "")
    ids = [one] if one else request.POST.getlist("risk")
    risks = visible_risks(user).filter(pk__in=[i for i in ids if i.isdigit()]).order_by("pk")
    template = None
    if request.POST.get("template", "").isdigit():
        template = next(
            (t for t in usable_templates(user) if t.pk == int(request.POST["template"])), None
        )
    what = actions.Proactive(
        template=template,
        text=request.POST.get("text", ""),
        message_type=request.POST.get("message_type", ""),
    )
    outcome = actions.contact_many(risks, actor=user, what=what)
    if outcome.sent:
        count = len(outcome.sent)
        messages.success(
            request,
            ngettext(
                "%(count)d proactive message queued.", "%(count)d proactive messages queued.", count
            )
            % {"count": count},
        )
    for _risk, why in outcome.failed:
        messages.error(request, why)
    if not outcome.sent and not outcome.failed:
        messages.error(request, _("Tick the orders to write to."))
    # Back to the same filters (a query string only: never another site).
    query = request.POST.get("query", "").lstrip("?")
    return redirect(reverse("care:list") + (f"?{query}" if query and "/" not in query else ""))
