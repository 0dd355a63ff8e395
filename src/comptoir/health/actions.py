"""Changes to account health's settings: the seller's own thresholds (owners and admins)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from comptoir import audit
from comptoir.accounts.models import User
from comptoir.accounts.permissions import can_manage_channels, require
from comptoir.health.models import HealthAlert, ThresholdOverride
from comptoir.health.thresholds import NOT_MARKETPLACES, Metric, rules_for
from comptoir.inbox.models import Marketplace


def set_threshold(marketplace: str, metric: str, limit: float | None, *, actor: User) -> None:
    """Set the largest share of bad ones allowed (0..1, e.g. 0.04) for a marketplace's metric,
    or with None go back to the marketplace's own. The warnings already sent about it are
    forgotten, so that the new threshold warns afresh."""
    require(actor, can_manage_channels, "thresholds are set by owners and admins")
    if marketplace not in Marketplace.values or marketplace in NOT_MARKETPLACES:
        raise ValidationError(f"no marketplace {marketplace!r}")
    if metric not in {r.metric for r in rules_for(marketplace)}:
        raise ValidationError(f"{marketplace} is not judged on {metric!r}")
    if limit is not None and not 0 < limit < 1:
        raise ValidationError("a threshold is a share between 0 and 1")
    with transaction.atomic():
        if limit is None:
            ThresholdOverride.objects.filter(marketplace=marketplace, metric=metric).delete()
        else:
            ThresholdOverride.objects.update_or_create(
                marketplace=marketplace,
                metric=Metric(metric).value,
                defaults={"limit": limit, "updated_at": timezone.now()},
            )
        HealthAlert.objects.filter(channel__marketplace=marketplace, metric=metric).delete()
        audit.record(
            "health.threshold_set",
            actor=actor,
            object_type="threshold",
            changes={"marketplace": marketplace, "metric": metric, "limit": limit},
        )
