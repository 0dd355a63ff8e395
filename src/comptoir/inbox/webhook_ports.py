"""The inbox's side of `connectors.webhooks.WebhookStore`: webhook bodies kept as
`InboundRecord`s (source "webhook") until their connector has stored their messages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

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
    WebhookHealth,
)

SOURCE = "webhook"


class InboxWebhookStore:
    def channel(self, channel_id: int, kinds: frozenset[str]) -> Channel | None:
        return Channel.objects.filter(pk=channel_id, kind__in=kinds, is_active=True).first()

    def keep(self, channel_id: int, raw: bytes) -> int:
        with transaction.atomic():
            record = InboundRecord.objects.create(channel_id=channel_id, source=SOURCE, raw=raw)
        return record.pk

    def note(self, channel_id: int, *, signed: bool, receipts: bool = False) -> None:
        note_webhook(channel_id, signed=signed, receipts=receipts)

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


# -- health: what the channel's webhook last heard ----------------------------------------------

BAD_SIGNATURES_KEPT = 500
# No webhook for this long while replies leave through the channel: Meta is not calling us
# (each reply is echoed or gets a status within seconds when the app is subscribed).
SILENCE = timedelta(hours=6)


def note_webhook(channel_id: int, *, signed: bool, receipts: bool = False) -> None:
    """A delivery came to the channel's webhook: signed (kept), or refused for its signature."""
    now = timezone.now()
    with transaction.atomic():
        WebhookHealth.objects.get_or_create(channel_id=channel_id)
        health = WebhookHealth.objects.select_for_update().get(channel_id=channel_id)
        if signed:
            health.last_received_at = now
            if receipts:
                health.last_status_at = now
        else:
            health.last_bad_signature_at = now
            since = (now - timedelta(hours=24)).isoformat()
            kept = [t for t in health.bad_signatures if t >= since]
            health.bad_signatures = [*kept, now.isoformat()][-BAD_SIGNATURES_KEPT:]
        health.save()


@dataclass(frozen=True)
class WebhookReport:
    last_received_at: datetime | None
    last_status_at: datetime | None
    last_bad_signature_at: datetime | None
    bad_signatures_24h: int
    # Replies left in the last `SILENCE` but no webhook came: the app is not subscribed.
    silent: bool


def webhook_report(channel: Channel) -> WebhookReport:
    health = WebhookHealth.objects.filter(channel=channel).first()
    now = timezone.now()
    since = now - SILENCE
    last = health.last_received_at if health else None
    silent = (last is None or last < since) and Message.objects.filter(
        channel=channel,
        direction=Direction.OUT,
        delivery_state=DeliveryState.SENT,
        created_at__gte=since,
    ).exists()
    day_ago = (now - timedelta(hours=24)).isoformat()
    return WebhookReport(
        last_received_at=last,
        last_status_at=health.last_status_at if health else None,
        last_bad_signature_at=health.last_bad_signature_at if health else None,
        bad_signatures_24h=sum(1 for t in health.bad_signatures if t >= day_ago) if health else 0,
        silent=silent,
    )
