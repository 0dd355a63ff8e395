"""TemplateUse: one row per reply made from a template. The replies sent before it are
recorded from their "replied" events (which name the template and the message)."""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


def backfill(apps, schema_editor):
    event = apps.get_model("inbox", "Event")
    template = apps.get_model("automation", "Template")
    suggestion = apps.get_model("automation", "Suggestion")
    use = apps.get_model("automation", "TemplateUse")
    message = apps.get_model("inbox", "Message")
    templates = set(template.objects.values_list("pk", flat=True))
    replies = event.objects.filter(kind="replied").order_by("pk")
    batch = []
    rows = replies.values_list("conversation_id", "data", "created_at").iterator(chunk_size=2000)
    for conversation_id, data, at in rows:
        if data.get("template_id") in templates:
            batch.append((data["template_id"], conversation_id, data.get("message_id"), at))
        if len(batch) >= 500:
            _write(batch, message, suggestion, use)
            batch = []
    _write(batch, message, suggestion, use)


def _write(batch, message, suggestion, use):
    ids = [b[2] for b in batch if isinstance(b[2], int)]
    found = set(message.objects.filter(pk__in=ids).values_list("pk", flat=True))
    taken = dict(
        suggestion.objects.filter(taken=True, reply_id__in=found).values_list("reply_id", "pk")
    )
    use.objects.bulk_create(
        use(
            template_id=template_id,
            conversation_id=conversation_id,
            reply_id=message_id if message_id in found else None,
            suggestion_id=taken.get(message_id),
            used_at=at,
        )
        for template_id, conversation_id, message_id, at in batch
    )


class Migration(migrations.Migration):
    dependencies = [
        ("automation", "0004_survey_answered_trigger"),
        ("inbox", "0020_survey_events"),
    ]

    operations = [
        migrations.CreateModel(
            name="TemplateUse",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("used_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "conversation",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="inbox.conversation",
                    ),
                ),
                (
                    "reply",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="inbox.message",
                    ),
                ),
                (
                    "suggestion",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="automation.suggestion",
                    ),
                ),
                (
                    "template",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="uses",
                        to="automation.template",
                    ),
                ),
            ],
            options={
                "indexes": [models.Index(fields=["used_at"], name="template_use_used_at")],
            },
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
