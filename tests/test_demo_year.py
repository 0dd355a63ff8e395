"""`comptoir demo`'s year: a seller's twelve months of resolved history before the live weeks,
with its seasons, for the dashboards (loaded small here: `--scale`)."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from io import StringIO
from statistics import median
from typing import Any

import pytest
from django.core.management import call_command
from django.db.models import Count, Min

from comptoir.analytics import kpis, usage
from comptoir.analytics.models import ConversationFact
from comptoir.analytics.period import Filters, Period
from comptoir.automation.models import Template, TemplateUse
from comptoir.demo import year
from comptoir.demo.generate import reference_now
from comptoir.inbox.models import Channel, Conversation, Direction, Event, EventKind, Status
from comptoir.lib.meta_window import META_KINDS
from comptoir.surveys.models import Survey, SurveyKind

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def test_the_demo_seeds_a_sellers_year_for_the_dashboards() -> None:
    # One load for both halves: even small, a year takes a while.
    out = StringIO()
    call_command(
        "demo", "--seed", "4", "--conversations", "60", "--days", "30", "--scale", "0.2",
        stdout=out,
    )  # fmt: skip
    assert "Demo loaded" in out.getvalue()
    _spans_every_channel_with_surveys_reopens_and_breaches()
    _has_seasons_and_agents_of_their_own_pace()
    _replies_from_templates_and_a_steady_backlog()


def _spans_every_channel_with_surveys_reopens_and_breaches() -> None:
    now = reference_now()
    first = Conversation.objects.aggregate(first=Min("created_at"))["first"]
    assert now - first >= timedelta(days=330)
    old = Conversation.objects.filter(created_at__lt=now - timedelta(days=90))
    # All of it resolved, on every channel buyers write to (the SP-API and Spartoo's web
    # services read orders).
    assert not old.exclude(status=Status.RESOLVED).exists()
    # (Meta's channels and the live chat have no invented history: their buyers write live.)
    writing = Channel.objects.exclude(kind__in=["amazon", "spartoo", "chat", *META_KINDS])
    per_channel = dict(old.values_list("channel_id").annotate(n=Count("pk")))
    assert all(per_channel.get(c.pk, 0) >= 20 for c in writing), per_channel
    # Surveys answered on every channel whose marketplace allows them, CSAT and NPS both.
    answered = Survey.objects.filter(score__isnull=False, conversation__in=old)
    marketplaces = set(answered.values_list("conversation__channel__marketplace", flat=True))
    assert marketplaces == {"shop", "ebay"}
    assert {SurveyKind.CSAT, SurveyKind.NPS} <= set(answered.values_list("kind", flat=True))
    sent = Survey.objects.filter(conversation__in=old)
    assert 0.15 <= answered.count() / sent.count() <= 0.35
    assert answered.filter(kind=SurveyKind.CSAT, score__lte=2).exists()  # some detractors
    # Reopened, late, and "no answer needed": each in the facts the dashboards read.
    facts = ConversationFact.objects.filter(conversation_id__in=old.values("pk"))
    assert facts.count() == old.count()
    assert facts.filter(reopened=True).exists()
    assert Event.objects.filter(kind=EventKind.REOPENED, conversation__in=old).exists()
    assert facts.filter(within_sla=False).exists()
    assert facts.filter(within_sla=True).count() > facts.filter(within_sla=False).count()
    assert facts.filter(no_response_needed=True).exists()
    assert facts.filter(fcr=True).exists()


def _has_seasons_and_agents_of_their_own_pace() -> None:
    now = reference_now()
    facts = ConversationFact.objects.all()
    days = Counter(facts.values_list("created_day", flat=True))
    today = now.date()

    def per_day(first: date, last: date) -> float:
        span = [first + timedelta(days=i) for i in range((last - first).days + 1)]
        return sum(days[d] for d in span if d < today) / len(span)

    bf = year.black_friday(today.year if today >= year.black_friday(today.year) else today.year - 1)
    summer = date(bf.year, 7, 15)
    assert per_day(bf - timedelta(days=2), bf + timedelta(days=3)) > 2 * per_day(
        summer, summer + timedelta(days=30)
    )
    weekdays = Counter(facts.values_list("local_weekday", flat=True))
    assert weekdays[0] > weekdays[5] * 1.4  # Mondays against Saturdays
    hours = Counter(facts.values_list("local_hour", flat=True))
    assert hours[20] > hours[8]  # buyers write in the evening

    # Julien (agent1) answers faster than Lena (agent4), over the year.
    def first_response(username: str) -> float:
        rows = facts.filter(
            assignee_id__in=_user_ids(username), first_response_seconds__isnull=False
        ).values_list("first_response_seconds", flat=True)
        return median(rows)

    assert first_response("agent1") < first_response("agent4")

    # A few conversations per hundred orders, as sellers see it.
    period = Period.last(365, now=now)
    per_100 = kpis.conversations_per_100_orders(period, Filters())
    assert per_100 is not None
    assert 3 <= per_100 <= 15
    intents = Counter(facts.filter(marketplace="shop").values_list("intent", flat=True))
    amazon = Counter(facts.filter(marketplace="amazon").values_list("intent", flat=True))
    assert intents["invoice"] / sum(intents.values()) > amazon["invoice"] / sum(amazon.values())


def _user_ids(username: str) -> list[int]:
    from comptoir.accounts.models import User

    return list(User.objects.filter(username=username).values_list("pk", flat=True))


def _replies_from_templates_and_a_steady_backlog() -> None:
    period = Period.last(365, now=reference_now())
    # Replies made from templates, most through the composer's suggestion, surveys after some.
    used = usage.template_usage(period, Filters())
    assert {u.template_id for u in used if u.uses} >= set(
        Template.objects.filter(shortcut__in=["where", "return", "damaged"]).values_list(
            "pk", flat=True
        )
    )
    uses, suggested = sum(u.uses for u in used), sum(u.suggested for u in used)
    replied = ConversationFact.objects.filter(agent_replies__gt=0).count()
    assert 0.1 <= uses / replied <= 0.4
    assert 0.5 <= suggested / uses <= 0.9
    assert sum(u.shown for u in used) > suggested  # some suggestions passed over
    assert sum(u.csat.whole for u in used) > 0  # satisfaction followed some uses
    assert TemplateUse.objects.filter(reply__isnull=True).count() == 0
    # The backlog today (the live weeks' open conversations) is a usual evening's of the year,
    # not weeks of them piled up. Proactive care's conversations, where the seller wrote first
    # and no buyer answered yet, are open too (one per marketplace and late order the demo
    # contacts), but no buyer waits in them.
    backlog = [n for _, n in kpis.backlog(period, Filters())]
    usual = median(backlog[30:-30])
    assert usual > 0
    proactive = (
        Conversation.objects.exclude(status=Status.RESOLVED)
        .exclude(messages__direction=Direction.IN)
        .count()
    )
    assert 0 < proactive < backlog[-1]
    assert backlog[-1] - proactive <= 3 * max(usual, 3)
