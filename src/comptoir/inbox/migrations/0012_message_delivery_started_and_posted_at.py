from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("inbox", "0011_search_full_text"),
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
    ]
