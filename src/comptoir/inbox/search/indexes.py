"""The full-text search's tables, triggers and indexes (see `comptoir.inbox.search`): created
by the inbox migration and after every migrate, dropped, rebuilt."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from django.db import connection
from django.db.backends.base.base import BaseDatabaseWrapper

from comptoir.inbox.models import Conversation, Message

_MESSAGES = Message._meta.db_table
_CONVERSATIONS = Conversation._meta.db_table

_BODY = "CASE WHEN {row}.new_text <> '' THEN {row}.new_text ELSE {row}.text END"

# SQLite: a message's row in `search_message` is numbered by its conversation first (the high
# 32 bits) and its own id after, so one conversation's messages are one range of a word's
# list: the inbox checks a conversation with one seek, where it took one per message.
# Conversation ids stay below 2**31 (the rowid is a signed 64-bit integer).
_ROWID = "(({row}.conversation_id << 32) | ({row}.id & 4294967295))"


def _sqlite_ddl() -> list[str]:
    new_body, old_body = _BODY.format(row="new"), _BODY.format(row="old")
    new_id, old_id = _ROWID.format(row="new"), _ROWID.format(row="old")
    words = "tokenize = 'unicode61 remove_diacritics 2'"
    return [
        # Contentless: the text is in inbox_message already. Deleting needs the old values,
        # which the triggers have.
        f"CREATE VIRTUAL TABLE IF NOT EXISTS search_message USING fts5("
        f"subject, body, content = '', {words})",
        f"CREATE VIRTUAL TABLE IF NOT EXISTS search_customer USING fts5("
        f"name, content = '', {words})",
        # Trigram tables keep their (short) content: LIKE checks it.
        "CREATE VIRTUAL TABLE IF NOT EXISTS search_identity USING fts5(value, tokenize='trigram')",
        "CREATE VIRTUAL TABLE IF NOT EXISTS search_order USING fts5("
        "order_number, tokenize='trigram')",
        "CREATE TRIGGER IF NOT EXISTS search_message_ai AFTER INSERT ON inbox_message BEGIN "
        "INSERT INTO search_message(rowid, subject, body) "
        f"VALUES ({new_id}, new.subject, {new_body}); END",
        "CREATE TRIGGER IF NOT EXISTS search_message_ad AFTER DELETE ON inbox_message BEGIN "
        "INSERT INTO search_message(search_message, rowid, subject, body) "
        f"VALUES ('delete', {old_id}, old.subject, {old_body}); END",
        # A merge moves messages to another conversation: their rows move with them.
        "CREATE TRIGGER IF NOT EXISTS search_message_au AFTER UPDATE OF subject, text, new_text, "
        "conversation_id ON inbox_message WHEN old.subject IS NOT new.subject "
        "OR old.text IS NOT new.text OR old.new_text IS NOT new.new_text "
        "OR old.conversation_id IS NOT new.conversation_id BEGIN "
        "INSERT INTO search_message(search_message, rowid, subject, body) "
        f"VALUES ('delete', {old_id}, old.subject, {old_body}); "
        "INSERT INTO search_message(rowid, subject, body) "
        f"VALUES ({new_id}, new.subject, {new_body}); END",
        "CREATE TRIGGER IF NOT EXISTS search_customer_ai AFTER INSERT ON inbox_customer "
        "WHEN new.name <> '' BEGIN "
        "INSERT INTO search_customer(rowid, name) VALUES (new.id, new.name); END",
        "CREATE TRIGGER IF NOT EXISTS search_customer_ad AFTER DELETE ON inbox_customer "
        "WHEN old.name <> '' BEGIN INSERT INTO search_customer(search_customer, rowid, name) "
        "VALUES ('delete', old.id, old.name); END",
        "CREATE TRIGGER IF NOT EXISTS search_customer_au AFTER UPDATE OF name ON inbox_customer "
        "WHEN old.name IS NOT new.name BEGIN "
        "INSERT INTO search_customer(search_customer, rowid, name) "
        "SELECT 'delete', old.id, old.name WHERE old.name <> ''; "
        "INSERT INTO search_customer(rowid, name) SELECT new.id, new.name WHERE new.name <> '';"
        " END",
        "CREATE TRIGGER IF NOT EXISTS search_identity_ai AFTER INSERT ON inbox_customeridentity "
        "BEGIN INSERT INTO search_identity(rowid, value) VALUES (new.id, new.value); END",
        "CREATE TRIGGER IF NOT EXISTS search_identity_ad AFTER DELETE ON inbox_customeridentity "
        "BEGIN DELETE FROM search_identity WHERE rowid = old.id; END",
        "CREATE TRIGGER IF NOT EXISTS search_identity_au AFTER UPDATE OF value "
        "ON inbox_customeridentity WHEN old.value IS NOT new.value BEGIN "
        "UPDATE search_identity SET value = new.value WHERE rowid = new.id; END",
        "CREATE TRIGGER IF NOT EXISTS search_order_ai AFTER INSERT ON inbox_conversation "
        "WHEN new.order_number <> '' BEGIN "
        "INSERT INTO search_order(rowid, order_number) VALUES (new.id, new.order_number); END",
        "CREATE TRIGGER IF NOT EXISTS search_order_ad AFTER DELETE ON inbox_conversation "
        "WHEN old.order_number <> '' BEGIN DELETE FROM search_order WHERE rowid = old.id; END",
        # Ingest's UPDATE names order_number every time: only a real change costs anything.
        "CREATE TRIGGER IF NOT EXISTS search_order_au AFTER UPDATE OF order_number "
        "ON inbox_conversation WHEN old.order_number IS NOT new.order_number BEGIN "
        "DELETE FROM search_order WHERE rowid = old.id; "
        "INSERT INTO search_order(rowid, order_number) SELECT new.id, new.order_number "
        "WHERE new.order_number <> ''; END",
    ]


_CONTENTLESS = {"search_message", "search_customer"}
SQLITE_TABLES = ["search_message", "search_customer", "search_identity", "search_order"]
SQLITE_TRIGGERS = [
    f"search_{name}_{op}"
    for name in ("message", "customer", "identity", "order")
    for op in ("ai", "ad", "au")
]

POSTGRES_DDL = [
    # Both are trusted extensions (PostgreSQL 13+): a database owner may create them.
    "CREATE EXTENSION IF NOT EXISTS unaccent",
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    """DO $$ BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_ts_config WHERE cfgname = 'comptoir_search') THEN
            CREATE TEXT SEARCH CONFIGURATION comptoir_search (COPY = pg_catalog.simple);
            ALTER TEXT SEARCH CONFIGURATION comptoir_search
                ALTER MAPPING FOR hword, hword_part, word WITH unaccent, simple;
        END IF;
    END $$""",
    # Generated: every writer (the ORM, ingest's plain SQL and pipelines) keeps it current,
    # and adding it fills it for the existing rows.
    "ALTER TABLE inbox_message ADD COLUMN IF NOT EXISTS search_vector tsvector "
    "GENERATED ALWAYS AS (setweight(to_tsvector('comptoir_search', subject), 'A') || "
    "to_tsvector('comptoir_search', " + _BODY.format(row="inbox_message") + ")) STORED",
    "CREATE INDEX IF NOT EXISTS search_message_vector ON inbox_message USING gin (search_vector)",
    "CREATE INDEX IF NOT EXISTS search_customer_name ON inbox_customer "
    "USING gin (to_tsvector('comptoir_search', name))",
    "CREATE INDEX IF NOT EXISTS search_identity_value ON inbox_customeridentity "
    "USING gin (value gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS search_conversation_order ON inbox_conversation "
    "USING gin (order_number gin_trgm_ops)",
    # Newest first is `last_message_at DESC NULLS LAST`: an ascending index read backwards
    # gives NULLS FIRST, so PostgreSQL sorted every visible conversation (200 ms at 100,000)
    # instead of reading 50 rows off an index. (SQLite reads the ascending one fine.)
    "CREATE INDEX IF NOT EXISTS conv_recent ON inbox_conversation "
    "(last_message_at DESC NULLS LAST, id DESC)",
]

POSTGRES_INDEXES = [
    "search_message_vector",
    "search_customer_name",
    "search_identity_value",
    "search_conversation_order",
    "conv_recent",
]


def install(conn: BaseDatabaseWrapper | None = None) -> None:
    """Create what search needs (idempotent). Called by the inbox migration, and after every
    migrate: on SQLite, a migration that rebuilds a table drops its triggers."""
    conn = conn or connection
    with conn.cursor() as cursor:
        if conn.vendor == "postgresql":
            cursor.execute(
                "SELECT 1 FROM information_schema.columns "
                "WHERE table_name = 'inbox_message' AND column_name = 'search_vector'"
            )
            if cursor.fetchone() is None:  # (ALTER TABLE is refused inside some transactions)
                for sql in POSTGRES_DDL:
                    cursor.execute(sql)
            return
        for sql in _sqlite_ddl():
            cursor.execute(sql)


def ensure_installed(conn: BaseDatabaseWrapper | None = None) -> None:
    """After a migrate, on SQLite: put back triggers a table rebuild dropped (and reindex)."""
    conn = conn or connection
    if conn.vendor != "sqlite":
        return
    with conn.cursor() as cursor:
        cursor.execute("SELECT 1 FROM sqlite_master WHERE name = 'search_message'")
        if cursor.fetchone() is None:  # not migrated that far
            return
        missing = _missing_triggers(cursor)
    if missing:
        # A table was rebuilt and its triggers went with it: rows written since then are not
        # indexed. Put them back and index everything again.
        install(conn)
        reindex(conn)


def _missing_triggers(cursor: Any) -> set[str]:
    cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
    return set(SQLITE_TRIGGERS) - {name for (name,) in cursor.fetchall()}


def uninstall(conn: BaseDatabaseWrapper | None = None) -> None:
    conn = conn or connection
    with conn.cursor() as cursor:
        if conn.vendor == "postgresql":
            for name in POSTGRES_INDEXES:
                cursor.execute(f"DROP INDEX IF EXISTS {name}")
            cursor.execute("ALTER TABLE inbox_message DROP COLUMN IF EXISTS search_vector")
            cursor.execute("DROP TEXT SEARCH CONFIGURATION IF EXISTS comptoir_search")
            return
        for name in SQLITE_TRIGGERS:
            cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
        for name in SQLITE_TABLES:
            cursor.execute(f"DROP TABLE IF EXISTS {name}")


def reindex(
    conn: BaseDatabaseWrapper | None = None, only: Collection[str] | None = None
) -> dict[str, int]:
    """Rebuild every search index from the rows (after a restore, an import that bypassed the
    triggers, or to compact), or `only` those named ("messages", "customers"...; SQLite).
    Returns the rows indexed per index."""
    conn = conn or connection
    counts: dict[str, int] = {}
    with conn.cursor() as cursor:
        if conn.vendor == "postgresql":
            # The vector is generated with each row: only the indexes can need rebuilding.
            for name in POSTGRES_INDEXES:
                cursor.execute(f"REINDEX INDEX {name}")
            for table, key in (
                (_MESSAGES, "messages"),
                ("inbox_customer", "customers"),
                ("inbox_customeridentity", "identities"),
                (_CONVERSATIONS, "conversations"),
            ):
                cursor.execute(f"ANALYZE {table}")
                cursor.execute(f"SELECT count(*) FROM {table}")
                counts[key] = cursor.fetchone()[0]
            return counts
        body, rowid = _BODY.format(row="m"), _ROWID.format(row="m")
        steps = [
            (
                "messages",
                "search_message",
                # In the rows' order: FTS5 then appends to its lists instead of sorting.
                "INSERT INTO search_message(rowid, subject, body) "
                f"SELECT {rowid}, m.subject, {body} FROM {_MESSAGES} m "
                "ORDER BY m.conversation_id, m.id",
            ),
            (
                "customers",
                "search_customer",
                "INSERT INTO search_customer(rowid, name) "
                "SELECT id, name FROM inbox_customer WHERE name <> ''",
            ),
            (
                "identities",
                "search_identity",
                "INSERT INTO search_identity(rowid, value) "
                "SELECT id, value FROM inbox_customeridentity",
            ),
            (
                "conversations",
                "search_order",
                "INSERT INTO search_order(rowid, order_number) "
                f"SELECT id, order_number FROM {_CONVERSATIONS} WHERE order_number <> ''",
            ),
        ]
        for key, table, fill in steps:
            if only is not None and key not in only:
                continue
            if table in _CONTENTLESS:
                cursor.execute(f"INSERT INTO {table}({table}) VALUES ('delete-all')")
            else:
                cursor.execute(f"DELETE FROM {table}")
            cursor.execute(fill)
            counts[key] = cursor.rowcount
            cursor.execute(f"INSERT INTO {table}({table}) VALUES ('optimize')")
    return counts


def renumber_messages(conn: BaseDatabaseWrapper) -> None:
    """SQLite: `search_message` made again with its rows numbered by conversation (`_ROWID`),
    from the table numbered by message id (migration inbox 0028): a reindex of the messages."""
    if conn.vendor != "sqlite":
        return
    with conn.cursor() as cursor:
        cursor.execute("SELECT 1 FROM sqlite_master WHERE name = 'search_message'")
        if cursor.fetchone() is None:
            return
        for op in ("ai", "ad", "au"):
            cursor.execute(f"DROP TRIGGER IF EXISTS search_message_{op}")
        cursor.execute("DROP TABLE search_message")
    install(conn)
    reindex(conn, only={"messages"})
