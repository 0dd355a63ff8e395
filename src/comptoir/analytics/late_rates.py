"""The marketplaces' late-response rates read from analytics' facts (`BuyerMessageFact`): the
same count as `sla.metrics` (which reads the raw messages, for the SLA page that must be
current to the second), without looking up each buyer message's answer and mark on the raw
rows: on a long history those two lookups per message made it the slowest part of the report.
The facts are as current as the worker's last refresh (`report.missing_facts` warns)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import F, Subquery

from comptoir.analytics.models import BuyerMessageFact
from comptoir.inbox.models import Direction, Message
from comptoir.sla.metrics import PERIODS, answers, marks


class BuyerMessageFacts:
    """A `sla.metrics.Source` over the facts."""

    def _asked(self, channel_ids: list[int], now: datetime) -> Any:
        return BuyerMessageFact.objects.filter(
            channel_id__in=channel_ids,
            received_at__gte=now - timedelta(days=max(PERIODS)),
            received_at__lte=now,
        )

    def asked_sql(self, channel_ids: list[int], now: datetime) -> tuple[str, list[Any]]:
        qs = self._asked(channel_ids, now).values(
            "channel_id", "answered_at", "marked_at", created_at=F("received_at")
        )
        sql, params = qs.query.sql_with_params()
        return sql, list(params)

    def rows(self, channel_id: int, now: datetime) -> Iterable[tuple[datetime, Any, Any]]:
        return self._asked([channel_id], now).values_list("received_at", "answered_at", "marked_at")


FACTS = BuyerMessageFacts()


def fill_from_messages() -> int:
    """Every buyer message's fact, computed in the database in one
    statement (`INSERT ... SELECT`, each message's answer and mark looked up as `sla.metrics`
    does): for the upgrade that adds them and for the benchmarks' bulk-filled histories, where
    refreshing the conversations one batch at a time would take far longer. Returns the count."""
    asked = (
        Message.objects.filter(direction=Direction.IN, is_auto=False)
        .annotate(answered=Subquery(answers()), marked=Subquery(marks()))
        .values_list("pk", "conversation_id", "channel_id", "created_at", "answered", "marked")
    )
    sql, params = asked.query.sql_with_params()
    table = BuyerMessageFact._meta.db_table
    columns = "message_id, conversation_id, channel_id, received_at, answered_at, marked_at"
    with transaction.atomic(), connection.cursor() as cursor:
        BuyerMessageFact.objects.all().delete()
        cursor.execute(f"INSERT INTO {table} ({columns}) {sql}", params)
        return int(cursor.rowcount)
