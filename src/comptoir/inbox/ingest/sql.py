"""Small SQL helpers of the batch store."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Model

from comptoir.inbox import fastsql
from comptoir.inbox.models import (
    InboundRecord,
    InboundState,
)


def _table(model: type[Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _any_of(key: str, column: str, values: Mapping[Any, Iterable[Any]]) -> tuple[str, list[Any]]:
    """`(key = %s AND column IN (...)) OR ...`: one clause per key, for a set-based lookup."""
    clauses, params = [], []
    for value, items in values.items():
        placeholders, listed = fastsql.in_list(items)
        clauses.append(f"({key} = %s AND {column} IN {placeholders})")
        params.extend([value, *listed])
    return " OR ".join(clauses), params


def _set_records_state(ids: list[int], state: InboundState, now: datetime) -> None:
    if not ids:
        return
    placeholders, params = fastsql.in_list(ids)
    processed = InboundRecord._meta.get_field("processed_at").get_db_prep_save(now, connection)
    fastsql.execute(
        f"UPDATE {_table(InboundRecord)} SET state = %s, processed_at = %s, error = '' "
        f"WHERE id IN {placeholders}",
        [state.value, processed, *params],
    )
