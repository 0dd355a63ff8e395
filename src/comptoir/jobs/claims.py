"""Claiming a queued outbound step (a reply, a case step) by conditional UPDATE: of the
workers that pick the same row, exactly one moves it from queued to sending."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import F, Model, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

QUEUED = "queued"
SENDING = "sending"


@dataclass(frozen=True)
class SendFields:
    """The names of a model's delivery fields (replies and case steps name them differently)."""

    state: str
    attempts: str
    claimed_at: str
    started_at: str


def claim(model: type[Model], pk: int, fields: SendFields) -> bool:
    """Queued → sending, counting the attempt; False when the row was not queued (done
    already, or another worker has it)."""
    now = timezone.now()
    return bool(
        model._default_manager.filter(pk=pk, **{fields.state: QUEUED}).update(
            **{
                fields.state: SENDING,
                fields.attempts: F(fields.attempts) + 1,
                fields.claimed_at: now,
                # The first attempt's start stays: any attempt since may be the one that got there.
                fields.started_at: Coalesce(F(fields.started_at), Value(now)),
            }
        )
    )


def requeue(model: type[Model], pk: int, fields: SendFields) -> bool:
    """Sending → queued, for a step a dead worker left; False when it moved meanwhile."""
    return bool(
        model._default_manager.filter(pk=pk, **{fields.state: SENDING}).update(
            **{fields.state: QUEUED}
        )
    )
