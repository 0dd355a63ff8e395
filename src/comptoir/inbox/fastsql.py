"""Plain SQL for the ingest hot path.

Compiling an ORM query costs 0.2 to 0.6 ms of Python each time, more than the database spends on
the statement; ingest runs about ten per message. The statements here are built once per model
and run with the same values Django would send (`get_db_prep_save`), so the rows are exactly
what `bulk_create` would have written, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any

from django.db import connection
from django.db.models import Field, Model

# Both SQLite (3.32+) and PostgreSQL (65,535) accept at least this many parameters.
MAX_PARAMS = 30_000


@cache
def _insert_sql(model: type[Model]) -> tuple[list[Field[Any, Any]], str, str]:
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column or f.attname) for f in fields)
    head = f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES "
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    return fields, head, row


def insert(objs: Sequence[Model]) -> None:
    """INSERT instances of one model, setting their primary keys (like `bulk_create`)."""
    if not objs:
        return
    model = type(objs[0])
    fields, head, row = _insert_sql(model)
    pk = model._meta.pk
    assert pk is not None
    returning = f" RETURNING {connection.ops.quote_name(pk.column or pk.attname)}"
    per_statement = max(1, MAX_PARAMS // len(fields))
    with connection.cursor() as cursor:
        for start in range(0, len(objs), per_statement):
            chunk = objs[start : start + per_statement]
            params: list[Any] = []
            for obj in chunk:
                params.extend(f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields)
            cursor.execute(head + ", ".join([row] * len(chunk)) + returning, params)
            # Both databases return the rows of a multi-row INSERT in order (Django relies on
            # it too: `can_return_rows_from_bulk_insert`).
            for obj, (new_pk,) in zip(chunk, cursor.fetchall(), strict=True):
                obj.pk = new_pk
                obj._state.adding = False
                obj._state.db = connection.alias


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


def load[M: Model](model: type[M], where: str, params: Sequence[Any]) -> list[M]:
    """Model instances from `SELECT <all columns> FROM <table> WHERE <where>`, converted as the
    ORM converts them (timezone-aware datetimes on SQLite, booleans, JSON)."""
    fields, columns = _model_columns(model)
    table = connection.ops.quote_name(model._meta.db_table)
    rows = select(f"SELECT {columns} FROM {table} WHERE {where}", params)
    converters = _converters(model)
    out = []
    names = [f.attname for f in fields]
    for row in rows:
        values = list(row)
        for index, funcs, expression in converters:
            for func in funcs:
                values[index] = func(values[index], expression, connection)
        out.append(model.from_db(connection.alias, names, values))
    return out


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
