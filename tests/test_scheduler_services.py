"""A worker's scheduler keeps the registered long-running services up, and stops them."""

from __future__ import annotations

import threading

import pytest

from comptoir.jobs import periodic
from comptoir.jobs.runner import Scheduler


class FakeService:
    def __init__(self) -> None:
        self.syncs = 0
        self.synced = threading.Event()
        self.stopped = threading.Event()

    def sync(self) -> None:
        self.syncs += 1
        self.synced.set()
        if self.syncs == 1:
            raise RuntimeError("a bad sync is logged; the scheduler goes on")

    def stop(self) -> None:
        self.stopped.set()


@pytest.fixture
def service(monkeypatch: pytest.MonkeyPatch) -> FakeService:
    made = FakeService()
    monkeypatch.setattr(periodic, "SERVICE_FACTORIES", [lambda worker_id: [made]])
    monkeypatch.setattr(Scheduler, "tick_now", lambda self: [])  # no periodic jobs here
    return made


def test_the_scheduler_thread_syncs_services_and_stops_them(service: FakeService) -> None:
    scheduler = Scheduler("worker-a", interval=0.01)
    scheduler.start_thread()
    assert service.synced.wait(10)

    scheduler.stop_thread(timeout=10)

    assert service.stopped.is_set()
    assert service.syncs >= 1


def test_services_sync_with_each_due_tick_and_survive_a_failed_sync(service: FakeService) -> None:
    scheduler = Scheduler("worker-a", interval=0)

    scheduler.tick_if_due()  # the first sync raises: logged
    scheduler.tick_if_due()

    assert service.syncs == 2
    scheduler.stop_services()
    assert service.stopped.is_set()
