"""Proactive care in the demo: recent orders on each marketplace put in each at-risk situation
(not shipped by the ship-by date, tracking not moving, delivery date missed, delivered while
the buyer's conversation is open), the detector run, and a proactive message sent on some of
them through the care action, so the "at risk" page shows both and its figures have a sample.
The messages are recorded as delivered (no marketplace is reached while the demo loads)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from django.db.models import Max, Q

from comptoir.accounts.models import User
from comptoir.automation.models import Template, TemplateVersion
from comptoir.care import actions, sweep
from comptoir.care.models import AtRisk, Reason
from comptoir.inbox import actions as inbox_actions
from comptoir.inbox.models import Conversation, Direction, Event, Message, Status
from comptoir.orders.models import Order

PER_SITUATION = 2  # orders per marketplace and situation
CONTACTED_SHARE = 0.5
DEMO_MESSAGE_IDS = 900_000_000
TEMPLATE_NAME = "Retard de livraison (soin proactif)"
BODIES = {
    "fr": "Bonjour,\n\nNous suivons votre commande {{ order_number }} de près : elle a pris du "
    "retard et nous faisons le nécessaire pour qu'elle vous parvienne au plus vite. Nous vous "
    "tenons informé.\n\nBien cordialement,\n{{ shop_name }}",
    "en": "Hello,\n\nWe are keeping a close eye on your order {{ order_number }}: it is running "
    "late and we are doing what it takes to get it to you quickly. We will keep you posted."
    "\n\nKind regards,\n{{ shop_name }}",
}


def _template() -> Template:
    template = Template.objects.filter(shop=None, name=TEMPLATE_NAME).first()
    if template is None:
        template = Template.objects.create(name=TEMPLATE_NAME, category="delivery")
        for language, body in BODIES.items():
            TemplateVersion.objects.create(template=template, language=language, body=body)
    return template


def _shape(rng: random.Random, now: datetime) -> int:
    """Put a few recent orders of each marketplace in each situation; returns how many."""
    recent = Order.objects.filter(ordered_at__gte=now - timedelta(days=14), ordered_at__lt=now)
    with_open = Conversation.objects.filter(
        status=Status.OPEN, created_at__lt=now - timedelta(days=1), order__isnull=False
    ).values("order_id")
    shaped = 0
    for marketplace in sorted(set(recent.values_list("channel__marketplace", flat=True))):
        mine = recent.filter(channel__marketplace=marketplace)
        delivered = list(mine.filter(pk__in=with_open).order_by("pk")[:PER_SITUATION])
        others = list(mine.exclude(pk__in=with_open).order_by("pk")[: 3 * PER_SITUATION])
        rng.shuffle(others)
        hours = lambda: timedelta(hours=rng.randint(6, 60))  # noqa: E731
        for n, order in enumerate(others):
            situation = n % 3
            if situation == 0:  # not shipped by the ship-by date
                fields = {
                    "status": "accepted",
                    "ship_by": now - hours(),
                    "shipped_at": None,
                    "delivered_at": None,
                    "expected_delivery_at": now + timedelta(days=2),
                }
            elif situation == 1:  # tracking not moving
                fields = {
                    "status": "shipped",
                    "shipped_at": now - timedelta(days=8),
                    "tracking_changed_at": now - timedelta(days=6),
                    "delivered_at": None,
                    "expected_delivery_at": now + timedelta(days=1),
                }
            else:  # delivery date missed
                fields = {
                    "status": "shipped",
                    "shipped_at": now - timedelta(days=5),
                    "tracking_changed_at": now - timedelta(days=1),
                    "delivered_at": None,
                    "expected_delivery_at": now - hours(),
                }
            shaped += Order.objects.filter(pk=order.pk).update(**fields)
        for order in delivered:
            since = Conversation.objects.filter(order=order).order_by("created_at").first()
            at = since.created_at + timedelta(hours=2) if since else now - timedelta(hours=3)
            shaped += Order.objects.filter(pk=order.pk).update(
                status="delivered", delivered_at=min(at, now - timedelta(hours=1))
            )  # fmt: skip
    return shaped


def seed(writer: User, *, seed: int, now: datetime) -> str:
    """Shape, detect and write first on some; returns the line the demo prints."""
    rng = random.Random(seed * 41 + 7)
    _shape(rng, now)
    found = sweep.detect(now)
    template = _template()
    open_risks = list(
        AtRisk.objects.filter(resolved_at__isnull=True)
        .exclude(reason=Reason.DELIVERED_OPEN)
        .filter(~Q(channel__kind="rakuten"))
        .order_by("pk")
    )
    chosen = [r for r in open_risks if rng.random() < CONTACTED_SHARE]
    outcome = actions.contact_many(chosen, actor=writer, what=actions.Proactive(template=template))
    for message in Message.objects.filter(pk__in=outcome.sent):
        # A number: the simulators the demo serves mirror these messages, and eBay's message
        # ids are numbers.
        external = str(DEMO_MESSAGE_IDS + message.pk)
        inbox_actions.record_delivery(message, external_id=external, sent_at=now)
    _backdate(outcome.sent, now)
    return (
        f"proactive care: {found['opened']} orders at risk, {len(outcome.sent)} proactive "
        "messages sent"
    )


def _backdate(message_ids: list[int], now: datetime) -> None:
    """The demo's history lies before its "now" (today at midnight), as the same seed must give
    the same data: the proactive messages were sent the evening before, a minute apart in the
    order they were written, and what they wrote (their conversations' times, the timeline,
    the risks' contact) moves with them. A demo-only rewrite of times, as the rest of the
    history is written."""
    for k, message in enumerate(Message.objects.filter(pk__in=message_ids).order_by("pk")):
        at = now - timedelta(hours=4) + timedelta(minutes=k)
        Message.objects.filter(pk=message.pk).update(
            created_at=at, received_at=at, sent_at=at, delivery_claimed_at=None
        )
        conv = Conversation.objects.filter(pk=message.conversation_id)
        conv.filter(created_at__gte=now).update(created_at=at)
        mine = Message.objects.filter(conversation_id=message.conversation_id)
        conv.update(
            last_message_at=mine.aggregate(at=Max("created_at"))["at"],
            last_outbound_at=mine.filter(direction=Direction.OUT).aggregate(at=Max("created_at"))[
                "at"
            ],
        )
        Event.objects.filter(conversation_id=message.conversation_id, created_at__gte=now).update(
            created_at=at
        )
        AtRisk.objects.filter(message_id=message.pk).update(contacted_at=at)
