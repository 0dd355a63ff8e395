"""The inbox's side of `connectors.webhooks.WebhookStore`: webhook bodies kept as
`InboundRecord`s (source "webhook") until their connector has stored their messages."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from comptoir.inbox.models import (
    Channel,
    DeliveryState,
    Direction,
    Event,
    EventKind,
    InboundRecord,
    InboundState,
    Message,
)

SOURCE = "webhook"


class InboxWebhookStore:
    def channel(self, channel_id: int, kinds: frozenset[str]) -> Channel | None:
        return Channel.objects.filter(pk=channel_id, kind__in=kinds, is_active=True).first()

    def keep(self, channel_id: int, raw: bytes) -> int:
        with transaction.atomic():
            record = InboundRecord.objects.create(channel_id=channel_id, source=SOURCE, raw=raw)
        return record.pk

    def pending(self, channel_id: int, limit: int) -> list[tuple[int, bytes]]:
        rows = InboundRecord.objects.filter(
            channel_id=channel_id, source=SOURCE, state=InboundState.RECEIVED
        ).order_by("id")[:limit]
        return [(r.pk, bytes(r.raw)) for r in rows]

    def done(self, ids: list[int]) -> None:
        InboundRecord.objects.filter(pk__in=ids, source=SOURCE).update(
            state=InboundState.STORED, processed_at=timezone.now(), error=""
        )

    def failed(self, record_id: int, error: str) -> None:
        InboundRecord.objects.filter(pk=record_id, source=SOURCE).update(
            state=InboundState.FAILED, error=error[:5000], processed_at=timezone.now()
        )

    def record_status(
        self, channel_id: int, external_id: str, status: str, at: datetime, error: str = ""
    ) -> bool:
        from comptoir.inbox.actions import record_delivery_failure

        message = (
            Message.objects.select_related("conversation")
            .filter(channel_id=channel_id, direction=Direction.OUT, external_id=external_id)
            .exclude(external_id="")
            .first()
        )
        if message is None:
            return False
        if status == "failed":
            if message.delivery_state != DeliveryState.FAILED:
                record_delivery_failure(message, error=f"not delivered: {error}", final=True)
            return True
        with transaction.atomic():
            seen = Event.objects.filter(
                conversation=message.conversation,
                kind=EventKind.DELIVERED,
                data__message_id=message.pk,
                data__status=status,
            ).exists()
            if not seen:
                Event.objects.create(
                    conversation=message.conversation,
                    kind=EventKind.DELIVERED,
                    actor_label=f"connector:{message.channel_id}",
                    data={"message_id": message.pk, "status": status, "at": at.isoformat()},
                )
        return True
