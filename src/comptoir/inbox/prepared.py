"""Read queries compiled to SQL once per process, then run with each request's values.

Building a query's SQL costs the ORM 0.5-1 ms; running one of the conversation page's small
look-ups costs SQLite or PostgreSQL a thirtieth of that. A `Prepared` query is written as usual
(a function of its parameters returning a queryset), compiled once per shape with stand-in
values, and then run through `Model.objects.raw` with the real ones: the same SQL, the same
model instances (fields converted as the ORM does; columns not selected are deferred).

Only for querysets whose SQL depends on nothing but their parameters (no `__in` over a Python
list, whose length shapes the SQL; no value computed at build time such as now()); a
parameter is an integer (a primary key). Columns from other tables come in as annotations
(`channel_name=F("channel__name")`): a raw query cannot fill related objects.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

from django.db.models import Model, QuerySet

# Stand-in values: far above the primary keys a desk reaches, and each one distinct; within a
# 32-bit integer column's range, where a lookup past it is dropped from the SQL (no parameter).
_STAND_IN = 2_093_847_000


class Prepared[M: Model]:
    """`build(**context, **values)` -> a queryset, compiled once per `shape` (one database per
    process: the default one)."""

    def __init__(self, build: Callable[..., QuerySet[M]], *names: str) -> None:
        self.build = build
        self.names = names
        self._compiled: dict[Hashable, tuple[type[M], str, list[tuple[bool, Any]]]] = {}

    def _compile(
        self, shape: Hashable, context: dict[str, Any]
    ) -> tuple[type[M], str, list[tuple[bool, Any]]]:
        stand_ins = {name: _STAND_IN + i for i, name in enumerate(self.names)}
        qs = self.build(**context, **stand_ins)
        sql, params = qs.query.get_compiler(using=qs.db).as_sql()
        by_value = {value: name for name, value in stand_ins.items()}
        # Each parameter: (True, the name of a value given per run) or (False, a constant). A
        # value may not reach the SQL at all (the user, for a role that sees everything).
        slots = [(True, by_value[p]) if p in by_value else (False, p) for p in params]
        self._compiled[shape] = compiled = (qs.model, sql, slots)
        return compiled

    def all(
        self, shape: Hashable = None, context: dict[str, Any] | None = None, **values: int
    ) -> list[M]:
        """The rows for `values`. `shape` names what else decides the SQL (a role that sees
        everything or only its teams), given to `build` as `context` the first time."""
        compiled = self._compiled.get(shape) or self._compile(shape, context or {})
        model, sql, slots = compiled
        params = [values[name] if named else name for named, name in slots]
        return list(model._default_manager.raw(sql, params))
