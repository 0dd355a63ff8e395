"""IMAP IDLE against dovecot: new mail is noticed at once, and IDLE is re-issued."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from comptoir.connectors.email.connector import EmailConnector
from comptoir.connectors.email.idle import IdleWatcher
from comptoir.inbox.models import Channel
from tests.mailservers import Dovecot
from tests.test_email_imap import mail

WAIT = 10.0  # seconds an event may take before the test fails (it takes milliseconds)


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
