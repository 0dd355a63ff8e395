"""Read queries compiled to SQL once per process, then run with each request's values.

Building a query's SQL costs the ORM 0.5-1 ms; running one of the conversation page's small
look-ups costs SQLite or PostgreSQL a thirtieth of that. A `Prepared` query is written as usual
(a function of its parameters returning a queryset), compiled once per shape with stand-in
values, and then run with the real ones: the same SQL, and the rows made into model instances by
the ORM's own machinery, kept from the compilation (fields converted, columns not selected
deferred, related objects of `select_related` filled, annotations set).

Only for querysets whose SQL depends on nothing but their parameters (no `__in` over a Python
list, whose length shapes the SQL; no value computed at build time such as now()); a
parameter is an integer (a primary key).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connections
from django.db.models import Model, QuerySet
from django.db.models.query import (  # type: ignore[attr-defined]  # ModelIterable's own
    _get_from_db,
    get_related_populators,
)
from django.db.models.sql.compiler import SQLCompiler

# Stand-in values: far above the primary keys a desk reaches, and each one distinct; within a
# 32-bit integer column's range, where a lookup past it is dropped from the SQL (no parameter).
_STAND_IN = 2_093_847_000
# The second compilation's stand-ins, this far above the first's (see `_compile_checked`).
_OTHER = 1_000


type _Slots = list[tuple[bool, Any]]
type _Converters = list[tuple[int, list[Any], Any]]


@dataclass(frozen=True)
class Shape:
    """A shape's SQL, where each run's values go in it, and its columns' converters."""

    sql: str
    db: str
    # Each parameter: (True, the key of a value given per run) or (False, a constant).
    slots: _Slots
    converters: _Converters


@dataclass(frozen=True)
class _Compiled(Shape):
    """And what makes its rows into objects (ModelIterable's, computed once)."""

    start: int
    end: int
    init_list: list[str]
    from_db: Callable[..., Any]
    populators: list[Any]
    annotations: list[tuple[str, int]]


def _compile_checked[K: Hashable](
    make: Callable[[dict[K, int]], QuerySet[Any]],
    first: dict[K, int],
    other: dict[K, int],
    refusal: str,
) -> tuple[QuerySet[Any], SQLCompiler, Shape]:
    """`make(first)` compiled, its parameters matched to `first`'s keys. Refused (ValueError
    `refusal`) when the slots were guessed wrong: compiled again with `other`, every slot must
    follow its value and every constant stay (a constant equal to a stand-in, or a value the
    build computes from a parameter, would break that)."""
    qs = make(first)
    compiler = qs.query.get_compiler(using=qs.db)
    sql, params = compiler.as_sql()  # also fills select, klass_info, annotation_col_map
    by_value = {value: key for key, value in first.items()}
    # A value may not reach the SQL at all (the user, for a role that sees everything).
    slots = [(True, by_value[p]) if p in by_value else (False, p) for p in params]
    again_qs = make(other)
    again_sql, again = again_qs.query.get_compiler(using=again_qs.db).as_sql()
    expected = [other[key] if named else key for named, key in slots]
    if again_sql != sql or list(again) != expected:
        raise ValueError(refusal)
    return qs, compiler, Shape(sql, qs.db, slots, _converters(compiler))


def _converters(compiler: SQLCompiler) -> _Converters:
    fields = [s[0] for s in compiler.select[0 : compiler.col_count]]
    # Converters are called with the running thread's connection, not the compiling one's.
    return [
        (pos, convs, expression)
        for pos, (convs, expression) in compiler.get_converters(fields).items()
    ]


def compile_as_is(qs: QuerySet[Any]) -> Shape:
    """`qs` compiled with its own values, all constants (`run_as_is` runs it again): for a
    caller that keys the result on everything the SQL depends on (`inbox.list_page`)."""
    compiler = qs.query.get_compiler(using=qs.db)
    sql, params = compiler.as_sql()
    return Shape(sql, qs.db, [(False, p) for p in params], _converters(compiler))


def compile_named(qs: QuerySet[Any], named: Mapping[str, str]) -> Shape:
    """`qs` compiled with its own values, all constants but those equal to a stand-in of
    `named` (name -> a string no real value equals), which `run_named` takes per run under that
    name. Refused (ValueError) when a stand-in does not reach the SQL as one parameter."""
    shape = compile_as_is(qs)
    names = {stand_in: name for name, stand_in in named.items()}
    slots = [
        (True, names[p]) if isinstance(p, str) and p in names else (False, p)
        for _, p in shape.slots
    ]
    if sorted(key for is_named, key in slots if is_named) != sorted(named):
        raise ValueError(f"each of {sorted(named)} must be one parameter of the SQL")
    return Shape(shape.sql, shape.db, slots, shape.converters)


def run_as_is(shape: Shape) -> list[Sequence[Any]]:
    """The rows of a query of `compile_as_is`, each column converted as the ORM does."""
    return _run(shape, ())


def run_named(shape: Shape, values: Mapping[str, Any]) -> list[Sequence[Any]]:
    """The rows of a query of `compile_named` for `values` (name -> value)."""
    return _run(shape, values)


def _run(shape: Shape, values: Mapping[str, Any] | Sequence[Any]) -> list[Sequence[Any]]:
    """`shape`'s rows for `values`, each column converted as the ORM converts it (the
    cursor's rows as they come when no column needs it)."""
    params = [values[key] if named else key for named, key in shape.slots]
    connection = connections[shape.db]
    with connection.cursor() as cursor:
        cursor.execute(shape.sql, params)
        fetched: list[Sequence[Any]] = cursor.fetchall()
    if not shape.converters:
        return fetched
    rows: list[Sequence[Any]] = []
    for got in fetched:
        row = list(got)
        for pos, convs, expression in shape.converters:
            value = row[pos]
            for converter in convs:
                value = converter(value, expression, connection)
            row[pos] = value
        rows.append(row)
    return rows


class Prepared[M: Model]:
    """`build(**context, **values)` -> a queryset, compiled once per `shape` (one database per
    process: the default one)."""

    def __init__(self, build: Callable[..., QuerySet[M]], *names: str) -> None:
        self.build = build
        self.names = names
        self._compiled: dict[Hashable, _Compiled] = {}

    def _compile(self, shape: Hashable, context: dict[str, Any]) -> _Compiled:
        qs, compiler, base = _compile_checked(
            lambda values: self.build(**context, **values),
            {name: _STAND_IN + i for i, name in enumerate(self.names)},
            {name: _STAND_IN + _OTHER + i for i, name in enumerate(self.names)},
            f"{self.build.__name__}: its SQL depends on more than its parameters",
        )
        select, klass_info = compiler.select, compiler.klass_info
        start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
        fetch_mode = qs._fetch_mode  # type: ignore[attr-defined]
        self._compiled[shape] = compiled = _Compiled(
            sql=base.sql,
            db=base.db,
            slots=base.slots,
            converters=base.converters,
            start=start,
            end=end,
            init_list=[f[0].target.attname for f in select[start:end]],
            from_db=_get_from_db(klass_info["model"], fetch_mode),
            populators=get_related_populators(klass_info, select, qs.db, fetch_mode),
            annotations=list((compiler.annotation_col_map or {}).items()),
        )
        return compiled

    def all(
        self, shape: Hashable = None, context: dict[str, Any] | None = None, **values: int
    ) -> list[M]:
        """The rows for `values`. `shape` names what else decides the SQL (a role that sees
        everything or only its teams), given to `build` as `context` the first time."""
        c = self._compiled.get(shape) or self._compile(shape, context or {})
        objects: list[M] = []
        for row in _run(c, values):
            obj = c.from_db(c.db, c.init_list, row[c.start : c.end])
            for populator in c.populators:
                populator.populate(row, obj)
            for name, pos in c.annotations:
                setattr(obj, name, row[pos])
            objects.append(obj)
        return objects


class PreparedValues:
    """`build(ids)` -> a `values_list` queryset filtered by `__in=ids`: compiled once per
    number of ids (a page's rows: at most a page size of shapes), run with the real ids. The
    rows are tuples, each column converted as the ORM converts it (dates on SQLite)."""

    def __init__(self, build: Callable[[list[int]], QuerySet[Any]]) -> None:
        self.build = build
        self._compiled: dict[int, Shape] = {}

    # Past this many ids, the ORM's own query (the stand-ins below must stay apart).
    MOST = 150

    def _compile(self, n: int) -> Shape:
        # Spaced differently in the two compilations: a value computed from the ids (an id
        # plus one, say) cannot pass for a slot in both. A slot's key is its id's position.
        _, _, compiled = _compile_checked(
            lambda ids: self.build(list(ids.values())),
            {i: _STAND_IN + 3 * i for i in range(n)},
            {i: _STAND_IN + _OTHER + 5 * i for i in range(n)},
            f"{self.build.__name__}: its SQL depends on more than the ids",
        )
        self._compiled[n] = compiled
        return compiled

    def rows(self, ids: list[int]) -> list[tuple[Any, ...]]:
        if not ids:
            return []
        if len(ids) > self.MOST:
            return [tuple(row) for row in self.build(ids)]
        c = self._compiled.get(len(ids)) or self._compile(len(ids))
        return [tuple(row) for row in _run(c, ids)]
