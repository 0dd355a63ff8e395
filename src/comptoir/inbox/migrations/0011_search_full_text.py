"""Full-text search (see comptoir.inbox.search): FTS5 tables and triggers on SQLite; on
PostgreSQL the unaccent and pg_trgm extensions, a text search configuration, a generated
tsvector column on messages and GIN indexes. Existing rows are indexed here."""

from django.db import migrations


def forward(apps, schema_editor):
    from comptoir.inbox import search

    search.install(schema_editor.connection)
    if schema_editor.connection.vendor == "sqlite":
        search.reindex(schema_editor.connection)


def backward(apps, schema_editor):
    from comptoir.inbox import search

    search.uninstall(schema_editor.connection)


class Migration(migrations.Migration):

    dependencies = [
        ("inbox", "0010_views_presence_drafts"),
    ]

    operations = [migrations.RunPython(forward, backward)]
