"""Templates (macros), pre-send check settings, and rules."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

# Templates and pre-send checks: the models of the templates work go here.


class Template(models.Model):
    """A canned answer (a macro), with one version per language (see TemplateVersion).

    Its bodies are sandboxed Jinja rendered by `automation.templating.render_template`.
    """

    # None: offered in every shop.
    shop = models.ForeignKey(
        "inbox.Shop", null=True, blank=True, on_delete=models.CASCADE, related_name="templates"
    )
    name = models.CharField(max_length=200)
    # Typed as `;where` in the composer; letters, digits, - and _ only.
    shortcut = models.CharField(max_length=32, blank=True, default="")
    category = models.CharField(max_length=64, blank=True, default="")
    # The intents (`comptoir.lib.intents`) it answers: the composer suggests it for them.
    intents = models.JSONField(default=list, blank=True)
    is_active = models.BooleanField(default=True)
    # Counted by automation.actions.record_template_use when a reply made from it is sent.
    usage_count = models.PositiveIntegerField(default=0)
    last_used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["shop", "shortcut"],
                condition=~Q(shortcut=""),
                name="template_unique_shop_shortcut",
            ),
            # NULLs are distinct in a unique index: the all-shops templates need their own.
            models.UniqueConstraint(
                fields=["shortcut"],
                condition=~Q(shortcut="") & Q(shop__isnull=True),
                name="template_unique_global_shortcut",
            ),
        ]
        indexes = [models.Index(fields=["is_active", "name"], name="template_active_name")]

    def __str__(self) -> str:
        return self.name


class TemplateVersion(models.Model):
    """A template in one language."""

    template = models.ForeignKey(Template, on_delete=models.CASCADE, related_name="versions")
    language = models.CharField(max_length=8)
    subject = models.CharField(max_length=500, blank=True, default="")
    body = models.TextField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["template", "language"], name="template_version_unique_language"
            )
        ]

    def __str__(self) -> str:
        return f"{self.template_id} [{self.language}]"


class TemplateAnswer(models.Model):
    """A buyer's message answered with a template: what `automation.suggest` compares a new
    message with. Written when a reply made from a template is queued."""

    template = models.ForeignKey(Template, on_delete=models.CASCADE, related_name="answers")
    shop = models.ForeignKey("inbox.Shop", on_delete=models.CASCADE, related_name="+")
    intent = models.CharField(max_length=32, blank=True, default="")
    language = models.CharField(max_length=8, blank=True, default="")
    buyer_text = models.TextField(blank=True, default="")
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["shop", "id"], name="template_answer_shop")]

    def __str__(self) -> str:
        return f"{self.template_id}: {self.buyer_text[:40]}"


class Suggestion(models.Model):
    """A template the composer suggested for a buyer's message, and whether the reply used it.
    `sent_text_distance` is how much the agent changed the suggested text (0 same, 1 all)."""

    conversation = models.ForeignKey(
        "inbox.Conversation", on_delete=models.CASCADE, related_name="+"
    )
    message = models.ForeignKey(
        "inbox.Message", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    template = models.ForeignKey(Template, on_delete=models.CASCADE, related_name="suggestions")
    rank = models.PositiveSmallIntegerField()
    rendered_text = models.TextField(blank=True, default="")
    shown_at = models.DateTimeField(default=timezone.now)
    taken = models.BooleanField(default=False)
    reply = models.ForeignKey(
        "inbox.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sent_text_distance = models.FloatField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "message", "template"], name="suggestion_once"
            )
        ]

    def __str__(self) -> str:
        return f"#{self.rank} {self.template_id} for {self.conversation_id}"


class TemplateUse(models.Model):
    """A reply made from a template, in its conversation: what the analytics count per template
    (uses, and the satisfaction that followed). `suggestion` is the composer's suggestion the
    agent took, when it came from one. Written when the reply is queued."""

    template = models.ForeignKey(Template, on_delete=models.CASCADE, related_name="uses")
    conversation = models.ForeignKey(
        "inbox.Conversation", on_delete=models.CASCADE, related_name="+"
    )
    reply = models.ForeignKey(
        "inbox.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    suggestion = models.ForeignKey(
        Suggestion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    used_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["used_at"], name="template_use_used_at")]

    def __str__(self) -> str:
        return f"{self.template_id} in {self.conversation_id}"


class CheckLevel(models.TextChoices):
    BLOCK = "block", _("Block sending")
    WARN = "warn", _("Warn")
    OFF = "off", _("Off")


class CheckSetting(models.Model):
    """How seriously one pre-send check is taken: for every channel (channel None), or for one
    channel, which wins. Without a row the check's default applies (automation.checks.CHECKS)."""

    code = models.CharField(max_length=32)
    channel = models.ForeignKey(
        "inbox.Channel",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="check_settings",
    )
    level = models.CharField(max_length=8, choices=CheckLevel.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["code", "channel"], name="check_setting_unique_channel"
            ),
            models.UniqueConstraint(
                fields=["code"],
                condition=Q(channel__isnull=True),
                name="check_setting_unique_default",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code}: {self.level}"


# Rules: the models of the rules work go below.


class Trigger(models.TextChoices):
    """What starts a rule. All but BUYER_SILENT are `inbox.models.Event` kinds."""

    MESSAGE_RECEIVED = "message_received", "Message received"
    CREATED = "created", "Conversation created"
    STATUS_CHANGED = "status_changed", "Status changed"
    SLA_AT_RISK = "sla_at_risk", "SLA at risk"
    SLA_BREACHED = "sla_breached", "SLA breached"
    ORDER_SHIPPED = "order_shipped", "Order shipped"
    ORDER_DELIVERED = "order_delivered", "Order delivered"
    ORDER_LATE = "order_late", "Order late to ship"
    # The buyer answered the satisfaction survey (see the `survey_score` condition).
    SURVEY_ANSWERED = "survey_answered", "Survey answered"
    # Time-based: found by a periodic query, not by an event.
    BUYER_SILENT = "buyer_silent", "No reply from the buyer for N days"


class Rule(models.Model):
    """When `trigger` happens and `conditions` hold, do `actions` (see automation.engine).

    `conditions` and `actions` are JSON validated by the pydantic models of
    `automation.conditions` and `automation.effects`; they are written only through
    `automation.rules` (which validates them).
    """

    shop = models.ForeignKey(
        "inbox.Shop", null=True, blank=True, on_delete=models.CASCADE, related_name="rules"
    )  # None: every shop
    name = models.CharField(max_length=200)
    trigger = models.CharField(max_length=32, choices=Trigger.choices)
    # For BUYER_SILENT: how many days after our last message.
    silent_days = models.PositiveSmallIntegerField(null=True, blank=True)
    conditions = models.JSONField(default=dict, blank=True)
    actions = models.JSONField(default=list, blank=True)
    position = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=True)
    stop_processing = models.BooleanField(default=False)
    # A rule acts on what happens after it was switched on, never on the history before.
    since_event_id = models.BigIntegerField(default=0)
    active_since = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "id"]
        indexes = [models.Index(fields=["is_active", "trigger"], name="rule_active_trigger")]

    def __str__(self) -> str:
        return self.name

    @property
    def actor_label(self) -> str:
        """The `Event.actor_label` of what this rule does (never triggers a rule again)."""
        return f"rule:{self.pk}"


class RunOutcome(models.TextChoices):
    DONE = "done", "Done"
    SKIPPED = "skipped", "Skipped"  # e.g. an auto-reply held back by the rate limit
    FAILED = "failed", "Failed"


class RuleRun(models.Model):
    """One rule applied once to one event (or, time-based, to one quiet period): the unique
    constraints are what makes a rule run at most once per event, whatever runs the pump."""

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="runs")
    conversation = models.ForeignKey(
        "inbox.Conversation", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    event = models.ForeignKey(
        "inbox.Event", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    # Time-based rules: the start of the buyer's silence (our last message) it ran for.
    anchor_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=8, choices=RunOutcome.choices)
    error = models.TextField(blank=True, default="")
    # One line per action: {"type", "outcome", "note"}.
    detail = models.JSONField(default=list, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "event"],
                condition=models.Q(event__isnull=False),
                name="rulerun_once_per_event",
            ),
            models.UniqueConstraint(
                fields=["rule", "conversation", "anchor_at"],
                condition=models.Q(anchor_at__isnull=False),
                name="rulerun_once_per_silence",
            ),
        ]
        indexes = [models.Index(fields=["rule", "at"], name="rulerun_rule_at")]

    def __str__(self) -> str:
        return f"rule {self.rule_id} on event {self.event_id}: {self.outcome}"


class RulePump(models.Model):
    """Where the rules pump is in the event log: every event with id <= `position` has been
    handled, and so have the ids in `seen` (above it). Ids may commit out of order (PostgreSQL
    sequences), so a gap is waited for a while before it is passed over."""

    name = models.CharField(max_length=32, primary_key=True)
    position = models.BigIntegerField(default=0)
    seen = models.JSONField(default=list, blank=True)
    # Since when the first hole after `position` has been waited for, and the highest id
    # handled at that moment (every hole below it is passed over once SETTLE has gone by).
    gap_since = models.DateTimeField(null=True, blank=True)
    gap_top = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name} at {self.position}"


class RoundRobin(models.Model):
    """Who of a team got the last conversation a rule assigned round-robin."""

    team = models.OneToOneField(
        "accounts.Team", primary_key=True, on_delete=models.CASCADE, related_name="+"
    )
    last_user = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return f"round-robin of team {self.team_id}"
