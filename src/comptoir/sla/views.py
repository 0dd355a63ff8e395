"""The SLA settings page (owners and admins): policies per channel, calendars and closures, and
each channel's late-response rates as its marketplace counts them. Changes go through
`sla.actions`; the page is plain forms (no script needed)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from comptoir.accounts.models import User
from comptoir.accounts.permissions import can_manage_channels, find_visible, require
from comptoir.inbox.models import Shop
from comptoir.inbox.permissions import visible_channels
from comptoir.sla import actions
from comptoir.sla.forms import CalendarForm, ClosureForm, PolicyForm
from comptoir.sla.metrics import all_rates
from comptoir.sla.models import BusinessCalendar, Closure, SLAPolicy
from comptoir.sla.policies import policies_for


def _admin(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return require(user, can_manage_channels, "SLA settings are for owners and admins")


def _hours(minutes: int | float) -> Decimal:
    return (Decimal(minutes) / 60).quantize(Decimal("0.01")).normalize()


@login_required
def settings_page(request: HttpRequest, forms: dict[str, Any] | None = None) -> HttpResponse:
    user = _admin(request)
    forms = forms or {}
    channels = list(visible_channels(user).select_related("shop").order_by("shop__name", "name"))
    effective = policies_for({c.pk for c in channels})
    own = {p.channel_id: p for p in SLAPolicy.objects.filter(channel__in=channels)}
    rows = []
    for channel in channels:
        policy = effective[channel.pk]
        form = forms.get(f"policy{channel.pk}") or PolicyForm(
            prefix=f"policy{channel.pk}",
            shop_id=channel.shop_id,
            initial={
                "first_response_hours": _hours(policy.first_response.total_seconds() / 60),
                "next_response_hours": _hours(policy.next_response.total_seconds() / 60),
                "mode": "business" if policy.business_hours else "calendar",
                "calendar": getattr(own.get(channel.pk), "calendar_id", None),
                "at_risk_percent": policy.at_risk_percent,
                "auto_reply_counts": policy.auto_reply_counts,
            },
        )
        rows.append({"channel": channel, "policy": policy, "form": form})
    calendars = []
    for calendar in (
        BusinessCalendar.objects.select_related("shop").prefetch_related("closures").order_by("id")
    ):
        calendars.append(
            {
                "calendar": calendar,
                "form": forms.get(f"cal{calendar.pk}") or CalendarForm.for_calendar(calendar),
                "closure_form": forms.get(f"closure{calendar.pk}")
                or ClosureForm(prefix=f"closure{calendar.pk}"),
            }
        )
    shops = list(Shop.objects.order_by("name"))
    new_calendar = forms.get("new_calendar") or CalendarForm(
        prefix="new",
        initial={
            "timezone": shops[0].timezone if shops else "Europe/Paris",
            "holiday_country": shops[0].country if shops else "FR",
            **{f"hours_{d}": "09:00-18:00" for d in ("mon", "tue", "wed", "thu", "fri")},
        },
    )
    context = {
        "rows": rows,
        "calendars": calendars,
        "new_calendar": new_calendar,
        "shops": shops,
        "rates": all_rates(channels),
    }
    status = 400 if forms else 200
    return render(request, "sla/settings.html", context, status=status)


@login_required
@require_POST
def save_policy(request: HttpRequest, pk: int) -> HttpResponse:
    channel = find_visible(visible_channels(request.user), pk)  # type: ignore[arg-type]
    user = _admin(request)
    if "reset" in request.POST:
        actions.reset_policy(channel, actor=user)
        messages.success(request, _("%(name)s follows its marketplace's rule.") % {"name": channel})
        return redirect("settings:sla")
    form = PolicyForm(request.POST, prefix=f"policy{pk}", shop_id=channel.shop_id)
    if form.is_valid():
        data = form.cleaned_data
        try:
            actions.save_policy(
                channel,
                actor=user,
                first_response_minutes=int(data["first_response_hours"] * 60),
                next_response_minutes=int(data["next_response_hours"] * 60),
                mode=data["mode"],
                calendar=data["calendar"],
                at_risk_percent=data["at_risk_percent"],
                auto_reply_counts=data["auto_reply_counts"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("Policy of %(name)s saved.") % {"name": channel})
            return redirect("settings:sla")
    return settings_page(request, forms={f"policy{pk}": form})


@login_required
@require_POST
def save_calendar(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    user = _admin(request)
    calendar = get_object_or_404(BusinessCalendar, pk=pk) if pk else None
    prefix = f"cal{pk}" if pk else "new"
    form = CalendarForm(request.POST, prefix=prefix)
    shop_id = request.POST.get("shop", "")
    shop = calendar.shop if calendar else None
    if calendar is None and shop_id.isdigit():
        shop = Shop.objects.filter(pk=int(shop_id)).first()
    if shop is None:
        form.add_error(None, _("Choose the shop the calendar is for."))
    if shop is not None and form.is_valid():
        data = form.cleaned_data
        try:
            actions.save_calendar(
                shop,
                actor=user,
                calendar=calendar,
                name=data["name"],
                timezone=data["timezone"],
                hours=data["hours"],
                holiday_country=data["holiday_country"],
                holiday_subdivision=data["holiday_subdivision"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("Calendar %(name)s saved.") % {"name": data["name"]})
            return redirect("settings:sla")
    return settings_page(request, forms={prefix if pk else "new_calendar": form})


@login_required
@require_POST
def add_closure(request: HttpRequest, pk: int) -> HttpResponse:
    user = _admin(request)
    calendar = get_object_or_404(BusinessCalendar, pk=pk)
    form = ClosureForm(request.POST, prefix=f"closure{pk}")
    # The dates typed are wall-clock times where the calendar is.
    with timezone.override(ZoneInfo(calendar.timezone)):
        valid = form.is_valid()
    if valid:
        data = form.cleaned_data
        try:
            actions.add_closure(
                calendar,
                actor=user,
                starts_at=data["starts_at"],
                ends_at=data["ends_at"],
                reason=data["reason"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            return redirect("settings:sla")
    return settings_page(request, forms={f"closure{pk}": form})


@login_required
@require_POST
def delete_closure(request: HttpRequest, pk: int) -> HttpResponse:
    user = _admin(request)
    actions.delete_closure(get_object_or_404(Closure, pk=pk), actor=user)
    return redirect("settings:sla")
