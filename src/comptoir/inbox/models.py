"""The inbox: shops, channels, customers, conversations, messages and their timeline.
Conversations are changed only through `comptoir.inbox.actions`."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from comptoir.inbox.choices import ChannelKind as ChannelKind
from comptoir.inbox.choices import EventKind as EventKind
from comptoir.inbox.choices import Marketplace as Marketplace
from comptoir.inbox.choices import TriageSource as TriageSource
from comptoir.inbox.choices import label_of
from comptoir.lib.crypto import decrypt, encrypt


class Shop(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(unique=True)
    language = models.CharField(max_length=8, default="fr")
    country = models.CharField(max_length=2, default="FR")
    timezone = models.CharField(max_length=64, default="Europe/Paris")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Channel(models.Model):
    """One configured source of messages: "Amazon FR mailbox", "Darty via Mirakl"."""

    shop = models.ForeignKey(Shop, on_delete=models.PROTECT, related_name="channels")
    kind = models.CharField(max_length=16, choices=ChannelKind.choices)
    marketplace = models.CharField(
        max_length=16, choices=Marketplace.choices, default=Marketplace.OWN_SHOP
    )
    name = models.CharField(max_length=200)
    team = models.ForeignKey(
        "accounts.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="channels"
    )
    is_active = models.BooleanField(default=True)
    # Connector settings (credentials included) as encrypted JSON; see get_settings().
    settings_encrypted = models.TextField(blank=True, default="")
    cursor = models.JSONField(default=dict, blank=True)
    is_healthy = models.BooleanField(default=True)
    last_error = models.TextField(blank=True, default="")
    last_error_at = models.DateTimeField(null=True, blank=True)
    last_sync_at = models.DateTimeField(null=True, blank=True)
    # Transient failures (the marketplace unreachable, 5xx) in a row since the last good poll:
    # after enough of them for long enough the channel shows as failing and the admins are told
    # once (`degraded_at`); polls go on, and the next good one clears all of it.
    failure_count = models.PositiveIntegerField(default=0)
    failing_since = models.DateTimeField(null=True, blank=True)
    degraded_at = models.DateTimeField(null=True, blank=True)
    # The marketplace asked us to wait (Retry-After): no scheduled poll before this.
    poll_after = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name

    @property
    def health(self) -> str:
        """One of: stopped (needs an admin), failing (not read for a while), working."""
        if not self.is_healthy:
            return "stopped"
        return "failing" if self.degraded_at is not None else "working"

    def get_settings(self) -> dict[str, Any]:
        if not self.settings_encrypted:
            return {}
        data: dict[str, Any] = json.loads(decrypt(self.settings_encrypted, settings.ENCRYPTION_KEY))
        return data

    def set_settings(self, data: dict[str, Any]) -> None:
        self.settings_encrypted = encrypt(json.dumps(data), settings.ENCRYPTION_KEY)


class Customer(models.Model):
    """A buyer; one person may be seen on several channels (see CustomerIdentity)."""

    name = models.CharField(max_length=200, blank=True)
    email = models.CharField(max_length=254, blank=True, db_index=True)
    language = models.CharField(max_length=8, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name or self.email or f"customer {self.pk}"


class CustomerIdentity(models.Model):
    """How a channel names a buyer: an email, an Amazon alias, an eBay user id..."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="identities")
    kind = models.CharField(max_length=32)
    value = models.CharField(max_length=320)
    channel = models.ForeignKey(
        Channel, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "value"], name="identity_unique_kind_value")
        ]
        verbose_name_plural = "customer identities"

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


class Tag(models.Model):
    name = models.CharField(max_length=64, unique=True)
    color = models.CharField(max_length=16, default="#6b7280")

    def __str__(self) -> str:
        return self.name


class Status(models.TextChoices):
    OPEN = "open", _("Open")
    PENDING = "pending", _("Pending")
    SNOOZED = "snoozed", _("Snoozed")
    RESOLVED = "resolved", _("Resolved")


class Priority(models.IntegerChoices):
    LOW = 0, _("Low")
    NORMAL = 1, _("Normal")
    HIGH = 2, _("High")
    URGENT = 3, _("Urgent")


class SLAState(models.TextChoices):
    """Where a conversation stands against its respond-by (moved by `comptoir.sla.sweep`)."""

    NONE = "none", _("No deadline")
    OK = "ok", _("On time")
    AT_RISK = "at_risk", _("At risk")
    BREACHED = "breached", _("Breached")


# Choice labels by value, for the get_*_display methods below: Django's own builds a dict of
# every choice at each call (make_hashable on lazy labels, ~0.1 ms; a conversation page made
# six calls, an event's description walked EventKind's sixty choices).
_STATUS_LABELS: dict[str, Any] = dict(Status.choices)


class Conversation(models.Model):
    shop = models.ForeignKey(Shop, on_delete=models.PROTECT, related_name="conversations")
    # FK indexes left out where a composite index below starts with the same column.
    channel = models.ForeignKey(
        Channel, on_delete=models.PROTECT, related_name="conversations", db_index=False
    )
    customer = models.ForeignKey(
        Customer,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="conversations",
        db_index=False,
    )
    order = models.ForeignKey(
        "orders.Order",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="conversations",
    )
    # The order number as the buyer or marketplace gave it, even before the order is synced.
    order_number = models.CharField(max_length=64, blank=True, default="")
    # The channel's own thread id (Mirakl thread, eBay conversation...).
    external_thread_id = models.CharField(max_length=255, blank=True, default="")
    subject = models.CharField(max_length=500, blank=True, default="")
    snippet = models.CharField(max_length=200, blank=True, default="")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_conversations",
    )
    team = models.ForeignKey(
        "accounts.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.NORMAL)
    tags = models.ManyToManyField(Tag, blank=True, related_name="conversations")
    language = models.CharField(max_length=8, blank=True, default="")
    # True while `language` is triage's reading: the next reading may change it; a language a
    # connector or an agent gave is never overruled (see `set_language`).
    language_by_triage = models.BooleanField(default=False)
    # What the buyer writes about (`comptoir.lib.intents`), from the latest message that says
    # something: who set it decides who may change it (a marketplace's reason and an agent's
    # correction are never overruled by triage's reading).
    intent = models.CharField(max_length=32, blank=True, default="")
    intent_source = models.CharField(
        max_length=12, choices=TriageSource.choices, blank=True, default=TriageSource.NONE
    )
    urgency = models.CharField(max_length=8, blank=True, default="")
    sentiment = models.CharField(max_length=8, blank=True, default="")
    needs_reply = models.BooleanField(default=False)
    respond_by = models.DateTimeField(null=True, blank=True)
    # Set together with respond_by (see comptoir.sla.policies); the sweep moves the state on.
    sla_state = models.CharField(max_length=8, choices=SLAState.choices, default=SLAState.NONE)
    sla_at_risk_at = models.DateTimeField(null=True, blank=True)
    snoozed_until = models.DateTimeField(null=True, blank=True)
    first_inbound_at = models.DateTimeField(null=True, blank=True)
    first_response_at = models.DateTimeField(null=True, blank=True)
    last_inbound_at = models.DateTimeField(null=True, blank=True)
    last_outbound_at = models.DateTimeField(null=True, blank=True)
    last_message_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    reopened_count = models.PositiveIntegerField(default=0)
    message_count = models.PositiveIntegerField(default=0)
    archived = models.BooleanField(default=False)
    deleted_at = models.DateTimeField(null=True, blank=True)
    merged_into = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="merged_from",
        db_index=False,  # conv_merged_into below: the merged ones only
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # One live conversation per channel thread: two processes racing on the first
            # messages of a thread end up in one conversation (the loser retries and finds it).
            models.UniqueConstraint(
                fields=["channel", "external_thread_id"],
                condition=~Q(external_thread_id="")
                & Q(merged_into__isnull=True)
                & Q(deleted_at__isnull=True),
                name="conversation_unique_live_thread",
            )
        ]
        indexes = [
            models.Index(fields=["status", "respond_by", "id"], name="conv_status_respond_by"),
            models.Index(fields=["needs_reply", "respond_by", "id"], name="conv_needs_reply"),
            models.Index(fields=["assignee", "status", "respond_by"], name="conv_assignee"),
            models.Index(fields=["channel", "status", "respond_by"], name="conv_channel"),
            models.Index(fields=["channel", "external_thread_id"], name="conv_thread"),
            # The SLA sweep: what turns at risk, what turns breached.
            models.Index(fields=["sla_state", "sla_at_risk_at"], name="conv_sla_at_risk"),
            models.Index(fields=["sla_state", "respond_by"], name="conv_sla_breach"),
            models.Index(fields=["channel", "order_number"], name="conv_order_number"),
            models.Index(fields=["last_message_at", "id"], name="conv_last_message"),
            models.Index(fields=["customer", "last_message_at"], name="conv_customer"),
            # The resolved and snoozed views, newest first: through the index of all
            # conversations by date, a list of resolved ones walked past every open one first
            # (at 1,000,000 on SQLite: 0.33 s a page).
            models.Index(fields=["status", "last_message_at", "id"], name="conv_status_recent"),
            # The archived view (rare rows): without it, listing or counting it walked every
            # conversation (at 1,000,000 on SQLite: 5 s a page when none is archived).
            models.Index(
                fields=["last_message_at", "id"],
                condition=Q(archived=True),
                name="conv_archived",
            ),
            # The nav's per-channel counts of what waits for a reply, read off this index alone
            # (at 1,000,000 on SQLite: 0.21 s each time the counts expire, 0.02 s with it).
            models.Index(
                fields=[
                    "needs_reply",
                    "channel",
                    "team",
                    "status",
                    "archived",
                    "deleted_at",
                    "merged_into",
                ],
                # `pk > 0`: only the count says it (`queries.source_counts_query`).
                condition=Q(needs_reply=True, pk__gt=0),
                name="conv_waiting",
            ),
            # The conversations merged into one (rare rows). A plain index of the column held
            # every live conversation under NULL, and SQLite read it for "not merged": the
            # archived view's count walked all of them (0.25 s at 1,000,000), not conv_archived.
            models.Index(
                fields=["merged_into"],
                condition=Q(merged_into__isnull=False),
                name="conv_merged_into",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.subject}"[:80]

    @property
    def is_visible(self) -> bool:
        return self.deleted_at is None and self.merged_into_id is None

    # Django's own, without its dict of every choice per call.
    def get_status_display(self) -> str:  # type: ignore[no-redef]
        return label_of(_STATUS_LABELS, self.status)


class Direction(models.TextChoices):
    IN = "in", _("Inbound")
    OUT = "out", _("Outbound")
    NOTE = "note", _("Internal note")


class DeliveryState(models.TextChoices):
    NONE = "", _("Not applicable")
    QUEUED = "queued", _("Queued")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")
    # A failed message an agent edited and sent again as a new message: never sent itself.
    REPLACED = "replaced", _("Replaced")


class Message(models.Model):
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages", db_index=False
    )
    # Denormalised so that (channel, external_id), the ingest key, can be unique; no index of
    # its own: `msg_channel_created` starts with it.
    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="+", db_index=False)
    direction = models.CharField(max_length=4, choices=Direction.choices)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    author_name = models.CharField(max_length=200, blank=True, default="")
    external_id = models.CharField(max_length=255, blank=True, default="")
    message_id = models.CharField(max_length=998, blank=True, default="")  # RFC 5322 Message-ID
    in_reply_to = models.CharField(max_length=998, blank=True, default="")
    references = models.TextField(blank=True, default="")
    subject = models.CharField(max_length=500, blank=True, default="")
    text = models.TextField(blank=True, default="")
    # The new part of `text` (an email reply without its quoted history), or "" when all is new.
    new_text = models.TextField(blank=True, default="")
    # What triage read in an inbound message's new text after ingest: a language code,
    # "unknown" (too short or ambiguous), or "" (not read yet).
    language = models.CharField(max_length=8, blank=True, default="")
    # The marketplace's own reason for the message as it gave it (eBay claim reason, Mirakl
    # reason code, Cdiscount claim type, Fnac incident type), "" when it gave none.
    marketplace_reason = models.CharField(max_length=64, blank=True, default="")
    # Triage's reading of an inbound message (`triaged_at` set once read): the intent
    # (`comptoir.lib.intents`, or "unsure") with its confidence and source, the urgency
    # (low/normal/high), the sentiment (negative/neutral/positive) and the order and parcel
    # numbers, amounts, dates and product codes found (`triage.entities`).
    intent = models.CharField(max_length=32, blank=True, default="")
    intent_confidence = models.FloatField(null=True, blank=True)
    intent_source = models.CharField(
        max_length=12, choices=TriageSource.choices, blank=True, default=TriageSource.NONE
    )
    urgency = models.CharField(max_length=8, blank=True, default="")
    sentiment = models.CharField(max_length=8, blank=True, default="")
    entities = models.JSONField(default=list, blank=True)
    triaged_at = models.DateTimeField(null=True, blank=True)
    html = models.TextField(blank=True, default="")  # sanitised with nh3, never raw
    is_auto = models.BooleanField(default=False)
    sent_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    delivery_state = models.CharField(
        max_length=8, choices=DeliveryState.choices, blank=True, default=DeliveryState.NONE
    )
    delivery_error = models.TextField(blank=True, default="")
    delivery_attempts = models.PositiveSmallIntegerField(default=0)
    # When a worker took it for sending: a message stuck in "sending" is found by its age.
    delivery_claimed_at = models.DateTimeField(null=True, blank=True)
    # When the first attempt to send it began: a marketplace message older than that (give or
    # take the clocks' skew) cannot be this one (see Connector.pick_sent).
    delivery_started_at = models.DateTimeField(null=True, blank=True)
    # When the last request that may have reached the marketplace went out, until its outcome
    # is known: no second copy is posted while the first may still be stored (see send_message).
    delivery_posted_at = models.DateTimeField(null=True, blank=True)
    inbound_record = models.ForeignKey(
        "InboundRecord", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The message as it arrived (an email's .eml), content-addressed under var/files/ (indexed:
    # the purge asks whether another message still names a file before removing it).
    source_sha256 = models.CharField(max_length=64, blank=True, default="", db_index=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "external_id"],
                condition=~Q(external_id=""),
                name="message_unique_channel_external_id",
            )
        ]
        indexes = [
            models.Index(fields=["conversation", "created_at"], name="msg_conversation"),
            models.Index(fields=["channel", "created_at"], name="msg_channel_created"),  # SLA
            models.Index(fields=["message_id"], name="msg_message_id"),
            models.Index(fields=["delivery_state"], name="msg_delivery_state"),
        ]

    def __str__(self) -> str:
        return f"{self.direction} {self.subject or self.text[:40]}"


class ThreadRef(models.Model):
    """A Message-ID a message carries or refers to (In-Reply-To, References), kept even when
    no stored message has it: threading finds, from either side, the conversations a message
    belongs with, whatever order they arrive in (a parent arriving after its replies joins
    them; a message naming two conversations' ids proves they are one thread). It points at
    the message, not the conversation: a merge that moves messages moves these."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="+")
    # The message's channel: threading never crosses mailboxes.
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="+", db_index=False)
    ref = models.CharField(max_length=998)

    class Meta:
        indexes = [models.Index(fields=["channel", "ref"], name="thread_ref_lookup")]

    def __str__(self) -> str:
        return self.ref


class Attachment(models.Model):
    """A file kept content-addressed under FILES_DIR (same bytes stored once)."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=255, default="application/octet-stream")
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64, blank=True, default="", db_index=True)
    content_id = models.CharField(max_length=255, blank=True, default="")
    inline = models.BooleanField(default=False)
    # Why the file was not kept (over the size limit...); the row stays so the agent knows.
    dropped_reason = models.CharField(max_length=255, blank=True, default="")

    def __str__(self) -> str:
        return self.filename


_EVENT_LABELS: dict[str, Any] = dict(EventKind.choices)


class Event(models.Model):
    """One line of a conversation's timeline, and of the audit trail."""

    conversation = models.ForeignKey(
        Conversation,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="events",
        db_index=False,
    )
    kind = models.CharField(max_length=32, choices=EventKind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Who acted when no user did: "system", "rule:12", "connector:email"...
    actor_label = models.CharField(max_length=64, blank=True, default="")
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["conversation", "created_at"], name="event_conversation")]

    def __str__(self) -> str:
        return f"{self.kind} on {self.conversation_id}"

    # Django's own, without its dict of every choice per call.
    def get_kind_display(self) -> str:  # type: ignore[no-redef]
        return label_of(_EVENT_LABELS, self.kind)


class InboundState(models.TextChoices):
    RECEIVED = "received", _("Received")
    STORED = "stored", _("Stored")
    DUPLICATE = "duplicate", _("Duplicate")
    FAILED = "failed", _("Failed")


class InboundRecord(models.Model):
    """The raw payload of an inbound message, written before anything else and kept until stored.

    A failure leaves it `failed` with its error: visible (`comptoir inbound list --failed`) and
    retryable (`comptoir inbound retry`).
    """

    channel = models.ForeignKey(
        Channel, null=True, blank=True, on_delete=models.SET_NULL, related_name="inbound_records"
    )
    external_id = models.CharField(max_length=255, blank=True, default="")
    source = models.CharField(max_length=32, default="connector")  # connector, api, import
    raw = models.BinaryField()
    state = models.CharField(
        max_length=16, choices=InboundState.choices, default=InboundState.RECEIVED
    )
    error = models.TextField(blank=True, default="")
    attempts = models.PositiveSmallIntegerField(default=0)
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["state", "received_at"], name="inbound_state"),
            models.Index(fields=["channel", "external_id"], name="inbound_channel_external"),
        ]

    def __str__(self) -> str:
        return f"inbound {self.pk} ({self.state})"


class WebhookHealth(models.Model):
    """What a webhook channel (Meta's) last heard, for its health on the channels page: the
    last signed delivery, the last one with receipts, and the refused signatures of the last
    24 hours (their times, at most `webhook_ports.BAD_SIGNATURES_KEPT`)."""

    channel = models.OneToOneField(
        Channel, primary_key=True, on_delete=models.CASCADE, related_name="webhook_health"
    )
    last_received_at = models.DateTimeField(null=True, blank=True)
    last_status_at = models.DateTimeField(null=True, blank=True)
    last_bad_signature_at = models.DateTimeField(null=True, blank=True)
    bad_signatures = models.JSONField(default=list, blank=True)

    def __str__(self) -> str:
        return f"webhook health of channel {self.channel_id}"


class SavedView(models.Model):
    """A user's own inbox view: a name and the inbox URL's filters, bookmarkable in the nav."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views"
    )
    name = models.CharField(max_length=80)
    query = models.CharField(max_length=1000)  # the inbox URL's query string
    position = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "name"], name="saved_view_unique_name")
        ]

    def __str__(self) -> str:
        return self.name


class PresenceState(models.TextChoices):
    VIEWING = "viewing", _("Viewing")
    REPLYING = "replying", _("Replying")


class Presence(models.Model):
    """Who has a conversation open, and who is writing in it, as of `seen_at`: shown to the
    other agents ("Marie is replying") so two of them do not answer the same buyer."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    state = models.CharField(max_length=16, choices=PresenceState.choices)
    seen_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["conversation", "user"], name="presence_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.state} {self.conversation_id}"


class ComposerDraft(models.Model):
    """An agent's unsent answer, saved as they type so that it survives a reload or a crash."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    text = models.TextField(blank=True, default="")
    mode = models.CharField(max_length=8, default="reply")  # reply or note
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["conversation", "user"], name="composer_draft_unique")
        ]

    def __str__(self) -> str:
        return f"draft {self.user_id} on {self.conversation_id}"
