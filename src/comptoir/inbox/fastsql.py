"""Plain SQL for the ingest hot path.

Compiling an ORM query costs 0.2 to 0.6 ms of Python each time, more than the database spends on
the statement; ingest runs about ten per message. The statements here are built once per model
and run with the same values Django would send (`get_db_prep_save`), so the rows are exactly
what `bulk_create` would have written, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from functools import cache
from typing import Any, cast

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections, models, transaction
from django.db.models import Field, Model
from psycopg import pq

# Both SQLite (3.32+) and PostgreSQL (65,535) accept at least this many parameters.
MAX_PARAMS = 30_000
SMALL_INSERT = 8


@cache
def _insert_sql(
    model: type[Model], vendor: str, with_pk: bool
) -> tuple[list[Field[Any, Any]], str, str, str]:
    fields = [f for f in model._meta.concrete_fields if with_pk or not f.primary_key]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column or f.attname) for f in fields)
    head = f"INSERT INTO {quote(model._meta.db_table)} ({columns}) "
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    # PostgreSQL: one array per column (as Django's bulk_create does), so that the statement
    # stays short whatever the number of rows: psycopg parses every placeholder of a query.
    # Sent in binary (%b): psycopg's text form escapes every element in Python.
    types = [f.db_type(connection) or "text" for f in fields]
    unnest = ", ".join(f"(%b)::{t.split('(')[0]}[]" for t in types)
    unnest_sql = f"{head}SELECT * FROM UNNEST({unnest})"
    return fields, head + "VALUES ", row, unnest_sql


# How a field's value becomes a parameter, when it has a plain type: the same value Django's
# `get_db_prep_save` returns, without its chain of calls (a third of bulk ingest's CPU). Any
# other value, or any other field, takes Django's own path.
_AS_IS, _INT, _BOOL, _DATETIME, _DJANGO = range(5)
_TEXT_FIELDS = (
    models.CharField,
    models.TextField,
    models.SlugField,
    models.EmailField,
    models.URLField,
)
_INT_FIELDS = (
    models.IntegerField,
    models.BigIntegerField,
    models.SmallIntegerField,
    models.PositiveIntegerField,
    models.PositiveSmallIntegerField,
    models.PositiveBigIntegerField,
    models.AutoField,
    models.BigAutoField,
)


def _kind(field: Field[Any, Any]) -> int:
    if type(field) in _TEXT_FIELDS:
        return _AS_IS
    if type(field) in _INT_FIELDS:
        return _INT
    if type(field) is models.ForeignKey and type(field.target_field) in _INT_FIELDS:
        return _INT
    if type(field) is models.BooleanField:
        return _BOOL
    if type(field) is models.DateTimeField and not (field.auto_now or field.auto_now_add):
        return _DATETIME
    return _DJANGO


@cache
def _plan(model: type[Model], with_pk: bool) -> list[tuple[str, int, Field[Any, Any]]]:
    fields = [f for f in model._meta.concrete_fields if with_pk or not f.primary_key]
    return [(f.attname, _kind(f), f) for f in fields]


def _values(
    obj: Model, plan: list[tuple[str, int, Field[Any, Any]]], conn: Any, *, pre_save: bool = True
) -> list[Any]:
    """The values Django would send for `plan`'s fields, plain ones converted here (the field
    machinery costs more than the write). An UPDATE passes `pre_save=False`: it writes what the
    instance holds, where an INSERT lets fields fill themselves (`auto_now_add`, say)."""
    row: list[Any] = []
    for attname, kind, field in plan:
        value = getattr(obj, attname)
        if value is None and kind != _DJANGO:
            row.append(None)
        elif kind == _AS_IS and isinstance(value, str):
            row.append(value)  # (a TextChoices member too: Django sends it as it is)
        elif (kind == _INT and type(value) is int) or (kind == _BOOL and type(value) is bool):
            row.append(value)
        elif kind == _DATETIME and type(value) is datetime and value.tzinfo is not None:
            row.append(conn.ops.adapt_datetimefield_value(value))
        else:
            value = field.pre_save(obj, True) if pre_save else value
            row.append(field.get_db_prep_save(value, conn))
    return row


def insert(
    objs: Sequence[Model], *, returning: bool = True, ignore_conflicts: bool = False
) -> None:
    """INSERT instances of one model, setting their primary keys (like `bulk_create`).

    Instances whose primary key is already set (see `reserve_ids`) are written with it. With
    those, or with `returning=False` (the keys then stay unset), the statement needs no answer:
    inside a `pipeline()` it travels with the next one instead of costing a round trip.
    `ignore_conflicts` skips rows a unique index refuses (and sets no keys; but one row alone
    gets its key, or keeps None when it was refused: a claim that needs no savepoint)."""
    if not objs:
        return
    conn = connections[DEFAULT_DB_ALIAS]  # not the proxy: it costs a lookup per attribute
    model = type(objs[0])
    with_pk = all(obj.pk is not None for obj in objs)
    fields, values_sql, row, unnest_sql = _insert_sql(model, conn.vendor, with_pk)
    pk = model._meta.pk
    assert pk is not None
    claim = ignore_conflicts and len(objs) == 1
    returning = returning and not with_pk and (claim or not ignore_conflicts)
    suffix = f" RETURNING {conn.ops.quote_name(pk.column or pk.attname)}" if returning else ""
    if ignore_conflicts:
        suffix = " ON CONFLICT DO NOTHING" + suffix  # SQLite 3.35+ and PostgreSQL alike
    postgres = conn.vendor == "postgresql"
    per_statement = 5_000 if postgres else max(1, MAX_PARAMS // len(fields))
    with conn.cursor() as cursor:
        for start in range(0, len(objs), per_statement):
            chunk = objs[start : start + per_statement]
            plan = _plan(model, with_pk)
            rows = [_values(obj, plan, conn) for obj in chunk]
            # A few rows go faster as VALUES (arrays cost more to build than they save).
            if postgres and len(chunk) > SMALL_INSERT:
                cursor.execute(unnest_sql + suffix, [list(col) for col in zip(*rows, strict=True)])
            else:
                params = [value for values in rows for value in values]
                cursor.execute(values_sql + ", ".join([row] * len(chunk)) + suffix, params)
            if returning:
                returned = cursor.fetchall()
                if claim and not returned:
                    return  # refused: its key stays None
                # Both databases return the rows of a multi-row INSERT in order (Django relies
                # on it too: `can_return_rows_from_bulk_insert`).
                for obj, (new_pk,) in zip(chunk, returned, strict=True):
                    obj.pk = new_pk
            if returning or (with_pk and not ignore_conflicts):
                for obj in chunk:
                    obj._state.adding = False
                    obj._state.db = conn.alias


def update(objs: Sequence[Model], field_names: Sequence[str]) -> None:
    """UPDATE these fields of these instances, one statement sent many times (`executemany`)
    with the values Django would send: `bulk_update` builds one CASE per field and row, whose
    compilation costs more than the writes (5 ms a message for triage's eight fields)."""
    if not objs:
        return
    model = type(objs[0])
    meta = model._meta
    fields = [cast(Field[Any, Any], meta.get_field(name)) for name in field_names]
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(f.column or f.attname)} = %s" for f in fields)
    pk = meta.pk
    assert pk is not None
    sql = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {quote(pk.column or 'id')} = %s"
    conn = connections[DEFAULT_DB_ALIAS]
    plan = [(f.attname, _kind(f), f) for f in fields]
    rows = [[*_values(obj, plan, conn, pre_save=False), obj.pk] for obj in objs]
    with conn.cursor() as cursor:
        cursor.executemany(sql, rows)


def reserve_ids_query(model: type[Model], count: int) -> tuple[str, list[Any]] | None:
    """PostgreSQL: a query taking `count` ids from the model's sequence, to be run with other
    lookups (`select_all`) so that inserting the rows later needs no answer. None elsewhere."""
    if connection.vendor != "postgresql" or count <= 0:
        return None
    pk = model._meta.pk
    assert pk is not None
    return (
        "SELECT nextval(pg_get_serial_sequence(%s, %s)) AS id "
        "FROM generate_series(1, %s) ORDER BY id",
        [model._meta.db_table, pk.column, count],
    )


def last_id_query(model: type[Model]) -> tuple[str, list[Any]]:
    """PostgreSQL: the id this session's last INSERT of `model` took from its sequence, to be
    run with other lookups (`select_all`) when that INSERT was sent without RETURNING."""
    pk = model._meta.pk
    assert pk is not None
    return "SELECT currval(pg_get_serial_sequence(%s, %s))", [model._meta.db_table, pk.column]


def sent_row_id(model: type[Model]) -> int | None:
    """PostgreSQL, after a failure: the id of the row of `model` this session inserted last
    without reading its id, if that INSERT was committed (None if it was refused or not sent)."""
    sql, params = last_id_query(model)
    quote = connection.ops.quote_name
    table, column = quote(model._meta.db_table), quote(params[1])
    try:
        rows = select(f"SELECT {column} FROM {table} WHERE {column} = ({sql})", params)
    except DatabaseError:  # currval: the session took no id from that sequence
        return None
    return int(rows[0][0]) if rows else None


def pipelines() -> bool:
    """Whether `atomic()` would pipeline: PostgreSQL, in autocommit, outside any atomic block."""
    conn = connections[DEFAULT_DB_ALIAS]
    return conn.vendor == "postgresql" and conn.get_autocommit() and not conn.in_atomic_block


@contextmanager
def atomic(committed_first: Callable[[], None] | None = None) -> Iterator[None]:
    """One transaction for the ingest hot path, on PostgreSQL in as few round trips as it gets.

    There (see `pipelines()`), the block runs in a pipeline with BEGIN and COMMIT sent as
    statements: the transaction costs one round trip per answer read inside, plus one for the
    COMMIT. `transaction.atomic()` in a pipeline costs two more, as psycopg syncs the pipeline
    to switch autocommit off and back on. Django does not see this transaction, so the block
    may read with the ORM but must write with plain SQL (ORM writes open atomic blocks of their
    own, which psycopg refuses here), and must not use `on_commit` (it would run at once).

    `committed_first` writes what must be committed on its own before the block (the raw
    record): on PostgreSQL in a transaction of its own, in the same pipeline (no round trip of
    its own); elsewhere in autocommit, then the block runs in `transaction.atomic()`.
    """
    if not pipelines():
        if committed_first is not None:
            committed_first()
        with transaction.atomic():
            yield
        return
    conn = connections[DEFAULT_DB_ALIAS]
    conn.ensure_connection()
    pg = conn.connection
    try:
        # Errors reach us as psycopg's at the pipeline's end: Django's wrapper makes them the
        # IntegrityError (etc.) that callers catch.
        with conn.wrap_database_errors, pg.pipeline(), conn.cursor() as cursor:
            if committed_first is not None:
                cursor.execute("BEGIN")
                committed_first()
                cursor.execute("COMMIT")
            cursor.execute("BEGIN")
            yield
            cursor.execute("COMMIT")
    except BaseException:
        # The server skipped what followed an error but keeps the transaction open (aborted),
        # as it does when the block raised before its COMMIT: end it.
        if not pg.closed and pg.info.transaction_status != pq.TransactionStatus.IDLE:
            with conn.wrap_database_errors:
                pg.rollback()
        raise


@contextmanager
def pipeline() -> Iterator[None]:
    """PostgreSQL pipeline mode: statements whose answer nobody reads (and the COMMIT, when the
    transaction ends inside) go to the server together. Elsewhere, nothing changes."""
    conn = connections[DEFAULT_DB_ALIAS]
    if conn.vendor != "postgresql" or conn.in_atomic_block:
        yield
        return
    conn.ensure_connection()
    with conn.connection.pipeline():
        yield


def select(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def execute(sql: str, params: Sequence[Any]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def in_list(values: Iterable[Any]) -> tuple[str, list[Any]]:
    """`(%s, %s, ...)` and its parameters, for an IN clause."""
    items = list(values)
    return "(" + ", ".join(["%s"] * len(items)) + ")", items


@cache
def _model_columns(model: type[Model]) -> tuple[list[Field[Any, Any]], str]:
    fields = list(model._meta.concrete_fields)
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    return fields, ", ".join(f"{table}.{quote(f.column or f.attname)}" for f in fields)


def columns(model: type[Model]) -> str:
    """Every column of the model, table-qualified, in the order `to_models` expects."""
    return _model_columns(model)[1]


def to_models[M: Model](model: type[M], rows: Iterable[Sequence[Any]]) -> list[M]:
    """Model instances from rows of `columns(model)` (possibly followed by other values),
    converted as the ORM converts them (aware datetimes on SQLite, booleans, JSON)."""
    fields, _ = _model_columns(model)
    converters = _converters(model)
    names = [f.attname for f in fields]
    out = []
    for row in rows:
        values = list(row[: len(fields)])
        for index, funcs, expression in converters:
            for func in funcs:
                values[index] = func(values[index], expression, connection)
        out.append(model.from_db(connection.alias, names, values))
    return out


def load[M: Model](model: type[M], where: str, params: Sequence[Any]) -> list[M]:
    """Model instances from `SELECT <all columns> FROM <table> WHERE <where>`."""
    table = connection.ops.quote_name(model._meta.db_table)
    return to_models(model, select(f"SELECT {columns(model)} FROM {table} WHERE {where}", params))


def select_all(queries: Sequence[tuple[str, Sequence[Any]]]) -> list[list[tuple[Any, ...]]]:
    """Run independent SELECTs; inside a PostgreSQL `pipeline()` they share one round trip."""
    cursors = []
    try:
        for sql, params in queries:
            cursor = connection.cursor()
            cursors.append(cursor)
            cursor.execute(sql, params)
        return [list(cursor.fetchall()) for cursor in cursors]
    finally:
        for cursor in cursors:
            cursor.close()


@cache
def _converters(model: type[Model]) -> list[tuple[int, list[Any], Any]]:
    out = []
    for index, field in enumerate(model._meta.concrete_fields):
        expression = field.get_col(model._meta.db_table)
        funcs = connection.ops.get_db_converters(expression) + expression.get_db_converters(
            connection
        )
        if funcs:
            out.append((index, funcs, expression))
    return out
