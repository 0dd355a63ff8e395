from typing import Any

from django.db import migrations, models
from django.db.models import F


def backfill(apps: Any, schema_editor: Any) -> None:
    """Replies already tried before this version: their first attempt began after they were
    queued, and any of them may have an unanswered request out."""
    message = apps.get_model("inbox", "Message")
    tried = message.objects.filter(delivery_attempts__gt=0, delivery_started_at=None)
    tried.update(delivery_started_at=F("created_at"))
    message.objects.filter(
        delivery_state__in=["queued", "sending"], delivery_attempts__gt=0
    ).update(delivery_posted_at=F("delivery_claimed_at"))



class Migration(migrations.Migration):
    dependencies = [
        ("inbox", "0014_failed_reply_replaced_and_resent"),
    ]

    operations = [
        migrations.AddField(
            model_name="message",
            name="delivery_started_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="message",
            name="delivery_posted_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
