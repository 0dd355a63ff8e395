"""Writing first to the buyer of an order at risk, through the channel its marketplace allows,
and recording it (docs/care.md). The message is an ordinary reply: the pre-send checks run, it
is queued and the send task delivers it exactly once (`inbox.tasks.send_message`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from comptoir.accounts.models import User
from comptoir.accounts.permissions import require_write
from comptoir.automation.models import Template
from comptoir.automation.templating import render_template
from comptoir.care.models import AtRisk
from comptoir.connectors.base import ConnectorError
from comptoir.connectors.registry import connector_class
from comptoir.inbox import actions as inbox_actions
from comptoir.inbox.models import Channel, Conversation, Event, EventKind, Message
from comptoir.inbox.permissions import visible_channels
from comptoir.orders.models import Order

# The Amazon message type sent when the agent picks none: the one meant for a late parcel.
DEFAULT_AMAZON_TYPE = "unexpectedProblem"


class Route(StrEnum):
    """How a first message reaches the buyer of an order on its channel."""

    THREAD = "thread"  # a new marketplace thread on the order (Mirakl OR43, eBay sendMessage)
    TYPED = "typed"  # one of the marketplace's typed order messages (Amazon Messaging)
    EMAIL = "email"  # a mail to the buyer (the shop's own orders)
    REPLY = "reply"  # only in a conversation the buyer already has on the order (Fnac...)


def route_for(channel: Channel) -> Route:
    try:
        connector = connector_class(channel.kind)
    except ConnectorError:
        return Route.REPLY
    if connector.opens_order_threads:
        return Route.THREAD
    if connector.order_message_types:
        return Route.TYPED
    if channel.kind == "email":
        return Route.EMAIL
    return Route.REPLY


def message_types(channel: Channel) -> tuple[str, ...]:
    """The typed messages the channel's marketplace offers ("" for none)."""
    try:
        return connector_class(channel.kind).order_message_types
    except ConnectorError:
        return ()


def sending_channel(order: Order) -> Channel:
    """The channel a first message about `order` leaves by: the order's own, except an Amazon
    order read from the Amazon mailbox when the shop has an SP-API channel (Amazon's typed
    messages go through its API, the relay mailbox only answers the buyer's mail)."""
    channel = order.channel
    if channel.marketplace == "amazon" and route_for(channel) != Route.TYPED:
        api = (
            Channel.objects.filter(shop_id=order.shop_id, marketplace="amazon", is_active=True)
            .exclude(pk=channel.pk)
            .order_by("pk")
        )
        for candidate in api:
            if route_for(candidate) == Route.TYPED:
                return candidate
    return channel


def existing_conversation(order: Order, channel: Channel | None = None) -> Conversation | None:
    """The order's latest conversation on the channel that writes to its buyer that a reply
    can reach."""
    channel = channel or sending_channel(order)
    convs = Conversation.objects.filter(
        order=order, channel_id=channel.pk, deleted_at__isnull=True, merged_into__isnull=True
    ).order_by("-last_message_at", "-pk")
    if route_for(channel) in (Route.THREAD, Route.REPLY):
        convs = convs.exclude(external_thread_id="")
    return convs.first()


@dataclass
class Proactive:
    """What the agent chose: a template (rendered for each order) or a text, and for typed
    channels the message type."""

    template: Template | None = None
    text: str = ""
    subject: str = ""
    message_type: str = ""


def contact(risk: AtRisk, *, actor: User, what: Proactive, via: str = "care") -> Message:
    """Send the proactive message about `risk`'s order and mark every open risk of the order
    contacted. Raises `ValidationError` (including the pre-send checks' `ReplyRefused` and a
    template's missing variables) or `PermissionDenied`; nothing is stored then."""
    require_write(actor)
    order = Order.objects.select_related("channel", "customer", "shop").get(pk=risk.order_id)
    channel = sending_channel(order)
    if not visible_channels(actor).filter(pk=channel.pk).exists():
        raise PermissionDenied(f"{actor.username} cannot write on {channel.name}")
    route = route_for(channel)
    kind = ""
    if route == Route.TYPED:
        kind = what.message_type or DEFAULT_AMAZON_TYPE
        if kind not in message_types(channel):
            raise ValidationError(_("This marketplace has no message type “%s”.") % kind)
    with transaction.atomic():
        conv = existing_conversation(order, channel)
        started = conv is None
        if conv is None:
            conv = _start(order, channel, route, actor=actor, subject=what.subject, via=via)
        text, template_id = _text(what, conv, actor)
        message = inbox_actions.reply(
            conv, actor=actor, text=text, via=via, template_id=template_id
        )
        changes: dict[str, str] = {"marketplace_reason": kind} if kind else {}
        if started:
            # The first message of a thread names its topic: the subject itself, not a "Re:".
            changes["subject"] = conv.subject
        if changes:
            Message.objects.filter(pk=message.pk).update(**changes)
        AtRisk.objects.filter(order=order, resolved_at__isnull=True).update(
            contacted_at=timezone.now(), contacted_by=actor, message=message
        )
    return message


def _text(what: Proactive, conv: Conversation, actor: User) -> tuple[str, int | None]:
    if what.template is not None:
        rendered = render_template(what.template, conv, agent=actor)
        return rendered.text, what.template.pk
    if not what.text.strip():
        raise ValidationError(_("Choose a template or write a message."))
    return what.text, None


def _start(
    order: Order, channel: Channel, route: Route, *, actor: User, subject: str, via: str
) -> Conversation:
    """A new conversation on the order, for a first message (none can reach the buyer yet)."""
    if route == Route.REPLY:
        raise ValidationError(
            _("This marketplace lets the seller write only in a conversation the buyer started.")
        )
    if route == Route.EMAIL and (order.customer is None or not order.customer.email):
        raise ValidationError(_("The buyer of this order has no email address."))
    subject = (subject.strip() or _("About your order %(number)s") % {"number": order.external_id})[
        :500
    ]
    conv = Conversation.objects.create(
        shop_id=order.shop_id,
        channel_id=channel.pk,
        team_id=channel.team_id,
        customer_id=order.customer_id,
        order=order,
        order_number=order.external_id,
        subject=subject,
    )
    Event.objects.create(
        conversation=conv,
        kind=EventKind.CREATED,
        actor=actor,
        actor_label=via,
        data={"order_number": order.external_id, "proactive": True},
    )
    return conv


@dataclass
class BulkOutcome:
    sent: list[int] = field(default_factory=list)  # message ids
    failed: list[tuple[int, str]] = field(default_factory=list)  # (risk id, why)


def contact_many(
    risks: Iterable[AtRisk], *, actor: User, what: Proactive, via: str = "care"
) -> BulkOutcome:
    """One message per order among `risks` (an order at risk for two reasons gets one);
    each order on its own: one refused does not stop the others."""
    outcome = BulkOutcome()
    seen: set[int] = set()
    for risk in risks:
        if risk.order_id in seen:
            continue
        seen.add(risk.order_id)
        try:
            outcome.sent.append(contact(risk, actor=actor, what=what, via=via).pk)
        except (ValidationError, PermissionDenied) as exc:
            why = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            outcome.failed.append((risk.pk, why))
    return outcome
