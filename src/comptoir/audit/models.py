"""One row per security or admin action; never changed once written."""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class AppendOnly(models.QuerySet["AuditEvent"]):
    """Bulk updates are refused: an entry says what happened, it is never edited."""

    def update(self, **kwargs: Any) -> int:
        raise TypeError("the audit log is append-only")


class AuditEvent(models.Model):
    created_at = models.DateTimeField(db_index=True)
    # SET_NULL and the name kept beside it: the entry outlives the account.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    actor_label = models.CharField(max_length=150, blank=True, default="")
    ip = models.GenericIPAddressField(null=True, blank=True)
    via = models.CharField(max_length=8, blank=True, default="")  # web, api, cli, system
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=64, blank=True, default="")
    object_id = models.CharField(max_length=64, blank=True, default="")
    object_label = models.CharField(max_length=200, blank=True, default="")
    changes = models.JSONField(default=dict, blank=True)

    objects: ClassVar[models.Manager[AuditEvent]] = AppendOnly.as_manager()  # type: ignore[assignment]

    class Meta:
        ordering = ("-created_at", "-id")
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit log")
        indexes = (
            models.Index(fields=("action", "created_at"), name="audit_action_time"),
            models.Index(fields=("actor", "created_at"), name="audit_actor_time"),
        )

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_label} {self.action}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise TypeError("the audit log is append-only")
        super().save(*args, **kwargs)
