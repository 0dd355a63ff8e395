"""SQLite's message search table numbered by conversation first (`search.indexes._ROWID`): a
common word's inbox page checks each conversation with one seek instead of one per message.
The table and its triggers are made again and every message indexed again (about two and a
half minutes for 5,000,000 messages). Nothing changes on PostgreSQL."""

from django.db import migrations

_BODY = "CASE WHEN {row}.new_text <> '' THEN {row}.new_text ELSE {row}.text END"


def forward(apps, schema_editor):
    from comptoir.inbox.search import indexes

    indexes.renumber_messages(schema_editor.connection)


def backward(apps, schema_editor):
    """The table numbered by message id again, as migration 0011 made it."""
    conn = schema_editor.connection
    if conn.vendor != "sqlite":
        return
    new, old = _BODY.format(row="new"), _BODY.format(row="old")
    with conn.cursor() as cursor:
        for op in ("ai", "ad", "au"):
            cursor.execute(f"DROP TRIGGER IF EXISTS search_message_{op}")
        cursor.execute("DROP TABLE IF EXISTS search_message")
        cursor.execute(
            "CREATE VIRTUAL TABLE search_message USING fts5(subject, body, content = '', "
            "tokenize = 'unicode61 remove_diacritics 2')"
        )
        cursor.execute(
            "CREATE TRIGGER search_message_ai AFTER INSERT ON inbox_message BEGIN "
            f"INSERT INTO search_message(rowid, subject, body) VALUES (new.id, new.subject, {new});"
            " END"
        )
        cursor.execute(
            "CREATE TRIGGER search_message_ad AFTER DELETE ON inbox_message BEGIN "
            "INSERT INTO search_message(search_message, rowid, subject, body) "
            f"VALUES ('delete', old.id, old.subject, {old}); END"
        )
        cursor.execute(
            "CREATE TRIGGER search_message_au AFTER UPDATE OF subject, text, new_text "
            "ON inbox_message WHEN old.subject IS NOT new.subject OR old.text IS NOT new.text "
            "OR old.new_text IS NOT new.new_text BEGIN "
            "INSERT INTO search_message(search_message, rowid, subject, body) "
            f"VALUES ('delete', old.id, old.subject, {old}); "
            "INSERT INTO search_message(rowid, subject, body) "
            f"VALUES (new.id, new.subject, {new}); END"
        )
        cursor.execute(
            "INSERT INTO search_message(rowid, subject, body) "
            f"SELECT m.id, m.subject, {_BODY.format(row='m')} FROM inbox_message m"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("inbox", "0027_merged_into_partial_index"),
    ]

    operations = [migrations.RunPython(forward, backward)]
