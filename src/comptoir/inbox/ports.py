"""The inbox's side of the ports that the layers below it declare (provided in
InboxConfig.ready): the connector contract's `ChannelStore` (what a connector may ask about its
channel's messages, where its cursor is kept) and what an SLA policy needs of a channel."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db.models import Q

from comptoir.inbox import files
from comptoir.inbox.models import Channel, Message
from comptoir.sla.policies import ChannelFacts

if TYPE_CHECKING:
    from comptoir.connectors.base import ChannelInfo, InboundMessage, StoredChannel


class InboxChannelStore:
    def save_cursor(self, channel: ChannelInfo, cursor: dict[str, Any]) -> None:
        from comptoir.inbox.actions import save_channel_cursor

        save_channel_cursor(channel, cursor)

    def stored_external_ids(self, channel_id: int, external_ids: list[str]) -> set[str]:
        return set(
            Message.objects.filter(channel_id=channel_id, external_id__in=external_ids).values_list(
                "external_id", flat=True
            )
        )

    def claimed_external_ids(
        self,
        channel_id: int,
        external_ids: list[str],
        but: int,
        *,
        stored_before: datetime | None,
    ) -> set[str]:
        # A plain copy (no delivery state) stored since the attempt began may be the one we
        # look for, brought back by a poll before its answer was recorded: record_delivery
        # then replaces it. One stored before is an earlier message with the same text.
        claimed = ~Q(delivery_state="")
        if stored_before is not None:
            claimed |= Q(received_at__lt=stored_before)
        return set(
            Message.objects.filter(channel_id=channel_id, external_id__in=external_ids)
            .exclude(pk=but)
            .filter(claimed)
            .values_list("external_id", flat=True)
        )

    def queued_at(self, message_id: int) -> datetime | None:
        return Message.objects.filter(pk=message_id).values_list("created_at", flat=True).first()

    def mark_unhealthy(self, channel: ChannelInfo, error: str) -> None:
        from comptoir.inbox.actions import record_channel_error

        # The connector's own channel row is updated in place, as the poller's would be.
        row = channel if isinstance(channel, Channel) else Channel.objects.get(pk=channel.pk)
        record_channel_error(row, error=error, permanent=True)

    def update_settings(
        self, channel: ChannelInfo, change: Callable[[dict[str, Any]], dict[str, Any] | None]
    ) -> dict[str, Any]:
        from comptoir.inbox.actions import update_channel_settings

        return update_channel_settings(channel, change)

    def store_file(self, data: bytes) -> str:
        return files.store_bytes(data)

    def ingest(self, messages: list[InboundMessage]) -> None:
        from comptoir.inbox.ingest import ingest_many

        ingest_many(messages, source="connector")

    def record_bounce(self, channel_id: int, message_id: str, reason: str) -> None:
        from comptoir.inbox.actions import record_bounce

        record_bounce(channel_id=channel_id, message_id=message_id, reason=reason)

    def request_poll(self, marketplace: str) -> list[int]:
        from comptoir.inbox.actions import request_poll

        return request_poll(marketplace=marketplace)

    def request_channel_poll(self, channel_id: int) -> None:
        from comptoir.inbox.actions import request_channel_poll

        request_channel_poll(channel_id)

    def channels(self, kind: str) -> list[StoredChannel]:
        return list(Channel.objects.filter(kind=kind, is_active=True, is_healthy=True))


def sla_channel_facts(channel_ids: set[int]) -> dict[int, ChannelFacts]:
    """What the SLA policies need of these channels: their marketplace and their shop's clock."""
    return {
        c.pk: ChannelFacts(c.marketplace, c.shop_id, c.shop.timezone, c.shop.country, c.kind)
        for c in Channel.objects.filter(pk__in=channel_ids)
        .select_related("shop")
        .only("id", "marketplace", "kind", "shop__id", "shop__timezone", "shop__country")
    }
