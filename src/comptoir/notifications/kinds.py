"""The kinds of notification: their own module, so that models and actions both import it."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Kind(models.TextChoices):
    SLA_AT_RISK = "sla_at_risk", _("SLA at risk")
    SLA_BREACHED = "sla_breached", _("SLA breached")
    ASSIGNED = "assigned", _("Assigned to me")
    CHANNEL_UNHEALTHY = "channel_unhealthy", _("Channel stopped")
    MENTIONED = "mentioned", _("Mentioned in a note")
    RULE = "rule", _("Rule notification")
    RULE_FAILED = "rule_failed", _("A rule failed")
    SURVEY_LOW = "survey_low", _("Low survey score")
    CASE_DEADLINE = "case_deadline", _("Case deadline near")
    ACCOUNT_HEALTH = "account_health", _("Marketplace account health")


# A webhook's "send test" posts this kind; no user is ever notified of it.
TEST_KIND = "test"
