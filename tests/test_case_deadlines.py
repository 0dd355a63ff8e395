"""Warnings before a case's marketplace deadline: once per deadline, to the assignee or the
team's supervisors, through the notifications app, from a periodic job."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from comptoir.accounts.models import Role, User
from comptoir.cases import actions
from comptoir.cases.deadlines import warn
from comptoir.cases.models import Case
from comptoir.inbox.ingest import ingest
from comptoir.inbox.models import Conversation
from comptoir.jobs.periodic import REGISTRY, autodiscover
from comptoir.notifications.models import Notification

pytestmark = pytest.mark.django_db


def open_case(make_inbound: Any, hours: float | None, thread: str) -> Case:
    conv = Conversation.objects.get(pk=ingest(make_inbound(thread_id=thread)).conversation_id)
    deadline = timezone.now() + timedelta(hours=hours) if hours is not None else None
    return actions.open_case(conv, kind="refund", actor=None, via="rule:1", deadline=deadline)


def told(user: User) -> list[str]:
    return list(
        Notification.objects.filter(user=user, kind="case_deadline").values_list("text", flat=True)
    )


def test_the_assignee_is_warned_once_per_deadline(make_inbound: Any, agent: User) -> None:
    case = open_case(make_inbound, 5, "t-1")
    Conversation.objects.filter(pk=case.conversation_id).update(assignee=agent)
    far = open_case(make_inbound, 72, "t-2")
    Conversation.objects.filter(pk=far.conversation_id).update(assignee=agent)

    assert warn() == 1
    assert warn() == 0  # the next run says nothing new
    (text,) = told(agent)
    assert "Refund" in text
    assert "deadline" in text

    # The marketplace moves the far deadline near: a new warning; a resolved case never warns.
    actions.set_deadline(far, deadline=timezone.now() + timedelta(hours=2), actor=None)
    done = open_case(make_inbound, 1, "t-3")
    actions.close(done, actor=None)
    assert warn() == 1
    assert len(told(agent)) == 2


def test_an_unassigned_case_warns_the_teams_supervisors(
    make_inbound: Any, agent: User, supervisor: User, team: Any
) -> None:
    other = User.objects.create_user("sam", "sam@example.com", "pw", role=Role.SUPERVISOR)
    open_case(make_inbound, 3, "t-4")
    assert warn() == 1
    assert len(told(supervisor)) == 1
    assert told(agent) == []
    assert told(other) == []  # a supervisor of no team of this conversation


def test_the_window_is_a_setting(make_inbound: Any, agent: User, settings: Any) -> None:
    case = open_case(make_inbound, 30, "t-5")
    Conversation.objects.filter(pk=case.conversation_id).update(assignee=agent)
    assert warn() == 0
    settings.CASE_DEADLINE_WARNING_HOURS = 48
    assert warn() == 1
    case.refresh_from_db()
    assert case.deadline_warned_for == case.deadline


def test_the_warnings_run_as_a_periodic_job() -> None:
    autodiscover()
    job = REGISTRY["cases.deadline_warnings"]
    assert job.every == timedelta(minutes=15)
