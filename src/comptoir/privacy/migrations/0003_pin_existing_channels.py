"""Existing marketplace channels keep the retention they had (their shop's, or the
installation's): a marketplace's rule becomes the default of channels created from now on, and
an admin adopts it for an existing channel on the settings page ("Follow the default"). An
upgrade never anonymises a backlog on its own (anonymising cannot be undone)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import migrations

# The marketplaces whose rule sets a default (privacy.marketplace_rules.RULES with days).
WITH_A_RULE = ("amazon",)


def pin(apps: Any, schema_editor: Any) -> None:
    channel_model = apps.get_model("inbox", "Channel")
    retention = apps.get_model("privacy", "ChannelRetention")
    shops = {p.shop_id: p for p in apps.get_model("privacy", "RetentionPolicy").objects.all()}
    default = (
        getattr(settings, "CONVERSATION_RETENTION_DAYS", 0),
        getattr(settings, "CONVERSATION_RETENTION_MODE", "anonymise"),
    )
    rows = []
    for channel in channel_model.objects.filter(marketplace__in=WITH_A_RULE):
        own = shops.get(channel.shop_id)
        days, mode = (own.days, own.mode) if own is not None and own.days else default
        rows.append(retention(channel_id=channel.pk, days=days, mode=mode))
    retention.objects.bulk_create(rows, ignore_conflicts=True)


class Migration(migrations.Migration):
    dependencies = [("privacy", "0002_channel_retention")]

    operations = [migrations.RunPython(pin, migrations.RunPython.noop)]
