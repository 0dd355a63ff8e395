"""The imports' progress bar: drawn by its callback, with no thread of its own (import-history
forks its triage reader while the bar is up)."""

from __future__ import annotations

import threading

import pytest

from comptoir.inbox.management.progress import progress_bar


def test_the_bar_runs_no_thread_and_ends_on_the_count(capsys: pytest.CaptureFixture[str]) -> None:
    before = threading.active_count()
    with progress_bar(1200, label="importing") as step:
        assert threading.active_count() == before
        for _ in range(3):
            step(400)
    assert threading.active_count() == before
    assert "1200/1200 messages" in capsys.readouterr().err
