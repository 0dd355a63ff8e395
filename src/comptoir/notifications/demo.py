"""The demo's notifications: a test receiver inside Comptoir and two webhooks pointing at it
(JSON and Slack-compatible), so that the SLA sweep's notifications show up on the settings
page without any outside service."""

from __future__ import annotations

from django.utils import timezone

from comptoir.accounts.models import User
from comptoir.notifications import actions
from comptoir.notifications.kinds import Kind
from comptoir.notifications.models import (
    EmailState,
    Notification,
    TestReceiver,
    Webhook,
    WebhookFormat,
)

DEMO_RECEIVER = "Demo receiver"


def setup(admin: User) -> list[Webhook]:
    # What the demo's history notified (assignments loaded through the actions) is old news:
    # read, and never mailed by the first digest.
    Notification.objects.filter(email_state__in=[EmailState.QUEUED, EmailState.DIGEST]).update(
        email_state=EmailState.NONE
    )
    Notification.objects.filter(read_at__isnull=True).update(read_at=timezone.now())
    receiver = actions.create_receiver(actor=admin, name=DEMO_RECEIVER)
    url = actions.receiver_url(receiver)
    hooks = [
        actions.create_webhook(
            actor=admin, name="Demo webhook (JSON)", url=url, fmt=WebhookFormat.JSON
        ),
        actions.create_webhook(
            actor=admin,
            name="Demo webhook (Slack format)",
            url=url,
            fmt=WebhookFormat.SLACK,
            kinds=[Kind.SLA_AT_RISK, Kind.SLA_BREACHED, Kind.CHANNEL_UNHEALTHY],
        ),
    ]
    # Delivered once the demo's worker and server are up (retried until then).
    actions.send_test(hooks[0], actor=admin)
    return hooks


def point_at(site_url: str) -> int:
    """Point the demo's webhooks at its receiver on the server actually running (its port is
    chosen at `comptoir demo --serve`, after the data was loaded). Returns how many moved."""
    from django.urls import reverse

    moved = 0
    for receiver in TestReceiver.objects.filter(name=DEMO_RECEIVER):
        old_path = reverse("test_hook", args=[receiver.token])
        url = site_url.rstrip("/") + old_path
        # Demo data only: the hooks keep their secret, kinds and history; only the host moves.
        moved += Webhook.objects.filter(url__endswith=old_path).exclude(url=url).update(url=url)
    return moved
