# A channel's messages of a period: the marketplaces' late-response rates read them by channel
# and time. The index starts with the channel, so the foreign key's own index goes.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("inbox", "0021_message_source_sha256_index"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="message",
            index=models.Index(fields=["channel", "created_at"], name="msg_channel_created"),
        ),
        migrations.AlterField(
            model_name="message",
            name="channel",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="inbox.channel",
            ),
        ),
    ]
