"""The SLA sweep: conversations move ok → at risk → breached, each transition exactly once.

Set-based, whatever the number of conversations: per transition one conditional UPDATE
(`... WHERE sla_state = <old>`, so that two sweeps running at once, or a sweep racing a reply,
never move a conversation twice) returning the ids it moved, and one INSERT ... SELECT writing
their events. Both run on an index (`conv_sla_breach`, `conv_sla_at_risk`): the cost follows the
conversations that move, not the ones that wait.

Breaches are swept first: a conversation that passed both instants since the last sweep (a
worker down for a day) is breached once, and not "at risk" after the fact.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from comptoir.inbox.models import Conversation, Event, EventKind, Priority, SLAState

NOTIFY_CHUNK = 500


@dataclass
class SweepResult:
    at_risk: list[int] = field(default_factory=list)
    breached: list[int] = field(default_factory=list)


def sweep(now: datetime | None = None) -> SweepResult:
    """Move every conversation whose instant has come; notify after commit. Returns the ids."""
    now = now or timezone.now()
    result = SweepResult()
    result.breached = _transition(
        now,
        from_states=(SLAState.OK, SLAState.AT_RISK),
        to_state=SLAState.BREACHED,
        instant_column="respond_by",
        priority=Priority.URGENT,
        kind=EventKind.SLA_BREACHED,
    )
    result.at_risk = _transition(
        now,
        from_states=(SLAState.OK,),
        to_state=SLAState.AT_RISK,
        instant_column="sla_at_risk_at",
        priority=Priority.HIGH,
        kind=EventKind.SLA_AT_RISK,
    )
    return result


def _transition(
    now: datetime,
    *,
    from_states: Sequence[str],
    to_state: str,
    instant_column: str,
    priority: int,
    kind: str,
) -> list[int]:
    quote = connection.ops.quote_name
    table = quote(Conversation._meta.db_table)
    when = Conversation._meta.get_field("updated_at").get_db_prep_save(now, connection)
    # The states are our own constants, written inline: SQLite picks the index for a literal
    # more surely than for a parameter.
    states = ", ".join(f"'{s}'" for s in from_states)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET sla_state = '{to_state}', updated_at = %s, "
                f"priority = CASE WHEN priority < {priority} THEN {priority} ELSE priority END "
                f"WHERE sla_state IN ({states}) AND {quote(instant_column)} <= %s "
                "AND deleted_at IS NULL RETURNING id",
                [when, when],
            )
            ids = sorted(row[0] for row in cursor.fetchall())
            if ids:
                _write_events(cursor, ids, kind, to_state, when)
        if ids:
            transaction.on_commit(functools.partial(_notify, kind, ids))
    return ids


def _write_events(cursor: object, ids: list[int], kind: str, state: str, when: object) -> None:
    quote = connection.ops.quote_name
    table = quote(Event._meta.db_table)
    data = json.dumps({"sla_state": state})
    columns = "conversation_id, kind, actor_id, actor_label, data, created_at"
    id_param: object
    if connection.vendor == "postgresql":
        source, column, cast, id_param = "UNNEST(%s::bigint[]) AS t(id)", "t.id", "::jsonb", ids
    else:
        source, column, cast, id_param = "json_each(%s) AS t", "t.value", "", json.dumps(ids)
    cursor.execute(  # type: ignore[attr-defined]
        f"INSERT INTO {table} ({columns}) "
        f"SELECT {column}, %s, NULL, 'sla', %s{cast}, %s FROM {source}",
        [kind, data, when, id_param],
    )


def _notify(kind: str, ids: list[int]) -> None:
    from comptoir.notifications.actions import Kind, notify

    notify_kind = Kind.SLA_BREACHED if kind == EventKind.SLA_BREACHED else Kind.SLA_AT_RISK
    for start in range(0, len(ids), NOTIFY_CHUNK):
        notify(notify_kind, conversations=ids[start : start + NOTIFY_CHUNK])
