"""IMAP IDLE against dovecot: new mail is noticed at once, IDLE is re-issued, and across
workers each mailbox is watched once."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from comptoir.connectors.email.connector import EmailConnector
from comptoir.connectors.email.idle import IdleSupervisor, IdleWatcher
from comptoir.inbox import actions
from comptoir.inbox.models import Channel
from comptoir.jobs.models import Lease
from tests.mailservers import Dovecot
from tests.test_email_imap import mail

WAIT = 60.0  # a guard against a hang, not a speed bound: an event takes milliseconds


class Notices:
    """Counts `on_new` calls; a test waits for the next one on an event, never by sleeping."""

    def __init__(self) -> None:
        self.count = 0
        self._changed = threading.Condition()

    def __call__(self) -> None:
        with self._changed:
            self.count += 1
            self._changed.notify_all()

    def wait_for(self, count: int) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self.count >= count, timeout=WAIT)


@pytest.fixture
def watching(email_channel: Channel) -> Iterator[tuple[IdleWatcher, Notices]]:
    notices = Notices()
    watcher = IdleWatcher(EmailConnector(email_channel), notices, check_seconds=0.2)
    yield watcher, notices
    watcher.stop.set()  # a test that failed half-way still ends its thread


def start(watcher: IdleWatcher) -> threading.Thread:
    thread = threading.Thread(target=watcher.run, daemon=True)
    thread.start()
    return thread


def test_new_mail_is_noticed_while_idling(
    dovecot: Dovecot, mailbox: str, watching: tuple[IdleWatcher, Notices]
) -> None:
    watcher, notices = watching
    thread = start(watcher)
    assert notices.wait_for(1)  # the catch-up on connecting

    dovecot.deliver(mailbox, mail()[0])

    assert notices.wait_for(2)
    watcher.stop.set()
    thread.join(timeout=WAIT)
    assert not thread.is_alive()


def test_idle_is_reissued_and_still_notices_mail(
    dovecot: Dovecot, mailbox: str, watching: tuple[IdleWatcher, Notices]
) -> None:
    watcher, notices = watching
    watcher.reissue_seconds = 0  # every check: as the 25-minute deadline would
    thread = start(watcher)
    assert notices.wait_for(1)

    dovecot.deliver(mailbox, mail()[0])

    assert notices.wait_for(2)
    assert watcher.idle_commands >= 2
    watcher.stop.set()
    thread.join(timeout=WAIT)


def test_a_wrong_password_ends_the_watcher_with_the_reason(email_channel: Channel) -> None:
    settings: dict[str, Any] = email_channel.get_settings()
    email_channel.set_settings({**settings, "password": "wrong"})
    email_channel.save()
    watcher = IdleWatcher(EmailConnector(email_channel), lambda: None)

    watcher.run()  # returns: a refused login is permanent

    assert "login refused" in watcher.last_error


# --- the supervisor: one watcher per mailbox across workers -------------------------------


class ChannelNotices(Notices):
    def __init__(self) -> None:
        super().__init__()
        self.channels: list[int] = []

    def __call__(self, channel_id: int) -> None:  # type: ignore[override]
        self.channels.append(channel_id)
        super().__call__()


@pytest.fixture
def supervisors() -> Iterator[Callable[[str], tuple[IdleSupervisor, ChannelNotices]]]:
    made: list[IdleSupervisor] = []

    def make(worker_id: str) -> tuple[IdleSupervisor, ChannelNotices]:
        notices = ChannelNotices()
        supervisor = IdleSupervisor(worker_id, notices, check_seconds=0.2)
        made.append(supervisor)
        return supervisor, notices

    yield make
    for supervisor in made:  # a failed test still ends its threads
        supervisor.stop()


def lease_of(channel: Channel) -> Lease:
    return Lease.objects.get(name=f"email.idle.{channel.pk}")


def test_two_workers_watch_a_mailbox_once_and_new_mail_polls_it(
    dovecot: Dovecot, mailbox: str, email_channel: Channel, supervisors: Any
) -> None:
    a, a_notices = supervisors("worker-a")
    b, b_notices = supervisors("worker-b")

    a.sync()
    b.sync()

    assert list(a.watchers) == [email_channel.pk]
    assert b.watchers == {}
    assert lease_of(email_channel).holder == "worker-a"
    assert a_notices.wait_for(1)  # the catch-up on connecting
    dovecot.deliver(mailbox, mail()[0])
    assert a_notices.wait_for(2)
    assert a_notices.channels == [email_channel.pk, email_channel.pk]

    a.stop()  # the worker stops: its lease is released, another worker takes over

    assert not Lease.objects.exists()
    b.sync()
    assert list(b.watchers) == [email_channel.pk]
    assert b_notices.wait_for(1)


def test_a_worker_that_lost_its_lease_stops_watching(
    email_channel: Channel, supervisors: Any
) -> None:
    a, _ = supervisors("worker-a")
    b, _ = supervisors("worker-b")
    a.sync()
    thread = a.watchers[email_channel.pk].thread
    # worker-a stalled past its lease: another worker may take the mailbox
    Lease.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    b.sync()
    a.sync()

    assert list(b.watchers) == [email_channel.pk]
    assert a.watchers == {}
    assert not thread.is_alive()
    assert lease_of(email_channel).holder == "worker-b"


def test_a_mailbox_with_idle_off_or_an_inactive_channel_is_not_watched(
    email_channel: Channel, supervisors: Any
) -> None:
    a, _ = supervisors("worker-a")
    email_channel.set_settings({**email_channel.get_settings(), "idle": False})
    email_channel.save()
    a.sync()
    assert a.watchers == {}

    email_channel.set_settings({**email_channel.get_settings(), "idle": True})
    email_channel.is_active = False
    email_channel.save()
    a.sync()
    assert a.watchers == {}
    assert not Lease.objects.exists()


def test_a_watcher_that_gave_up_waits_for_the_settings_to_change(
    email_channel: Channel, supervisors: Any
) -> None:
    good = email_channel.get_settings()
    email_channel.set_settings({**good, "password": "wrong"})
    email_channel.save()
    a, notices = supervisors("worker-a")
    a.sync()
    a.watchers[email_channel.pk].thread.join(WAIT)  # a refused login ends the watcher

    a.sync()
    a.sync()  # no retry every tick with the same wrong password

    assert a.watchers == {}
    assert "login refused" in a.given_up[email_channel.pk][1]
    assert not Lease.objects.exists()

    email_channel.set_settings(good)  # the admin fixed the password
    email_channel.save()
    a.sync()

    assert list(a.watchers) == [email_channel.pk]
    assert notices.wait_for(1)


def test_changed_settings_restart_the_watcher(email_channel: Channel, supervisors: Any) -> None:
    a, notices = supervisors("worker-a")
    a.sync()
    first = a.watchers[email_channel.pk].thread
    assert notices.wait_for(1)

    email_channel.set_settings({**email_channel.get_settings(), "timeout_seconds": 10})
    email_channel.save()
    a.sync()

    assert not first.is_alive()
    assert a.watchers[email_channel.pk].thread is not first
    assert notices.wait_for(2)  # the new watcher's catch-up


def test_new_mail_queues_a_poll_of_that_channel(
    email_channel: Channel, django_capture_on_commit_callbacks: Any
) -> None:
    from django_tasks_db.models import DBTaskResult

    with django_capture_on_commit_callbacks(execute=True):
        actions.request_channel_poll(email_channel.pk)

    (task,) = DBTaskResult.objects.filter(task_path="comptoir.inbox.tasks.poll_channel")
    assert task.args_kwargs["args"] == [email_channel.pk]


def test_workers_run_the_email_supervisor() -> None:
    from comptoir.connectors.registry import background_services
    from comptoir.jobs.periodic import SERVICE_FACTORIES, autodiscover

    autodiscover()

    assert background_services in SERVICE_FACTORIES
    services = background_services("worker-a")
    assert [type(s) for s in services] == [IdleSupervisor]
