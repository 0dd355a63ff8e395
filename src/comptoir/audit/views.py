"""The audit log's page (`/settings/audit/`): owners and admins read it, filter it by actor,
action and date, page through it and download it as CSV; nobody edits it."""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping
from datetime import date, datetime, time, timedelta

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.utils import timezone

from comptoir import audit
from comptoir.accounts.actions import can_manage_users
from comptoir.accounts.models import User
from comptoir.accounts.permissions import require
from comptoir.audit.models import AuditEvent
from comptoir.lib.dates import parse_day

PAGE = 50
CSV_FIELDS = (
    "created_at",
    "actor_label",
    "ip",
    "via",
    "action",
    "object_type",
    "object_id",
    "object_label",
    "changes",
)


def can_read_audit(user: User) -> bool:
    """The audit log is for owners and admins (those who manage users and channels)."""
    return can_manage_users(user)


def _day(value: str | None, name: str) -> date | None:
    if not value:
        return None
    try:
        return parse_day(value)
    except ValueError:
        raise ValidationError(f"{name}: {value!r} is not a date (YYYY-MM-DD)") from None


def filtered(query: Mapping[str, str]) -> QuerySet[AuditEvent]:
    """The entries matching `actor` (username), `action` (a name or its family: `user`),
    `from` and `to` (days, inclusive, in the current timezone), `before` (an id: the next
    page), newest first. `ValidationError` for a malformed filter."""
    rows = AuditEvent.objects.all()
    if actor := (query.get("actor") or "").strip():
        rows = rows.filter(actor_label__iexact=actor)
    if action := (query.get("action") or "").strip():
        rows = rows.filter(action__startswith=action if "." in action else f"{action}.")
    tz = timezone.get_current_timezone()
    if start := _day(query.get("from"), "from"):
        rows = rows.filter(created_at__gte=datetime.combine(start, time.min, tz))
    if end := _day(query.get("to"), "to"):
        rows = rows.filter(created_at__lt=datetime.combine(end + timedelta(days=1), time.min, tz))
    before = query.get("before") or ""
    if before:
        if not before.isdigit():
            raise ValidationError("before: an entry id")
        rows = rows.filter(pk__lt=int(before))
    return rows.order_by("-pk")


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return require(user, can_read_audit, "the audit log is for owners and admins")


@login_required
def audit_log(request: HttpRequest) -> HttpResponseBase:
    user = _user(request)
    try:
        rows = filtered(request.GET)
    except ValidationError as exc:
        return HttpResponse("; ".join(exc.messages), status=400, content_type="text/plain")
    if request.GET.get("format") == "csv":
        return _csv(user, rows, request.GET)
    entries = list(rows[: PAGE + 1])
    more = len(entries) > PAGE
    entries = entries[:PAGE]
    query = request.GET.copy()
    query.pop("before", None)
    context = {
        "entries": entries,
        "next_before": entries[-1].pk if more else None,
        "query": query.urlencode(),
        "filters": {k: request.GET.get(k, "") for k in ("actor", "action", "from", "to")},
        "families": sorted(
            {a.split(".")[0] for a in AuditEvent.objects.values_list("action", flat=True)[:5000]}
        ),
        "first_page": not request.GET.get("before"),
    }
    return render(request, "audit/log.html", context)


def _csv(user: User, rows: QuerySet[AuditEvent], query: Mapping[str, str]) -> StreamingHttpResponse:
    # Taking the log out is itself in the log.
    audit.record(
        "audit.exported",
        actor=user,
        object_type="audit",
        changes={k: query.get(k) for k in ("actor", "action", "from", "to") if query.get(k)},
    )

    class Echo:
        def write(self, value: str) -> str:
            return value

    def lines() -> Iterator[str]:
        writer = csv.writer(Echo())
        yield writer.writerow(CSV_FIELDS)
        for entry in rows.iterator(chunk_size=2000):
            yield writer.writerow([getattr(entry, f) for f in CSV_FIELDS])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="comptoir-audit-log.csv"'
    return response
