"""What was told to whom, how each user wants to be told, and where webhooks go.

A `Notification` is one recipient's copy of one thing that happened (about one conversation or one
channel): it is their list of recent notifications and the state of its email. Webhook payloads
are kept apart (`WebhookDelivery`), one per webhook and per `notify()` call, so that a sweep over
thousands of conversations posts one message to Slack, not thousands.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from comptoir.lib.crypto import decrypt, encrypt
from comptoir.notifications.kinds import Kind


class EmailChoice(models.TextChoices):
    NOW = "now", _("Email at once")
    DIGEST = "digest", _("In the digest")
    OFF = "off", _("No email")


class EmailState(models.TextChoices):
    NONE = "none", _("No email")  # the recipient wants none for this kind
    QUEUED = "queued", _("Queued")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Emailed")
    FAILED = "failed", _("Email failed")
    DIGEST = "digest", _("Waiting for the digest")
    DIGESTED = "digested", _("Sent in a digest")


class Notification(models.Model):
    # Indexed by the composite indexes below, which start with it.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="notifications",
        db_index=False,
    )
    kind = models.CharField(max_length=32, choices=Kind.choices)
    conversation = models.ForeignKey(
        "inbox.Conversation", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    channel = models.ForeignKey(
        "inbox.Channel", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    # What the list and the mail say (the conversation's subject is read when shown).
    text = models.TextField(blank=True, default="")
    # One notify() call: its delivery task finds its rows by this, not by a list of ids.
    batch = models.CharField(max_length=32, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)
    email_state = models.CharField(
        max_length=16, choices=EmailState.choices, default=EmailState.NONE
    )
    email_attempts = models.PositiveSmallIntegerField(default=0)
    emailed_at = models.DateTimeField(null=True, blank=True)
    email_error = models.TextField(blank=True, default="")

    class Meta:
        indexes = [
            # The user's list (newest first), the unread count and the flood window.
            models.Index(fields=["user", "created_at", "id"], name="notif_user_recent"),
            models.Index(
                fields=["user"], condition=Q(read_at__isnull=True), name="notif_user_unread"
            ),
            # The digest job's pending rows.
            models.Index(
                fields=["user", "id"],
                condition=Q(email_state="digest"),
                name="notif_digest_pending",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} for {self.user_id}"


class Preference(models.Model):
    """A user's choice for one kind; no row means the default (email at once, webhook on)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    kind = models.CharField(max_length=32, choices=Kind.choices)
    email = models.CharField(max_length=8, choices=EmailChoice.choices, default=EmailChoice.NOW)
    webhook = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "kind"], name="notification_pref_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.kind}: {self.email}"


class WebhookFormat(models.TextChoices):
    JSON = "json", _("JSON")
    SLACK = "slack", _("Slack-compatible")


class Webhook(models.Model):
    """An address that gets a POST for the kinds it wants.

    Without `user`, it hears every notification of its kinds (a team's Slack channel); with a
    user, only what that user is notified of and chose to receive by webhook.
    """

    name = models.CharField(max_length=100)
    url = models.URLField(max_length=500)
    # The kinds it wants; empty means all.
    kinds = models.JSONField(default=list, blank=True)
    format = models.CharField(max_length=8, choices=WebhookFormat.choices)
    secret_encrypted = models.TextField(blank=True, default="")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="webhooks",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    # The HTTP status of the last attempt (None: no answer at all, see last_error).
    last_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")

    def __str__(self) -> str:
        return self.name

    @property
    def secret(self) -> str:
        return (
            decrypt(self.secret_encrypted, settings.ENCRYPTION_KEY) if self.secret_encrypted else ""
        )

    def set_secret(self, raw: str) -> None:
        self.secret_encrypted = encrypt(raw, settings.ENCRYPTION_KEY) if raw else ""

    def wants(self, kind: str) -> bool:
        return not self.kinds or kind in self.kinds

    @staticmethod
    def new_secret() -> str:
        return "whsec_" + secrets.token_urlsafe(24)


class DeliveryState(models.TextChoices):
    QUEUED = "queued", _("Queued")
    SENDING = "sending", _("Sending")
    RETRYING = "retrying", _("Will retry")
    SENT = "sent", _("Delivered")
    FAILED = "failed", _("Failed")


class WebhookDelivery(models.Model):
    """One POST to one webhook, with its retries."""

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    kind = models.CharField(max_length=32)
    # The body as sent (JSON text), so that a retry sends the same bytes.
    body = models.TextField()
    state = models.CharField(
        max_length=16, choices=DeliveryState.choices, default=DeliveryState.QUEUED
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["webhook", "-created_at"], name="webhook_delivery_recent")]

    def __str__(self) -> str:
        return f"{self.kind} to {self.webhook_id}: {self.state}"


class TestReceiver(models.Model):
    """A webhook receiver inside Comptoir (`/hooks/test/<token>/`), for the demo and for trying
    a webhook before pointing it at Slack: it keeps the payloads it receives."""

    __test__ = False  # not a pytest class, whatever its name

    name = models.CharField(max_length=100)
    token = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name

    @staticmethod
    def new_token() -> str:
        return secrets.token_urlsafe(18)


class ReceivedPayload(models.Model):
    receiver = models.ForeignKey(TestReceiver, on_delete=models.CASCADE, related_name="payloads")
    received_at = models.DateTimeField(default=timezone.now)
    body = models.TextField()
    signature = models.CharField(max_length=200, blank=True, default="")
    # Checked against the secrets of the webhooks that point here; None: none to check with.
    signature_valid = models.BooleanField(null=True)

    class Meta:
        indexes = [models.Index(fields=["receiver", "-id"], name="received_payload_recent")]

    def __str__(self) -> str:
        return f"payload {self.pk} to {self.receiver_id}"
