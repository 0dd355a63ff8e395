"""The email channel: a mailbox read over IMAP (UID cursor per folder), answers sent by SMTP.

Answers go out by SMTP with the headers that thread them in the buyer's mail client.

The cursor keeps, per folder, the UIDVALIDITY and the highest UID stored. A restart resumes
after it; a changed UIDVALIDITY (the folder was recreated) starts the folder again from the
beginning, and ingest's idempotency on the Message-ID keeps that free of duplicates. Messages
are read with BODY.PEEK[] (never marked \\Seen) and never deleted: a channel that asks for it
has them moved to a folder once they are stored.
"""

from __future__ import annotations

import contextlib
import logging
import re
import smtplib
import ssl
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formataddr, formatdate
from typing import Any, Literal

from django.utils.translation import gettext_lazy as _
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError
from pydantic import BaseModel, Field, ValidationInfo, field_validator, model_validator

from comptoir.connectors.base import (
    Connector,
    ConnectorError,
    InboundMessage,
    OutboundMessage,
    SendResult,
    channel_store,
)
from comptoir.connectors.email import mime, oauth, tokens
from comptoir.lib import regex_guard

FETCH_CHUNK = 50
FETCH_BYTES = 4_000_000
logger = logging.getLogger("comptoir.email")


# How the settings form names the sign-in and its choices (lazy: read in the page's language;
# never serialised to a JSON schema).
_AUTH_FORM: dict[str, Any] = {
    "label": _("Sign-in"),
    "choice_labels": {
        "password": _("Password"),
        "microsoft": "Microsoft 365 (OAuth)",
        "google": "Google (OAuth)",
    },
}


# The passwords: only for password sign-in (hidden by the form's script otherwise, and
# cleared on saving an OAuth mailbox: a password kept there would be a secret for nothing).
_PASSWORD_FORM: dict[str, Any] = {
    "only_when": ("auth", ("password",)),
    "hint": _("Only for password sign-in; ignored with Microsoft 365 or Google (OAuth)."),
}


class EmailSettings(BaseModel):
    imap_host: str
    imap_port: int = 993
    imap_security: Literal["ssl", "starttls", "none"] = "ssl"
    username: str
    # How IMAP and SMTP log in: the mailbox's password, or XOAUTH2 with a token granted by
    # Microsoft 365 or Google ("Connect" on the settings page; see email/oauth.py).
    auth: Literal["password", "microsoft", "google"] = Field(
        default="password", json_schema_extra=_AUTH_FORM
    )
    password: str = Field(default="", json_schema_extra=_PASSWORD_FORM)
    folders: list[str] = Field(default_factory=lambda: ["INBOX"], min_length=1)
    timeout_seconds: float = 30.0
    verify_tls: bool = True
    max_attachment_bytes: int = Field(default=25_000_000, ge=0)
    # Watch the inbox with IMAP IDLE (new mail polled at once); the periodic poll stays.
    idle: bool = True
    # Where stored mail goes ("" leaves it in place: nothing is ever deleted).
    move_to: str = ""
    # Where a copy of each answer goes ("" for none; many providers file it themselves).
    sent_folder: str = ""
    # Sending: the SMTP login defaults to the IMAP one, as with most providers.
    from_address: str = ""
    from_name: str = ""
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_security: Literal["ssl", "starttls", "none"] = "starttls"
    smtp_username: str | None = None
    smtp_password: str | None = Field(default=None, json_schema_extra=_PASSWORD_FORM)
    # The shop's order numbers, when they do not read as "commande n° 12345" or "order #12345":
    # a regular expression whose first group (or whole match) is the number.
    order_number_pattern: str = ""

    @model_validator(mode="after")
    def _password_when_needed(self) -> EmailSettings:
        if self.auth == "password" and not self.password:
            raise ValueError("a password is needed when the mailbox signs in with a password")
        if self.auth != "password":  # OAuth signs in with tokens: no password is kept
            self.password, self.smtp_password = "", None
        return self

    @property
    def oauth(self) -> bool:
        return self.auth != "password"

    @field_validator("order_number_pattern")
    @classmethod
    def _safe(cls, value: str, info: ValidationInfo) -> str:
        """The rules' ReDoS guard: its full probe when an admin saves the pattern (the settings
        form validates with `saving`), its cheap shape check each time the settings load."""
        if not value:
            return value
        try:
            if info.context and info.context.get("saving"):
                regex_guard.validate_regex(value)
            else:
                regex_guard.check_shape(value, 0)
        except regex_guard.UnsafePattern as exc:
            raise ValueError(str(exc)) from exc
        return value

    def order_regex(self) -> re.Pattern[str] | None:
        return re.compile(self.order_number_pattern) if self.order_number_pattern else None


class EmailConnector(Connector):
    kind = "email"
    settings_model = EmailSettings

    @classmethod
    def background_services(cls, worker_id: str) -> list[Any]:
        from comptoir.connectors.email.idle import IdleSupervisor

        return [IdleSupervisor(worker_id)]

    # When the session's OAuth token needs renewing (a time.time()), None: never.
    login_expires_at: float | None = None

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
            self._login(client, conf)
        except LoginError as exc:
            raise ConnectorError(f"IMAP login refused on {where}: {exc}", permanent=True) from exc
        except ssl.SSLCertVerificationError as exc:
            raise ConnectorError(
                f"TLS certificate of {where} refused: {exc}", permanent=True
            ) from exc
        except (TimeoutError, OSError, IMAPClientError) as exc:
            raise ConnectorError(f"IMAP server {where} unreachable: {exc}") from exc
        return client

    def _login(self, client: IMAPClient, conf: EmailSettings) -> None:
        if not conf.oauth:
            client.login(conf.username, conf.password)
            return
        try:
            client.oauth2_login(conf.username, oauth.access_token(self.channel, conf.auth))
        except LoginError:
            # The token may have been revoked before its expiry: one more try with a new one
            # (a refused grant raises from the refresh, and stops the channel).
            token = oauth.access_token(self.channel, conf.auth, force=True)
            client.oauth2_login(conf.username, token)
        # A long session (IDLE) logs in again before this, with a fresh token: some servers
        # end a session whose token has expired.
        self.login_expires_at = oauth.renew_at(self.channel.get_settings())

    def _smtp_login(self, smtp: smtplib.SMTP, conf: EmailSettings) -> None:
        if not conf.oauth:
            user = conf.smtp_username if conf.smtp_username is not None else conf.username
            password = conf.smtp_password if conf.smtp_password is not None else conf.password
            if user and smtp.has_extn("auth"):
                smtp.login(user, password)
            return
        user = conf.smtp_username or conf.username
        smtp.ehlo_or_helo_if_needed()  # smtplib's auth() does not, unlike login()
        if "XOAUTH2" not in (smtp.esmtp_features.get("auth") or "").upper().split():
            raise ConnectorError(
                f"the SMTP server {conf.smtp_host} does not offer AUTH XOAUTH2", permanent=True
            )
        for force in (False, True):
            token = oauth.access_token(self.channel, conf.auth, force=force)
            try:
                # The whole XOAUTH2 response at once (SASL-IR); a refusal comes back as a 334
                # challenge answered with an empty line, then the 535 smtplib raises.
                code, answer = smtp.auth("XOAUTH2", _xoauth2_answer(user, token))
                if code != 235:  # smtplib lets a 503 through
                    raise smtplib.SMTPAuthenticationError(code, answer)
                return
            except smtplib.SMTPAuthenticationError:
                if force:
                    raise

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
        self._fetched: dict[str, list[int]] = {}
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
        conf = self.conf()
        store = channel_store()
        order_regex = conf.order_regex()
        info = client.select_folder(folder, readonly=True)
        validity = int(info[b"UIDVALIDITY"])
        last = int(state.get("last_uid", 0)) if state.get("uidvalidity") == validity else 0
        self.cursor[folder] = {"uidvalidity": validity, "last_uid": last}
        # `N:*` always matches the newest message, even below N: filter.
        uids = sorted(uid for uid in client.search(["UID", f"{last + 1}:*"]) if uid > last)
        for chunk in _chunks(client, uids):
            fetched = client.fetch(chunk, ["BODY.PEEK[]", "INTERNALDATE"])
            for uid in chunk:
                data = fetched.pop(uid, None)  # let go of each mail once read
                if data is None:  # expunged meanwhile
                    continue
                raw = data.get(b"BODY[]") or b""
                received = data.get(b"INTERNALDATE")
                del data
                # The bytes are on disk before anything else: the source is downloadable, and a
                # parsing bug can be replayed from it.
                source = store.store_file(raw)
                meta = {"folder": folder, "uid": uid, "uidvalidity": validity}
                try:
                    msg = mime.parse(
                        raw,
                        channel_id=self.channel.pk,
                        received_at=_aware(received),
                        meta=meta,
                        max_attachment_bytes=conf.max_attachment_bytes,
                        order_pattern=order_regex,
                        store_file=store.store_file,
                    )
                except Exception as exc:  # one unreadable mail must not stop the mailbox
                    logger.exception("mail uid %s in %s could not be parsed", uid, folder)
                    msg = mime.quarantined(raw, channel_id=self.channel.pk, error=exc, meta=meta)
                msg.source_sha256 = source
                notifier = msg.meta.get("notification")
                if notifier and store.request_poll(notifier):
                    # The marketplace's API has the message itself: no conversation from this.
                    self.cursor[folder] = {"uidvalidity": validity, "last_uid": uid}
                    self._fetched.setdefault(folder, []).append(uid)
                    continue
                bounce = msg.meta.get("bounce")
                if bounce and bounce["action"] == "failed" and bounce["original_message_id"]:
                    store.record_bounce(
                        self.channel.pk,
                        bounce["original_message_id"],
                        bounce["reason"] or bounce["status"] or "undeliverable",
                    )
                yield msg
                self.cursor[folder] = {"uidvalidity": validity, "last_uid": uid}
                self._fetched.setdefault(folder, []).append(uid)

    def acknowledge(self) -> None:
        """Move what this poll stored to `move_to`, when the mailbox asks for it."""
        conf = self.conf()
        fetched = {f: uids for f, uids in getattr(self, "_fetched", {}).items() if uids}
        if not conf.move_to or not fetched:
            return
        client = self._connect()
        try:
            if not client.folder_exists(conf.move_to):
                client.create_folder(conf.move_to)
            for folder, uids in fetched.items():
                if folder == conf.move_to:
                    continue
                client.select_folder(folder)
                if client.has_capability("MOVE"):
                    client.move(uids, conf.move_to)
                else:  # copy, then flag deleted and expunge only those UIDs
                    client.copy(uids, conf.move_to)
                    client.delete_messages(uids)
                    client.uid_expunge(uids)
        except (OSError, IMAPClientError) as exc:
            logger.warning("could not move stored mail to %s: %s", conf.move_to, exc)
        finally:
            _logout(client)

    def _file_sent_copy(self, message: EmailMessage) -> None:
        conf = self.conf()
        if not conf.sent_folder:
            return
        try:
            client = self._connect()
        except ConnectorError as exc:
            logger.warning("sent copy not filed: %s", exc)
            return
        try:
            if not client.folder_exists(conf.sent_folder):
                client.create_folder(conf.sent_folder)
            client.append(conf.sent_folder, message.as_bytes(), flags=[b"\\Seen"])
        except (OSError, IMAPClientError) as exc:
            logger.warning("sent copy not filed in %s: %s", conf.sent_folder, exc)
        finally:
            _logout(client)

    def send(self, outbound: OutboundMessage) -> SendResult:
        conf = self.conf()
        if not outbound.to:
            raise ConnectorError(
                "the buyer has no email address to answer", permanent=True, about_message=True
            )
        if not conf.smtp_host or not conf.from_address:
            raise ConnectorError(
                "this mailbox has no SMTP server or From address configured", permanent=True
            )
        message = build_reply(outbound, conf)
        where = f"{conf.smtp_host}:{conf.smtp_port}"
        context = ssl.create_default_context()
        if not conf.verify_tls:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        smtp_class = smtplib.SMTP_SSL if conf.smtp_security == "ssl" else smtplib.SMTP
        kwargs: dict[str, Any] = {"timeout": conf.timeout_seconds}
        if conf.smtp_security == "ssl":
            kwargs["context"] = context
        try:
            with smtp_class(conf.smtp_host, conf.smtp_port, **kwargs) as smtp:
                if conf.smtp_security == "starttls":
                    smtp.starttls(context=context)
                self._smtp_login(smtp, conf)
                smtp.send_message(message)
        except ssl.SSLCertVerificationError as exc:
            raise ConnectorError(
                f"TLS certificate of {where} refused: {exc}", permanent=True
            ) from exc
        except smtplib.SMTPAuthenticationError as exc:
            raise ConnectorError(f"SMTP login refused on {where}: {exc}", permanent=True) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            permanent = all(code >= 500 for code in codes)
            raise ConnectorError(
                f"recipient refused: {exc.recipients}", permanent=permanent, about_message=True
            ) from exc
        except smtplib.SMTPResponseException as exc:
            permanent = exc.smtp_code >= 500
            raise ConnectorError(
                f"SMTP server {where} answered {exc.smtp_code} {exc.smtp_error!r}",
                permanent=permanent,
                about_message=True,  # the server refused this message, not our login
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise ConnectorError(f"SMTP server {where} unreachable: {exc}") from exc
        # Sent is sent: the copy in the Sent folder is a courtesy that must not fail the send.
        self._file_sent_copy(message)
        return SendResult(external_id=message["Message-ID"], message_id=message["Message-ID"])


def build_reply(outbound: OutboundMessage, conf: EmailSettings) -> EmailMessage:
    """The reply as the buyer's mail client threads it: In-Reply-To and References name the
    message answered; the Message-ID is ours, fixed per reply so that a retry repeats it."""
    domain = conf.from_address.rsplit("@", 1)[-1] or "comptoir.invalid"
    msg = EmailMessage()
    msg["From"] = formataddr((conf.from_name, conf.from_address))
    msg["To"] = outbound.to
    subject = outbound.subject or outbound.conversation_subject
    if subject and not subject.lower().startswith(("re:", "re :", "aw:", "sv:")):
        subject = f"Re: {subject}"
    msg["Subject"] = subject or "Re:"
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    token = tokens.token(outbound.conversation_id)
    msg["Message-ID"] = f"<comptoir.{token}.{outbound.idempotency_key}@{domain}>"
    if outbound.in_reply_to:
        msg["In-Reply-To"] = outbound.in_reply_to
    references = [r for r in outbound.references if r][-20:]
    if references:
        msg["References"] = " ".join(references)
    msg["Auto-Submitted"] = "no"
    msg.set_content(outbound.text)
    if outbound.html:
        msg.add_alternative(outbound.html, subtype="html")
    for attachment in outbound.attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        msg.add_attachment(
            attachment.data,
            maintype=maintype or "application",
            subtype=subtype or "octet-stream",
            filename=attachment.filename,
        )
    return msg


def _chunks(client: IMAPClient, uids: list[int]) -> Iterator[list[int]]:
    """The UIDs in fetches of at most FETCH_CHUNK mails and FETCH_BYTES bytes (a bigger mail
    alone): what a poll holds in memory is bounded by bytes, not by the mail's count."""
    sizes: dict[int, int] = {}
    for start in range(0, len(uids), 1000):  # a UID list per command, not an endless line
        block = uids[start : start + 1000]
        for uid, data in client.fetch(block, ["RFC822.SIZE"]).items():
            sizes[uid] = int(data.get(b"RFC822.SIZE") or 0)
    chunk: list[int] = []
    weight = 0
    for uid in uids:
        size = sizes.get(uid, 0)
        if chunk and (len(chunk) >= FETCH_CHUNK or weight + size > FETCH_BYTES):
            yield chunk
            chunk, weight = [], 0
        chunk.append(uid)
        weight += size
    if chunk:
        yield chunk


def _xoauth2_answer(user: str, token: str) -> Callable[..., str]:
    def answer(challenge: bytes | None = None) -> str:
        # After a refusal the server sends its error as a challenge: the answer is empty.
        return oauth.xoauth2(user, token) if challenge is None else ""

    return answer


def _aware(value: datetime | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _logout(client: IMAPClient) -> None:
    with contextlib.suppress(OSError, IMAPClientError):
        client.logout()
