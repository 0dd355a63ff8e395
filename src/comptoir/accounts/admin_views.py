"""The Security settings page for owners and admins: whether owners and admins must use
two-factor sign-in, who has it, and the two remedies (reset someone's second factor, unlock an
account). Every change is an action."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from comptoir.accounts import login_guard, two_factor
from comptoir.accounts.models import User
from comptoir.accounts.permissions import find_visible, require

_WHY = "security settings are for owners and admins"


def _admin(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return require(user, two_factor.can_manage_security, _WHY)


@login_required
def security_settings(request: HttpRequest) -> HttpResponse:
    actor = _admin(request)
    if request.method == "POST":
        required = request.POST.get("require_two_factor") == "on"
        two_factor.set_two_factor_requirement(actor=actor, required=required)
        return redirect("settings:security")
    users = list(User.objects.filter(is_active=True).order_by("username"))
    rows = two_factor.overview(users)
    locked = {u.pk: login_guard.account_locked_for(u.username) for u in users}
    context = {
        "rows": [(row, locked[row.user.pk]) for row in rows],
        "required": two_factor.two_factor_required_setting(),
    }
    return render(request, "accounts/security_settings.html", context)


@require_POST
@login_required
def reset(request: HttpRequest, pk: int) -> HttpResponse:
    actor = _admin(request)
    two_factor.reset_two_factor(find_visible(User.objects.all(), pk), actor=actor)
    return redirect("settings:security")


@require_POST
@login_required
def unlock(request: HttpRequest, pk: int) -> HttpResponse:
    actor = _admin(request)
    login_guard.unlock_account(find_visible(User.objects.all(), pk), actor=actor)
    return redirect("settings:security")
