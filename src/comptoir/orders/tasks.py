"""Orders kept beside their conversations: fetched from the marketplace when a conversation
names one we do not have, and refreshed while the conversation is open."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.db.models import Q
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.tasks import task
from django.utils import timezone

from comptoir.connectors.base import ConnectorError
from comptoir.connectors.registry import connector_class, get_connector
from comptoir.inbox import ingest
from comptoir.inbox.actions import record_channel_error, record_channel_success
from comptoir.inbox.models import Channel, Conversation, Status
from comptoir.jobs.periodic import periodic
from comptoir.jobs.queues import in_background
from comptoir.orders.actions import record_late_orders, store_order

logger = logging.getLogger("comptoir.orders")

REFRESH_EVERY = timedelta(minutes=30)


def _fetches_orders(channel: Channel) -> bool:
    try:
        cls = connector_class(channel.kind)
    except ConnectorError:
        return False
    return cls.can_fetch_orders()


@task()
def sync_order(channel_id: int, order_number: str) -> str:
    """One order (look-ups queued before `sync_orders` existed, and by hand)."""
    outcome = _read_orders(channel_id, [order_number])
    if isinstance(outcome, str):
        return outcome
    return "stored" if outcome else "unknown to the marketplace"


@task()
def sync_orders(channel_id: int, order_numbers: list[str]) -> str:
    """Read a group of orders from their marketplace in as few requests as it allows, and
    store them (linking the conversations naming them)."""
    outcome = _read_orders(channel_id, order_numbers)
    if isinstance(outcome, str):
        return outcome
    return f"{outcome} stored, {len(set(order_numbers)) - outcome} unknown to the marketplace"


def _read_orders(channel_id: int, order_numbers: list[str]) -> int | str:
    """How many of the orders were found and stored, or why none was read."""
    channel = Channel.objects.get(pk=channel_id)
    if channel_is_failing(channel):
        # Its polls fail (the marketplace unreachable, or a refused key): each look-up would
        # wait for the same failure. The refresh after its recovery reads them.
        return "skipped: the channel is failing"
    polled = _polled(channel)
    try:
        found = get_connector(channel).fetch_orders(order_numbers)
    except ConnectorError as exc:
        # The next refresh tries again. A polled channel's health is its polls' to report;
        # one read only for its orders (Amazon's SP-API) is reported by its look-ups.
        logger.info("%d orders on %s not read: %s", len(order_numbers), channel, exc)
        if not polled and not exc.about_message:
            record_channel_error(
                channel, error=str(exc), permanent=exc.permanent, retry_after=exc.retry_after
            )
        return f"failed: {exc}"
    if not polled and (channel.failure_count or channel.last_error or not channel.is_healthy):
        record_channel_success(channel)
    for data in found.values():
        store_order(channel, data)
    return len(found)


def channel_is_failing(channel: Channel) -> bool:
    """Whether reading the channel now would only fail again: stopped, or its last polls
    failed (the marketplace unreachable), or the marketplace asked us to wait. A channel
    that is not polled has only its look-ups to find it working again: only a wait the
    marketplace asked for holds them."""
    if channel.poll_after is not None and channel.poll_after > timezone.now():
        return True
    return _polled(channel) and (not channel.is_healthy or channel.failure_count > 0)


def _polled(channel: Channel) -> bool:
    try:
        return connector_class(channel.kind).can_fetch()
    except ConnectorError:
        return False


def queue_order_lookups(channel_id: int, order_numbers: Iterable[str]) -> int:
    """Queue the reading of these orders of one channel, in groups as big as its marketplace
    reads at once, behind polls and replies; returns the number of tasks queued."""
    numbers = sorted(set(order_numbers))
    if not numbers:
        return 0
    kind = Channel.objects.filter(pk=channel_id).values_list("kind", flat=True).first()
    size = max(1, connector_class(kind).order_batch_size) if kind else 1
    lookup = in_background(sync_orders)
    for start in range(0, len(numbers), size):
        lookup.enqueue(channel_id, numbers[start : start + size])
    return -(-len(numbers) // size)


def order_channel(channel: Channel) -> Channel | None:
    """The channel that can read this channel's orders: itself, or for a mailbox that
    receives a marketplace's buyer mail (Amazon's relay), that marketplace's API channel in
    the same shop."""
    if _fetches_orders(channel):
        return channel
    siblings = Channel.objects.filter(
        shop_id=channel.shop_id, marketplace=channel.marketplace, is_active=True
    ).exclude(pk=channel.pk)
    return next((c for c in siblings.order_by("id") if _fetches_orders(c)), None)


# Which channel reads a channel's orders changes when channels are added or edited, seldom;
# asking the database after every message cost more than storing it. Saving or deleting any
# channel empties this in the process; other processes see the change within the delay, and
# `refresh_open_orders` queues what a stale answer missed.
ORDER_CHANNEL_CACHE_SECONDS = 30.0
_order_channels: dict[int, tuple[float, int | None]] = {}


def _order_channel_id(channel_id: int) -> int | None:
    now = time.monotonic()
    hit = _order_channels.get(channel_id)
    if hit is not None and hit[0] > now:
        return hit[1]
    channel = Channel.objects.filter(pk=channel_id).first()
    reader = order_channel(channel) if channel is not None else None
    found = reader.pk if reader is not None else None
    _order_channels[channel_id] = (now + ORDER_CHANNEL_CACHE_SECONDS, found)
    return found


@receiver([post_save, post_delete], sender=Channel)
def _forget_order_channels(sender: type[Channel], **kwargs: Any) -> None:
    # Any channel: a new Amazon API channel changes the answer for the shop's mailboxes.
    _order_channels.clear()


def queue_missing_orders(stored: list[ingest.Stored]) -> None:
    """After ingest (subscribed to `inbox.hooks.messages_stored`): conversations that name an
    order we do not have get it fetched."""
    wanted = {(s.channel_id, s.order_number) for s in stored if s.order_number and not s.order_id}
    by_reader: dict[int, set[str]] = defaultdict(set)
    for channel_id, order_number in wanted:
        reader = _order_channel_id(channel_id)
        if reader is not None:
            by_reader[reader].add(order_number)
    for reader, numbers in sorted(by_reader.items()):
        queue_order_lookups(reader, numbers)


@periodic("orders.refresh_open", every=REFRESH_EVERY)
@task()
def refresh_open_orders() -> int:
    """Orders of open conversations, read again when older than REFRESH_EVERY: the agent sees
    the shipment as it is now."""
    stale = timezone.now() - REFRESH_EVERY
    convs = (
        Conversation.objects.filter(status__in=[Status.OPEN, Status.PENDING], deleted_at=None)
        .filter(Q(order__isnull=True) | Q(order__synced_at__lt=stale) | Q(order__synced_at=None))
        .exclude(order_number="")
        .select_related("channel", "order__channel")
        .order_by("-last_message_at")[:1000]
    )
    by_channel: dict[int, set[str]] = defaultdict(set)
    readers: dict[int, Channel | None] = {}
    for conv in convs:
        # The order's own channel when known (an Amazon order read by the Amazon channel).
        if conv.order:
            channel: Channel | None = conv.order.channel
        else:
            if conv.channel_id not in readers:
                readers[conv.channel_id] = order_channel(conv.channel)
            channel = readers[conv.channel_id]
        if channel is None or channel_is_failing(channel) or not _fetches_orders(channel):
            continue
        by_channel[channel.pk].add(conv.order_number)
    for channel_id, numbers in sorted(by_channel.items()):
        queue_order_lookups(channel_id, numbers)
    return sum(len(numbers) for numbers in by_channel.values())


@periodic("orders.late", every=timedelta(minutes=15))
@task()
def detect_late_orders() -> int:
    """Orders past their ship-by date: an `order_late` event on their conversations, once."""
    return record_late_orders()
