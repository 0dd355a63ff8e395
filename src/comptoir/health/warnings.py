"""Warning before a marketplace threshold is crossed: when a channel's metric reaches the
warning share of its threshold (`COMPTOIR_HEALTH_WARNING_PERCENT`), and again if it crosses
it, the owners and admins are told once (`notifications`, about the channel).

Once per crossing: a `HealthAlert` row per (channel, metric, level) is inserted in the same
transaction as the notification, and a second worker's insert fails on the unique constraint
and sends nothing. The row is removed when the metric falls back below its level, so that the
next crossing warns again. Run by the periodic job `health.check`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext

from comptoir.health import report
from comptoir.health.models import HealthAlert, Level
from comptoir.health.report import BREACHED, WARNING, Card, ChannelHealth
from comptoir.inbox.models import Channel
from comptoir.notifications.actions import notify
from comptoir.notifications.kinds import Kind


def percent(value: float | None) -> str:
    if value is None:
        return "—"
    return number_format(round(value * 100, 1), 1) + " %"


def _text(health: ChannelHealth, card: Card) -> Callable[[], str]:
    """The warning, written by `notify` in each recipient's language."""

    def write() -> str:
        if card.state == BREACHED:
            line = gettext("%(channel)s: %(metric)s is %(value)s, past the threshold (%(limit)s)")
        else:
            line = gettext(
                "%(channel)s: %(metric)s is %(value)s, nearing the threshold (%(limit)s)"
            )
        return line % {
            "channel": health.channel_name,
            "metric": str(card.name),
            "value": percent(card.value),
            "limit": percent(card.threshold),
        }

    return write


def _levels(state: str) -> set[str]:
    if state == BREACHED:
        return {Level.WARNING, Level.BREACHED}
    if state == WARNING:
        return {Level.WARNING}
    return set()


def _send(health: ChannelHealth, card: Card, level: str, now: datetime) -> bool:
    """Record the alert and notify, together; False when it was already sent."""
    rate = card.measure.rate if card.measure else None
    try:
        with transaction.atomic():
            HealthAlert.objects.create(
                channel_id=health.channel_id,
                metric=card.metric,
                level=level,
                rate=rate or 0.0,
                limit=card.rule.limit,
                created_at=now,
            )
            notify(Kind.ACCOUNT_HEALTH, channel_id=health.channel_id, text=_text(health, card))
    except IntegrityError:
        return False
    return True


def check(now: datetime | None = None) -> int:
    """Warn about every metric that reached a new level; returns how many warnings were sent."""
    now = now or timezone.now()
    channels = list(Channel.objects.filter(is_active=True).order_by("pk"))
    sent = 0
    for health in report.build(channels, now, trend=False):
        sent_levels = {
            (a.metric, a.level) for a in HealthAlert.objects.filter(channel_id=health.channel_id)
        }
        for card in health.cards:
            if card.measure is None or card.measure.rate is None:
                continue  # nothing counted: neither a warning nor the all-clear
            levels = _levels(card.state)
            HealthAlert.objects.filter(channel_id=health.channel_id, metric=card.metric).exclude(
                level__in=levels
            ).delete()
            # The worst level only: crossing straight past the threshold is one message.
            worst = max(levels, key=lambda lv: lv == Level.BREACHED, default=None)
            if worst is None or (card.metric, worst) in sent_levels:
                continue
            if worst == Level.BREACHED and (card.metric, Level.WARNING) not in sent_levels:
                HealthAlert.objects.get_or_create(
                    channel_id=health.channel_id,
                    metric=card.metric,
                    level=Level.WARNING,
                    defaults={"rate": card.measure.rate, "limit": card.rule.limit},
                )
            sent += _send(health, card, worst, now)
    return sent
