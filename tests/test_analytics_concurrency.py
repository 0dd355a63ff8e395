"""Two workers refreshing the same conversation's facts at once (found by the several-hosts
test: a duplicate key on `analytics_conversationfact`, and waits that would count twice)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connections
from django.utils import timezone

from comptoir.analytics import facts, rollup
from comptoir.analytics.models import ConversationFact, ResponseFact
from comptoir.inbox.ingest import ingest


@pytest.mark.django_db(transaction=True)
def test_two_refreshes_of_one_conversation_at_once_write_its_facts_once(
    postgres_only: None, make_inbound: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    conv_id = ingest(make_inbound()).conversation_id
    assert conv_id is not None
    facts.refresh([conv_id])
    # The first refresh stops between reading what it will replace and replacing it, until the
    # second one reaches the same point (or, once they take turns, for a second at most).
    second_arrived = threading.Event()
    first = threading.Lock()
    real_slices_of = rollup.slices_of

    def slices_of(ids: list[int]) -> Any:
        if first.acquire(blocking=False):
            second_arrived.wait(timeout=1.0)
        else:
            second_arrived.set()
        return real_slices_of(ids)

    monkeypatch.setattr(rollup, "slices_of", slices_of)
    errors: list[BaseException] = []

    def refresh() -> None:
        try:
            facts._refresh_batch([conv_id], timezone.now(), keep_rollup=True)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=refresh) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert ConversationFact.objects.filter(conversation_id=conv_id).count() == 1
    waits = list(ResponseFact.objects.filter(conversation_id=conv_id).values_list("pk", flat=True))
    assert len(waits) <= 1
