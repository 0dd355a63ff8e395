"""Loading millions of rows the way a restore does: indexes, search triggers and foreign-key
checks off while the rows go in, then each index built once, in one statement, from the
definitions the migrations left (read back from the database, so the schema afterwards is
the same as a migrated database's: `schema()` gives what to compare).

Row by row, each COPY or INSERT batch also updated every B-tree, the GIN indexes and (SQLite)
the FTS5 tables through their triggers: at 40,000 conversations that was four fifths of the
fill's time, and it grows with the table."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from django.db import OperationalError


@contextmanager
def bulk_load(connection: Any, tables: Sequence[str]) -> Iterator[None]:
    """Within: `tables` have no secondary index and no trigger (SQLite: no journal, no fsync,
    no foreign-key check; PostgreSQL: no trigger, hence no foreign-key check). After: all built
    again, the search indexes filled from the rows."""
    if connection.vendor == "postgresql":
        with _postgres(connection, tables):
            yield
    else:
        with _sqlite(connection, tables):
            yield


@contextmanager
def _sqlite(connection: Any, tables: Sequence[str]) -> Iterator[None]:
    from comptoir.inbox import search

    marks = ", ".join("?" * len(tables))
    with connection.cursor() as cursor:
        # Autoindexes (UNIQUE constraints) have no SQL and stay: they cannot be dropped.
        cursor.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE type IN ('index', 'trigger') "
            f"AND tbl_name IN ({marks}) AND sql IS NOT NULL ORDER BY rowid",
            list(tables),
        )
        saved = cursor.fetchall()
        cursor.execute("PRAGMA journal_mode")
        journal = cursor.fetchone()[0]
        cursor.execute("PRAGMA synchronous")
        synchronous = cursor.fetchone()[0]
        # Outside any transaction (these pragmas are ignored within one), and before anything
        # is dropped: a failure here leaves the schema whole.
        cursor.execute("PRAGMA foreign_keys = OFF")
        try:
            cursor.execute("PRAGMA journal_mode = OFF")
        except OperationalError:  # another connection has the file open: keep its journal
            journal = None
        cursor.execute("PRAGMA synchronous = OFF")
        for kind, name, _ in saved:
            cursor.execute(f'DROP {kind.upper()} "{name}"')
    try:
        yield
    finally:  # the indexes and triggers come back even when the load failed halfway
        with connection.cursor() as cursor:
            for kind, _, sql in saved:
                if kind == "index":
                    cursor.execute(sql)
            # The search tables from the rows, in one INSERT … SELECT each, then their triggers.
            search.reindex(connection)
            for kind, _, sql in saved:
                if kind == "trigger":
                    cursor.execute(sql)
            if journal is not None:
                cursor.execute(f"PRAGMA journal_mode = {journal}")
            cursor.execute(f"PRAGMA synchronous = {synchronous}")
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute("PRAGMA foreign_key_check")
            broken = cursor.fetchmany(5)
    if broken:
        raise RuntimeError(f"rows whose foreign key points nowhere: {broken}")


@contextmanager
def _postgres(connection: Any, tables: Sequence[str]) -> Iterator[None]:
    with connection.cursor() as cursor:
        # Indexes that back no constraint (primary keys and UNIQUE constraints stay).
        cursor.execute(
            "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid "
            "WHERE t.relname = ANY(%s) AND t.relnamespace = 'public'::regnamespace "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid) "
            "ORDER BY c.oid",
            [list(tables)],
        )
        saved = cursor.fetchall()
        for name, _ in saved:
            cursor.execute(f'DROP INDEX "{name}"')
        # No triggers fire, foreign-key checks included (they are triggers): superuser only.
        cursor.execute("SET session_replication_role = replica")
        cursor.execute("SET synchronous_commit = off")
    try:
        yield
    finally:  # the indexes come back even when the load failed halfway
        with connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = DEFAULT")
            cursor.execute("SET synchronous_commit = DEFAULT")
            cursor.execute("SET maintenance_work_mem = '1GB'")
            for _, sql in saved:
                cursor.execute(sql)
            cursor.execute("RESET maintenance_work_mem")
    with connection.cursor() as cursor:
        for table, column, parent, key in _foreign_keys(cursor, tables):
            cursor.execute(
                f'SELECT 1 FROM "{table}" c WHERE c."{column}" IS NOT NULL AND NOT EXISTS '
                f'(SELECT 1 FROM "{parent}" p WHERE p."{key}" = c."{column}") LIMIT 1'
            )
            if cursor.fetchone():
                raise RuntimeError(f"{table}.{column} points to missing {parent} rows")


def _foreign_keys(cursor: Any, tables: Sequence[str]) -> list[tuple[str, str, str, str]]:
    """(table, column, parent table, parent column) of each one-column foreign key."""
    cursor.execute(
        "SELECT t.relname, a.attname, p.relname, pa.attname FROM pg_constraint k "
        "JOIN pg_class t ON t.oid = k.conrelid JOIN pg_class p ON p.oid = k.confrelid "
        "JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1] "
        "JOIN pg_attribute pa ON pa.attrelid = k.confrelid AND pa.attnum = k.confkey[1] "
        "WHERE k.contype = 'f' AND t.relname = ANY(%s) AND cardinality(k.conkey) = 1",
        [list(tables)],
    )
    return list(cursor.fetchall())


def schema(connection: Any) -> list[str]:
    """The schema as text lines, sorted (creation order aside, two equal schemas give equal
    lists): to compare a filled database with a migrated empty one."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT table_name || '.' || column_name || ' ' || data_type || ' ' || "
                "is_nullable || ' ' || coalesce(column_default, '') || ' ' || "
                "coalesce(generation_expression, '') || ' #' || ordinal_position "
                "FROM information_schema.columns WHERE table_schema = 'public'"
            )
            lines = [row[0] for row in cursor.fetchall()]
            cursor.execute(
                "SELECT pg_get_indexdef(indexrelid) FROM pg_index i JOIN pg_class t "
                "ON t.oid = i.indrelid WHERE t.relnamespace = 'public'::regnamespace"
            )
            lines += [row[0] for row in cursor.fetchall()]
            cursor.execute(
                "SELECT conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid)"
                " FROM pg_constraint WHERE connamespace = 'public'::regnamespace"
            )
            lines += [row[0] for row in cursor.fetchall()]
            cursor.execute(
                "SELECT tgrelid::regclass || ' ' || tgname || ' ' || tgenabled::text "
                "FROM pg_trigger WHERE NOT tgisinternal"
            )
            lines += [row[0] for row in cursor.fetchall()]
        else:
            cursor.execute(
                "SELECT type, name, tbl_name, sql FROM sqlite_master "
                "WHERE name NOT LIKE 'sqlite_stat%'"  # (ANALYZE's statistics aside)
            )
            lines = [" | ".join(str(v) for v in row) for row in cursor.fetchall()]
            for pragma in ("journal_mode",):
                cursor.execute(f"PRAGMA {pragma}")
                lines.append(f"{pragma} = {cursor.fetchone()[0]}")
    return sorted(lines)
