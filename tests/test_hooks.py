"""The inbox's one event mechanism: subscribers run inside the emitting transaction, or after
it commits when the hook says so (and then a failing one never undoes what was stored)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import transaction

from comptoir.inbox.hooks import Hook

OnCommit = Callable[..., Any]


def test_subscribers_run_at_once_inside_the_transaction_and_once_each() -> None:
    hook: Hook[[int]] = Hook("test")
    seen: list[int] = []
    hook.subscribe(seen.append)
    hook.subscribe(seen.append)  # subscribing twice (a second ready()) changes nothing

    hook.emit(7)

    assert seen == [7]


@pytest.mark.django_db
def test_an_after_commit_hook_waits_for_the_commit_and_a_failing_subscriber_is_only_logged(
    django_capture_on_commit_callbacks: OnCommit, caplog: pytest.LogCaptureFixture
) -> None:
    hook: Hook[[str]] = Hook("after", after_commit=True)
    seen: list[str] = []

    def broken(value: str) -> None:
        raise RuntimeError("boom")

    hook.subscribe(broken)
    hook.subscribe(seen.append)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        hook.emit("stored")
        assert seen == []  # not before the commit

    assert seen == ["stored"]
    assert "after: subscriber" in caplog.text


def test_an_unsubscribed_function_hears_nothing() -> None:
    hook: Hook[[int]] = Hook("test")
    seen: list[int] = []
    hook.subscribe(seen.append)
    hook.unsubscribe(seen.append)

    hook.emit(1)

    assert seen == []
