"""The periodic sender: surveys for the conversations resolved long enough ago."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.tasks import task
from django.utils import timezone

from comptoir.inbox.actions import ReplyRefused
from comptoir.inbox.models import Conversation, Status
from comptoir.jobs.periodic import periodic
from comptoir.surveys import actions, policy
from comptoir.surveys.models import Survey, SurveySettings

logger = logging.getLogger("comptoir.surveys")

EVERY = timedelta(minutes=30)
# Conversations per run: the rest wait for the next one.
BATCH = 200
# Resolved longer ago than this when the surveys were switched on: history, never surveyed.
LOOKBACK = timedelta(days=14)


def due_conversations(settings: SurveySettings, now: datetime) -> QuerySet[Conversation]:
    """Resolved at least `delay_hours` ago (and not long before), never surveyed, whose buyer
    was not surveyed in `min_days_between` days, on a channel and with tags not excluded."""
    resolved_before = now - timedelta(hours=settings.delay_hours)
    recent = Survey.objects.filter(
        customer_id=OuterRef("customer_id"),
        sent_at__gte=now - timedelta(days=settings.min_days_between),
    )
    qs = (
        Conversation.objects.filter(
            status=Status.RESOLVED,
            resolved_at__lte=resolved_before,
            resolved_at__gte=resolved_before - LOOKBACK,
            deleted_at__isnull=True,
            merged_into__isnull=True,
            customer__isnull=False,
            survey__isnull=True,
        )
        .exclude(Exists(recent))
        .exclude(channel_id__in=settings.excluded_channel_ids or [0])
        .select_related("channel", "channel__shop", "customer")
        .order_by("resolved_at", "pk")
    )
    if settings.excluded_tags:
        qs = qs.exclude(tags__name__in=settings.excluded_tags)
    return qs.filter(_routable(settings))


def _routable(settings: SurveySettings) -> Q:
    """Channels a survey may go through (the rest of `policy.route`, as a query)."""
    email = Q(channel__marketplace="shop", channel__kind="email")
    allowed = [m for m in settings.message_marketplaces if m in policy.MESSAGE_ALLOWED]
    by_message = Q(channel__marketplace__in=allowed) & ~Q(channel__kind="mirakl")
    return email | by_message


def send_due(now: datetime | None = None) -> int:
    """Send the surveys due now; returns how many went out."""
    settings = SurveySettings.get()
    if not settings.enabled:
        return 0
    now = now or timezone.now()
    sent = 0
    seen_customers: set[int] = set()
    for conv in due_conversations(settings, now)[:BATCH]:
        # Two conversations of one buyer due in the same run: one survey.
        if conv.customer_id in seen_customers:
            continue
        try:
            survey = actions.send_survey(conv, settings)
        except (ReplyRefused, ValidationError, PermissionDenied) as exc:
            logger.warning("survey for conversation %s not sent: %s", conv.pk, exc)
            continue
        if survey is not None:
            sent += 1
            seen_customers.add(conv.customer_id or 0)
    return sent


@periodic("surveys.send", every=EVERY)
@task()
def send_surveys() -> int:
    return send_due()
