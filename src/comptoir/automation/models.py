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
