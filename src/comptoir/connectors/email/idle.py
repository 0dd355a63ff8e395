"""IMAP IDLE: the server tells us the moment mail arrives, so polling waits for nothing.

One watcher per mailbox folder. On connecting, and whenever the server reports new mail
(EXISTS), it calls `on_new` (which queues a poll: the poll does the reading, with its cursor).
The IDLE command is re-issued every 25 minutes, before the 29 after which RFC 2177 lets a
server drop it. A lost connection is retried with backoff; a server without IDLE ends the
watcher, and the periodic poll carries on alone.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from comptoir.connectors.base import ConnectorError
from comptoir.connectors.email.connector import EmailConnector, _logout
from comptoir.jobs.retry import backoff_seconds

logger = logging.getLogger("comptoir.email")

REISSUE_SECONDS = 25 * 60


class IdleWatcher:
    def __init__(
        self,
        connector: EmailConnector,
        on_new: Callable[[], None],
        *,
        stop: threading.Event | None = None,
        folder: str = "INBOX",
        check_seconds: float = 30.0,
        reissue_seconds: float = REISSUE_SECONDS,
    ) -> None:
        self.connector = connector
        self.on_new = on_new
        self.stop = stop or threading.Event()
        self.folder = folder
        self.check_seconds = check_seconds
        self.reissue_seconds = reissue_seconds
        self.idle_commands = 0  # how many IDLE were issued: for tests and the health page
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
                self.stop.wait(backoff_seconds(failures, base=5.0, cap=300.0))

    def _session(self) -> None:
        client = self.connector._connect()
        try:
            if not client.has_capability("IDLE"):
                raise ConnectorError("the IMAP server does not offer IDLE", permanent=True)
            client.select_folder(self.folder, readonly=True)
            self.on_new()  # whatever came while we were not watching
            while not self.stop.is_set():
                if self._idle_once(client):
                    self.on_new()
        finally:
            _logout(client)

    def _idle_once(self, client: IMAPClient) -> bool:
        """One IDLE command, ended by new mail, by `stop`, or by the re-issue deadline."""
        client.idle()
        self.idle_commands += 1
        started = time.monotonic()
        new = False
        try:
            while not self.stop.is_set() and not new:
                new = _has_new_mail(client.idle_check(timeout=self.check_seconds))
                if time.monotonic() - started >= self.reissue_seconds:
                    break
        finally:
            # Mail that arrived while IDLE was being ended is reported here, not later.
            _, closing = client.idle_done()
        return new or _has_new_mail(closing)


def _has_new_mail(responses: list[tuple[object, ...]]) -> bool:
    return any(len(r) > 1 and r[1] == b"EXISTS" for r in responses)
