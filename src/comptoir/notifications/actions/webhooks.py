"""The webhooks (owners and admins manage them) and the test receiver that shows what they post."""

from __future__ import annotations

import functools
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from comptoir.accounts import permissions
from comptoir.accounts.models import User
from comptoir.lib import http
from comptoir.notifications.actions.payloads import sign, webhook_body
from comptoir.notifications.kinds import TEST_KIND, Kind

if TYPE_CHECKING:
    from comptoir.notifications.models import (
        ReceivedPayload,
        TestReceiver,
        Webhook,
        WebhookDelivery,
    )


def enqueue_webhook(delivery_id: int) -> None:
    from comptoir.notifications.tasks import deliver_webhook

    deliver_webhook.enqueue(delivery_id)


def _require_admin(actor: User) -> None:
    if not permissions.can_manage_channels(actor):
        raise PermissionDenied("webhooks are for owners and admins")


def create_webhook(
    *,
    actor: User,
    name: str,
    url: str,
    fmt: str,
    kinds: Sequence[str] = (),
    user: User | None = None,
    secret: str | None = None,
) -> Webhook:
    """A new webhook, with a generated signing secret unless one is given ('' for none)."""
    from comptoir.notifications.models import Webhook, WebhookFormat

    _require_admin(actor)
    if fmt not in WebhookFormat.values:
        raise ValidationError(f"unknown webhook format {fmt!r}")
    if not url.startswith(("http://", "https://")):
        raise ValidationError("a webhook URL starts with http:// or https://")
    try:
        # The rule every request follows (lib.http), told now rather than at the first event.
        http.check_url(url)
    except (http.AddressNotAllowed, ValueError) as exc:
        raise ValidationError(f"webhook URL: {exc}") from None
    unknown = sorted(set(kinds) - set(Kind.values))
    if unknown:
        raise ValidationError(f"unknown notification kinds: {', '.join(unknown)}")
    hook = Webhook(
        name=name.strip() or url,
        url=url,
        format=fmt,
        kinds=[Kind(k).value for k in kinds],
        user=user,
        created_by=actor,
    )
    hook.set_secret(Webhook.new_secret() if secret is None else secret)
    hook.full_clean(exclude=["secret_encrypted", "kinds"])
    hook.save()
    return hook


def set_webhook_active(hook: Webhook, *, actor: User, active: bool) -> None:
    _require_admin(actor)
    type(hook).objects.filter(pk=hook.pk).update(is_active=active)
    hook.is_active = active


def delete_webhook(hook: Webhook, *, actor: User) -> None:
    _require_admin(actor)
    hook.delete()


def send_test(hook: Webhook, *, actor: User) -> WebhookDelivery:
    """Queue a test post to `hook` (active or not); the settings page shows how it went."""
    from comptoir.notifications.models import WebhookDelivery

    _require_admin(actor)
    now = timezone.now()
    body = webhook_body(
        hook.format,
        TEST_KIND,
        _("Sent by %(name)s from the notification settings.") % {"name": actor.display_name},
        [],
        None,
        now,
    )
    with transaction.atomic():
        delivery = WebhookDelivery.objects.create(
            webhook=hook, kind=TEST_KIND, body=body, created_at=now
        )
        transaction.on_commit(functools.partial(enqueue_webhook, delivery.pk))
    return delivery


# -- the test receiver -------------------------------------------------------------------------

RECEIVER_KEEP = 200


def create_receiver(*, actor: User, name: str) -> TestReceiver:
    from comptoir.notifications.models import TestReceiver

    _require_admin(actor)
    return TestReceiver.objects.create(name=name or "Test receiver", token=TestReceiver.new_token())


@dataclass(frozen=True)
class NewReceiver:
    receiver: TestReceiver
    webhook: Webhook | None = None
    # Why the webhook to it was refused (this site's own address may be a private one).
    webhook_error: str = ""


def create_receiver_with_webhook(*, actor: User, name: str, fmt: str) -> NewReceiver:
    """A test receiver and a webhook posting to it (the page's "with a webhook"); the receiver
    is kept when the webhook is refused, with the reason."""
    receiver = create_receiver(actor=actor, name=name)
    try:
        hook = create_webhook(actor=actor, name=receiver.name, url=receiver_url(receiver), fmt=fmt)
    except ValidationError as exc:
        return NewReceiver(receiver, None, "; ".join(exc.messages))
    return NewReceiver(receiver, hook)


def receiver_url(receiver: TestReceiver) -> str:
    return settings.SITE_URL + reverse("test_hook", args=[receiver.token])


def record_received(
    receiver: TestReceiver, *, body: bytes, signature: str, timestamp: str
) -> ReceivedPayload:
    """Keep a payload the test receiver got; check its signature against the secrets of the
    webhooks that point at this receiver."""
    from comptoir.notifications.models import ReceivedPayload, Webhook

    valid: bool | None = None
    secrets = [
        h.secret
        for h in Webhook.objects.filter(url__endswith=f"/hooks/test/{receiver.token}/")
        if h.secret_encrypted
    ]
    if secrets:
        valid = bool(signature) and any(
            hmac.compare_digest(sign(s, timestamp, body), signature) for s in secrets
        )
    payload = ReceivedPayload.objects.create(
        receiver=receiver,
        body=body.decode("utf-8", errors="replace"),
        signature=signature[:200],
        signature_valid=valid,
    )
    # Keep the newest only: the receiver is open to anyone holding its token.
    old = ReceivedPayload.objects.filter(receiver=receiver).order_by("-id")[RECEIVER_KEEP:]
    stale = list(old.values_list("pk", flat=True)[:1000])
    if stale:
        ReceivedPayload.objects.filter(pk__in=stale).delete()
    return payload
