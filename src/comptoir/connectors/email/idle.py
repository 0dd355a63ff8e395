"""IMAP IDLE: the server tells us the moment mail arrives, so polling waits for nothing.

One watcher per mailbox folder. On connecting, and whenever the server reports new mail
(EXISTS), it calls `on_new` (which queues a poll: the poll does the reading, with its cursor).
The IDLE command is re-issued every 25 minutes, before the 29 after which RFC 2177 lets a
server drop it. A lost connection is retried with backoff; a server without IDLE ends the
watcher, and the periodic poll carries on alone.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.db import connections
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from comptoir.connectors.base import ConnectorError, StoredChannel, channel_store
from comptoir.connectors.email import oauth
from comptoir.connectors.email.connector import EmailConnector, _logout
from comptoir.jobs import leases
from comptoir.lib.backoff import backoff

logger = logging.getLogger("comptoir.email")

REISSUE_SECONDS = 25 * 60
# How long an IDLE wait may last before it looks at its stop flag: what a stopping worker
# waits for at most. A wait is a select() on the socket, with no traffic: short costs nothing.
CHECK_SECONDS = 1.0


class IdleWatcher:
    def __init__(
        self,
        connector: EmailConnector,
        on_new: Callable[[], None],
        *,
        stop: threading.Event | None = None,
        folder: str = "INBOX",
        check_seconds: float = CHECK_SECONDS,
        reissue_seconds: float = REISSUE_SECONDS,
    ) -> None:
        self.connector = connector
        self.on_new = on_new
        self.stop = stop or threading.Event()
        self.folder = folder
        self.check_seconds = check_seconds
        self.reissue_seconds = reissue_seconds
        self.idle_commands = 0  # how many IDLE were issued: for tests and the health page
        self.renewals = 0  # sessions ended to log in again with a fresh OAuth token
        self.last_error = ""

    def run(self) -> None:
        """Watch until `stop` is set. Returns early only when the server cannot IDLE."""
        failures = 0
        while not self.stop.is_set():
            try:
                self._session()
                failures = 0
            except ConnectorError as exc:
                self.last_error = str(exc)
                if exc.permanent:
                    logger.warning("IDLE on %s stopped: %s", self.connector.channel, exc)
                    return
                failures += 1
            except (OSError, IMAPClientError) as exc:
                self.last_error = f"IMAP error: {exc}"
                failures += 1
            if failures:
                logger.info("IDLE on %s: %s", self.connector.channel, self.last_error)
                self.stop.wait(backoff(failures, base=5.0, cap=300.0))

    def _session(self) -> None:
        client = self.connector._connect()
        try:
            if not client.has_capability("IDLE"):
                raise ConnectorError("the IMAP server does not offer IDLE", permanent=True)
            client.select_folder(self.folder, readonly=True)
            self.on_new()  # whatever came while we were not watching
            # Under OAuth the session ends before its token does; `run` logs in again with a
            # fresh one (and the poll queued then finds what came in between).
            renew_at = self.connector.login_expires_at
            while not self.stop.is_set() and not _past(renew_at):
                # Stopping, a poll is not queued: the next watcher's first look finds the mail.
                if self._idle_once(client, renew_at) and not self.stop.is_set():
                    self.on_new()
            if renew_at is not None and not self.stop.is_set():
                self.renewals += 1
        finally:
            _logout(client)

    def _idle_once(self, client: IMAPClient, renew_at: float | None = None) -> bool:
        """One IDLE command, ended by new mail, by `stop`, by the re-issue deadline or by the
        time to renew the session's token."""
        client.idle()
        self.idle_commands += 1
        started = time.monotonic()
        new = False
        try:
            while not self.stop.is_set() and not new:
                new = _has_new_mail(client.idle_check(timeout=self.check_seconds))
                if time.monotonic() - started >= self.reissue_seconds or _past(renew_at):
                    break
        finally:
            # Mail that arrived while IDLE was being ended is reported here, not later.
            _, closing = client.idle_done()
        return new or _has_new_mail(closing)


def _past(moment: float | None) -> bool:
    return moment is not None and time.time() >= moment


def _has_new_mail(responses: list[tuple[object, ...]]) -> bool:
    return any(len(r) > 1 and r[1] == b"EXISTS" for r in responses)


# A worker renews its leases at every scheduler tick (seconds); a dead worker's run out soon.
LEASE_TTL = timedelta(minutes=2)


class IdleSupervisor:
    """One IDLE watcher per mailbox that wants it, across all workers: each mailbox is watched
    by the worker holding its lease. New mail queues a poll of that channel.

    A watcher that gave up (no IDLE on the server, login refused) is not restarted until the
    channel changes: its settings are saved, or it goes unhealthy and comes back.
    """

    def __init__(
        self,
        worker_id: str,
        on_new: Callable[[int], None] | None = None,
        *,
        check_seconds: float = CHECK_SECONDS,
    ) -> None:
        self.worker_id = worker_id
        self.on_new = on_new or channel_store().request_channel_poll
        self.check_seconds = check_seconds  # how long a stop request may wait
        self.watchers: dict[int, _Watch] = {}
        self.given_up: dict[int, tuple[str, str]] = {}  # channel -> (settings, why)

    def __repr__(self) -> str:
        return f"IdleSupervisor({self.worker_id}, watching {sorted(self.watchers)})"

    def sync(self) -> None:
        wanted = {
            channel.pk: channel
            for channel in channel_store().channels("email")
            if self._wants_idle(channel)
        }
        for channel_id, watch in list(self.watchers.items()):
            alive = watch.thread.is_alive()
            if not alive and watch.watcher.last_error:
                self.given_up[channel_id] = (watch.settings, watch.watcher.last_error)
            channel = wanted.get(channel_id)
            keep = alive and channel is not None and _fingerprint(channel) == watch.settings
            if not keep or not leases.hold(_lease(channel_id), self.worker_id, LEASE_TTL):
                self._stop_one(channel_id)
        for channel_id in list(self.given_up):
            channel = wanted.get(channel_id)
            if channel is None or _fingerprint(channel) != self.given_up[channel_id][0]:
                del self.given_up[channel_id]  # changed since: worth another try
        for channel_id, channel in wanted.items():
            if channel_id in self.watchers or channel_id in self.given_up:
                continue
            if leases.hold(_lease(channel_id), self.worker_id, LEASE_TTL):
                self._start_one(channel)

    def stop(self) -> None:
        for watch in self.watchers.values():
            watch.watcher.stop.set()  # all at once: each ends within check_seconds
        # One deadline for all: a watcher stuck connecting to a dead server must not hold up
        # the worker's exit (the threads are daemons: they end with the process).
        deadline = time.monotonic() + self.check_seconds + 1
        for channel_id in list(self.watchers):
            self._stop_one(channel_id, timeout=max(0.0, deadline - time.monotonic()))

    def _wants_idle(self, channel: StoredChannel) -> bool:
        try:
            conf = EmailConnector(channel).conf()
        except Exception:  # unreadable settings: the poll reports it on the channel
            return False
        return conf.idle

    def _start_one(self, channel: StoredChannel) -> None:
        channel_id = channel.pk
        watcher = IdleWatcher(
            EmailConnector(channel),
            lambda: self._notify(channel_id),
            check_seconds=self.check_seconds,
        )

        def run() -> None:
            try:
                watcher.run()
            finally:
                connections.close_all()  # this thread's database connection, if any

        thread = threading.Thread(target=run, name=f"comptoir-idle-{channel_id}", daemon=True)
        self.watchers[channel_id] = _Watch(watcher, thread, _fingerprint(channel))
        thread.start()

    def _notify(self, channel_id: int) -> None:
        try:
            self.on_new(channel_id)
        except Exception:  # the periodic poll still comes; the watcher must go on
            logger.exception("IDLE on channel %s could not queue a poll", channel_id)
        finally:
            connections.close_all()

    def _stop_one(self, channel_id: int, timeout: float | None = None) -> None:
        watch = self.watchers.pop(channel_id)
        watch.watcher.stop.set()
        watch.thread.join(self.check_seconds * 2 + 5 if timeout is None else timeout)
        leases.release(_lease(channel_id), self.worker_id)


@dataclass
class _Watch:
    watcher: IdleWatcher
    thread: threading.Thread
    settings: str  # the fingerprint of the settings it started with: a change restarts it


def _fingerprint(channel: StoredChannel) -> str:
    """The channel's settings as the watcher cares for them: a refreshed OAuth token (written
    to the settings every hour or so) does not restart it."""
    try:
        data = channel.get_settings()
    except Exception:  # unreadable: compared as stored
        return channel.settings_encrypted
    kept = {k: v for k, v in data.items() if k not in oauth.TOKEN_KEYS}
    return hashlib.sha256(json.dumps(kept, sort_keys=True, default=str).encode()).hexdigest()


def _lease(channel_id: int) -> str:
    return f"email.idle.{channel_id}"
