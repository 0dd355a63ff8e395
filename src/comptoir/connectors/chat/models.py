"""The chat's own state beside the inbox: who the visitors are and what the widget shows them.

The inbox keeps the conversation (messages, SLA, rules); this keeps what the widget needs at
once and without the inbox: the transcript it redraws after a reload, the visitor's typing and
leaving, the address given for an answer by email. Channels are named by id, as the connector
contract names them (no foreign key into the inbox).
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class ChatVisitor(models.Model):
    channel_id = models.IntegerField()
    # Random, in the signed token the widget keeps: the conversation's thread id in the inbox.
    key = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=200, blank=True, default="")
    email = models.CharField(max_length=254, blank=True, default="")
    order_number = models.CharField(max_length=64, blank=True, default="")
    language = models.CharField(max_length=8, blank=True, default="")
    # Outside business hours or with no agent online: answers go by email too.
    by_email = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    typing_at = models.DateTimeField(null=True, blank=True)
    left_at = models.DateTimeField(null=True, blank=True)
    transcript_sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["channel_id", "created_at"], name="chat_visitor_channel")]

    def __str__(self) -> str:
        return self.key


class ChatLine(models.Model):
    """One line of the widget's transcript: the visitor's (`in`) or an agent's (`out`)."""

    visitor = models.ForeignKey(ChatVisitor, on_delete=models.CASCADE, related_name="lines")
    direction = models.CharField(max_length=3)  # in, out
    # The widget's own id for a visitor's line, the send's idempotency key for an agent's:
    # a retried POST or a retried send is one line.
    client_id = models.CharField(max_length=64)
    text = models.TextField(blank=True, default="")
    author = models.CharField(max_length=200, blank=True, default="")  # the agent's first name
    attachment_name = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["visitor", "direction", "client_id"], name="chat_line_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.visitor_id} {self.direction} {self.client_id}"
