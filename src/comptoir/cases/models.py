"""A case: a return, refund or dispute followed to its end, on one conversation (and its order
when known). Its words (kinds, stages, outcomes, the marketplaces' procedures) are
`comptoir.lib.cases`; every change goes through `cases.actions`, which writes the timeline.

A claim the marketplace opened carries the marketplace's id (`external_id`), unique on its
channel: a connector that reads the claim again updates its case, never opens a second one. The
same pair names the case when the seller's answer goes back to the marketplace (respond, refund,
close): those outbound steps will be rows of their own, queued then claimed like replies
(`docs/cases.md`), so that each reaches the marketplace exactly once.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from comptoir.lib import cases as words


def _choices(table: Mapping[str, object]) -> list[tuple[str, object]]:
    return list(table.items())


class Stage(models.TextChoices):
    OPEN = "open", words.STAGES["open"]
    WAITING_BUYER = "waiting_buyer", words.STAGES["waiting_buyer"]
    WAITING_CARRIER = "waiting_carrier", words.STAGES["waiting_carrier"]
    WAITING_MARKETPLACE = "waiting_marketplace", words.STAGES["waiting_marketplace"]
    RESOLVED = "resolved", words.STAGES["resolved"]


class OpenedBy(models.TextChoices):
    AGENT = "agent", words.OPENERS["agent"]
    RULE = "rule", words.OPENERS["rule"]
    MARKETPLACE = "marketplace", words.OPENERS["marketplace"]


class Case(models.Model):
    conversation = models.ForeignKey(
        "inbox.Conversation", on_delete=models.CASCADE, related_name="cases"
    )
    # The conversation's channel when the case was opened: the scope of `external_id`.
    channel = models.ForeignKey("inbox.Channel", on_delete=models.PROTECT, related_name="+")
    order = models.ForeignKey(
        "orders.Order", null=True, blank=True, on_delete=models.SET_NULL, related_name="cases"
    )
    kind = models.CharField(max_length=24, choices=_choices(words.KINDS))
    claim_kind = models.CharField(
        max_length=24, blank=True, default="", choices=_choices(words.CLAIM_KINDS)
    )
    # The marketplace's reason and status as it gave them (DEFECTIVE_ITEM, WAITING_CS).
    reason = models.CharField(max_length=64, blank=True, default="")
    marketplace_status = models.CharField(max_length=64, blank=True, default="")
    external_id = models.CharField(max_length=255, blank=True, default="")
    stage = models.CharField(max_length=24, choices=Stage.choices, default=Stage.OPEN)
    outcome = models.CharField(
        max_length=24, blank=True, default="", choices=_choices(words.OUTCOMES)
    )
    refund_amount = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    # What the buyer claims (eBay's claim amount) and the refund are in this currency.
    claimed_amount = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True, default="")
    rejection_reason = models.CharField(max_length=500, blank=True, default="")
    # The marketplace's respond-by for the claim (or one the agent set).
    deadline = models.DateTimeField(null=True, blank=True)
    opened_by = models.CharField(max_length=16, choices=OpenedBy.choices)
    opened_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    opened_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    outcome_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # The deadline the last warning was about (`cases.deadlines`): one warning per deadline,
    # and a new one if the marketplace or the agent moves it.
    deadline_warned_for = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "external_id"],
                condition=~Q(external_id=""),
                name="case_claim_once_per_channel",
            )
        ]
        indexes = [
            # The case list (open ones by deadline) and the inbox rows' badge.
            models.Index(fields=["stage", "deadline"], name="case_stage_deadline"),
            models.Index(fields=["conversation", "stage"], name="case_conversation_stage"),
            models.Index(fields=["opened_at"], name="case_opened_at"),
        ]

    def __str__(self) -> str:
        return f"case {self.pk} ({self.kind}) on {self.conversation_id}"

    @property
    def is_open(self) -> bool:
        return self.stage != Stage.RESOLVED

    @property
    def label(self) -> str:
        """The marketplace's procedure when there is one, else the kind."""
        return words.claim_label(self.claim_kind) or words.kind_label(self.kind)


# -- the seller's answer, told to the marketplace (`cases.operations`, `cases.sync_out`) ---------


class OperationKind(models.TextChoices):
    RESPOND = "respond", words.OPERATIONS["respond"]
    REFUND = "refund", words.OPERATIONS["refund"]
    CLOSE = "close", words.OPERATIONS["close"]
    # Spartoo's returns: the seller accepts or refuses the item sent back.
    ACCEPT_RETURN = "accept_return", words.OPERATIONS["accept_return"]
    REFUSE_RETURN = "refuse_return", words.OPERATIONS["refuse_return"]


class CaseOperation(models.Model):
    """One outbound step on the marketplace's claim, delivered exactly once as a reply is:
    queued by an action, claimed by a task (`queued → sending`), looked for on the
    marketplace before any retry, then `sent` (with what the marketplace answered) or `failed`
    (with the reason, and Retry)."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="operations")
    kind = models.CharField(max_length=16, choices=OperationKind.choices)
    # {"text": ...} for respond, {"amount": "25.00", "currency": "EUR", "text": ...} for refund.
    payload = models.JSONField(default=dict, blank=True)
    # The inbox's DeliveryState (queued, sending, sent, failed), by value: cases sits above it.
    delivery_state = models.CharField(max_length=16, default="queued")
    attempts = models.PositiveIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    # When the first attempt began: what the marketplace shows from before is not this step.
    started_at = models.DateTimeField(null=True, blank=True)
    # Set just before a request leaves, cleared when the marketplace said no: while set, a
    # retry that does not find the step waits for the connector's settle time.
    posted_at = models.DateTimeField(null=True, blank=True)
    external_id = models.CharField(max_length=255, blank=True, default="")
    error = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # The sweep of steps a dead worker left "sending".
            models.Index(fields=["delivery_state", "claimed_at"], name="caseop_state_claimed"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} of case {self.case_id} ({self.delivery_state})"
