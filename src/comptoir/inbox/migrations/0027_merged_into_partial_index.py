import django.db.models.deletion
from django.db import migrations, models

# The plain index Django made for the foreign key (the same name on both databases). Changing
# `db_index` through AlterField would make SQLite copy the whole conversation table: the
# index is dropped by name instead.
OLD_INDEX = "inbox_conversation_merged_into_id_7d85ee12"


class Migration(migrations.Migration):
    dependencies = [
        ("inbox", "0026_view_indexes"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="conversation",
                    name="merged_into",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="merged_from",
                        to="inbox.conversation",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f"DROP INDEX IF EXISTS {OLD_INDEX}",
                    reverse_sql=f"CREATE INDEX {OLD_INDEX} ON inbox_conversation (merged_into_id)",
                ),
            ],
        ),
        migrations.AddIndex(
            model_name="conversation",
            index=models.Index(
                condition=models.Q(("merged_into__isnull", False)),
                fields=["merged_into"],
                name="conv_merged_into",
            ),
        ),
    ]
