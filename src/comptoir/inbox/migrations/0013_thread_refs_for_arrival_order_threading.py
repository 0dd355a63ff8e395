"""Thread references: every Message-ID a message has or names, so that threading does not
depend on arrival order. Existing messages' ids are copied in (backfill)."""

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import Q


def backfill(apps, schema_editor):
    Message = apps.get_model("inbox", "Message")
    ThreadRef = apps.get_model("inbox", "ThreadRef")
    messages = (
        Message.objects.filter(~Q(message_id="") | ~Q(in_reply_to="") | ~Q(references=""))
        .order_by("id")
        .values_list("id", "channel_id", "message_id", "in_reply_to", "references")
    )
    rows = []
    for pk, channel_id, own, parent, references in messages.iterator(chunk_size=2000):
        ids = dict.fromkeys(r for r in (own, parent, *references.split()) if r)
        rows.extend(ThreadRef(message_id=pk, channel_id=channel_id, ref=ref) for ref in ids)
        if len(rows) >= 5000:
            ThreadRef.objects.bulk_create(rows)
            rows = []
    ThreadRef.objects.bulk_create(rows)


class Migration(migrations.Migration):

    dependencies = [
        ('inbox', '0012_same_order_suggestion_event_kind'),
    ]

    operations = [
        migrations.CreateModel(
            name='ThreadRef',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('ref', models.CharField(max_length=998)),
                ('channel', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='inbox.channel')),
                ('message', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='inbox.message')),
            ],
            options={
                'indexes': [models.Index(fields=['channel', 'ref'], name='thread_ref_lookup')],
            },
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
