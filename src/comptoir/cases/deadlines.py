"""Warnings before a marketplace's deadline: an open case whose deadline comes within
`CASE_DEADLINE_WARNING_HOURS` (or has passed unwarned) notifies, once per deadline, the
conversation's assignee, else the supervisors of its team, else whom the notifications app
tells about an unassigned conversation (its team, then supervisors and admins).

Run by the periodic job `cases.deadline_warnings`. Two workers never warn twice: the cases are
claimed with `select_for_update(skip_locked=True)` and marked (`deadline_warned_for`, the
deadline warned about) in the same transaction as the notifications; a deadline moved later
is a new deadline and warns again when it comes near.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext

from comptoir.accounts.models import Role, User
from comptoir.cases.models import Case, Stage
from comptoir.inbox.display import deadline_text
from comptoir.notifications.actions import notify
from comptoir.notifications.kinds import Kind

BATCH = 500


def warning_hours() -> int:
    return int(settings.CASE_DEADLINE_WARNING_HOURS)


def due_cases(now: datetime) -> Q:
    """Open cases due within the warning window, not yet warned about this deadline."""
    horizon = now + timedelta(hours=warning_hours())
    return (
        Q(deadline__isnull=False, deadline__lte=horizon)
        & ~Q(stage=Stage.RESOLVED)
        & (Q(deadline_warned_for__isnull=True) | ~Q(deadline_warned_for=F("deadline")))
    )


def _supervisors(team_id: int | None) -> list[int]:
    if team_id is None:
        return []
    return list(
        User.objects.filter(teams=team_id, role=Role.SUPERVISOR, is_active=True).values_list(
            "pk", flat=True
        )
    )


def _text(case: Case, now: datetime) -> Callable[[], str]:
    """The warning, written by `notify` in each recipient's language."""
    deadline = case.deadline
    assert deadline is not None

    def write() -> str:
        return gettext("%(case)s, marketplace deadline: %(due)s") % {
            "case": case.label,
            "due": deadline_text(deadline, now),
        }

    return write


def warn(now: datetime | None = None) -> int:
    """Warn about every case that is due; returns how many cases were warned about."""
    now = now or timezone.now()
    warned = 0
    while True:
        with transaction.atomic():
            cases = list(
                Case.objects.filter(due_cases(now))
                .select_related("conversation", "channel")
                .select_for_update(skip_locked=True, of=("self",))
                .order_by("deadline", "pk")[:BATCH]
            )
            for case in cases:
                conv = case.conversation
                users: list[int] = []
                if conv.assignee_id is None:
                    users = _supervisors(conv.team_id or case.channel.team_id)
                notify(
                    Kind.CASE_DEADLINE,
                    conversations=[conv.pk],
                    users=users,
                    text=_text(case, now),
                    now=now,
                )
                Case.objects.filter(pk=case.pk).update(deadline_warned_for=F("deadline"))
            warned += len(cases)
        if len(cases) < BATCH:
            return warned
