"""The email channel: a mailbox read over IMAP (UID cursor per folder), answers sent by SMTP.

The cursor keeps, per folder, the UIDVALIDITY and the highest UID stored. A restart resumes
after it; a changed UIDVALIDITY (the folder was recreated) starts the folder again from the
beginning, and ingest's idempotency on the Message-ID keeps that free of duplicates. Messages
are read with BODY.PEEK[] (never marked \\Seen) and never deleted: a channel that asks for it
has them moved to a folder once they are stored.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Literal

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError
from pydantic import BaseModel, Field

from comptoir.connectors.base import Connector, ConnectorError, InboundMessage
from comptoir.connectors.email import mime

FETCH_CHUNK = 50


class EmailSettings(BaseModel):
    imap_host: str
    imap_port: int = 993
    imap_security: Literal["ssl", "starttls", "none"] = "ssl"
    username: str
    password: str
    folders: list[str] = Field(default_factory=lambda: ["INBOX"], min_length=1)
    timeout_seconds: float = 30.0
    verify_tls: bool = True


class EmailConnector(Connector):
    kind = "email"
    settings_model = EmailSettings

    def conf(self) -> EmailSettings:
        conf = self.settings()
        assert isinstance(conf, EmailSettings)
        return conf

    def _connect(self) -> IMAPClient:
        conf = self.conf()
        context = ssl.create_default_context()
        if not conf.verify_tls:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        where = f"{conf.imap_host}:{conf.imap_port}"
        try:
            client = IMAPClient(
                conf.imap_host,
                port=conf.imap_port,
                ssl=conf.imap_security == "ssl",
                ssl_context=context,
                timeout=conf.timeout_seconds,
            )
            if conf.imap_security == "starttls":
                client.starttls(context)
            client.login(conf.username, conf.password)
        except LoginError as exc:
            raise ConnectorError(f"IMAP login refused on {where}: {exc}", permanent=True) from exc
        except ssl.SSLCertVerificationError as exc:
            raise ConnectorError(
                f"TLS certificate of {where} refused: {exc}", permanent=True
            ) from exc
        except (TimeoutError, OSError, IMAPClientError) as exc:
            raise ConnectorError(f"IMAP server {where} unreachable: {exc}") from exc
        return client

    def test_connection(self) -> str:
        client = self._connect()
        try:
            found = []
            for folder in self.conf().folders:
                status = client.folder_status(folder, ["MESSAGES"])
                found.append(f"{folder}: {status[b'MESSAGES']} messages")
            return "connected; " + ", ".join(found)
        except IMAPClientError as exc:
            raise ConnectorError(f"IMAP folder problem: {exc}", permanent=True) from exc
        finally:
            _logout(client)

    def fetch(self, since: dict[str, Any]) -> Iterator[InboundMessage]:
        client = self._connect()
        try:
            for folder in self.conf().folders:
                yield from self._fetch_folder(client, folder, since.get(folder) or {})
        except (OSError, IMAPClientError) as exc:
            # What was yielded before is stored and its UIDs are in the cursor: a retry resumes.
            raise ConnectorError(f"IMAP error: {exc}") from exc
        finally:
            _logout(client)

    def _fetch_folder(
        self, client: IMAPClient, folder: str, state: dict[str, Any]
    ) -> Iterator[InboundMessage]:
        info = client.select_folder(folder, readonly=True)
        validity = int(info[b"UIDVALIDITY"])
        last = int(state.get("last_uid", 0)) if state.get("uidvalidity") == validity else 0
        self.cursor[folder] = {"uidvalidity": validity, "last_uid": last}
        # `N:*` always matches the newest message, even below N: filter.
        uids = sorted(uid for uid in client.search(["UID", f"{last + 1}:*"]) if uid > last)
        for start in range(0, len(uids), FETCH_CHUNK):
            chunk = uids[start : start + FETCH_CHUNK]
            fetched = client.fetch(chunk, ["BODY.PEEK[]", "INTERNALDATE"])
            for uid in chunk:
                data = fetched.get(uid)
                if data is None:  # expunged meanwhile
                    continue
                raw = data.get(b"BODY[]") or b""
                received = data.get(b"INTERNALDATE")
                yield mime.parse(
                    raw,
                    channel_id=self.channel.pk,
                    received_at=_aware(received),
                    meta={"folder": folder, "uid": uid, "uidvalidity": validity},
                )
                self.cursor[folder] = {"uidvalidity": validity, "last_uid": uid}


def _aware(value: datetime | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _logout(client: IMAPClient) -> None:
    with contextlib.suppress(OSError, IMAPClientError):
        client.logout()
