"""Messenger and Instagram (one Graph API shape), and what WhatsApp shares with them.

In: Meta posts webhooks to `/hooks/meta/<channel id>/` (`views`): the body is kept as it came
(`connectors.webhooks`) and the channel polled; `fetch` reads the kept bodies, downloads their
media (through `lib.http`, which refuses private addresses) and yields their messages, which
ingest stores once by message id (`mid`, `wamid`) however often Meta delivers them, in
whatever order. The bodies are marked done only once their messages are stored (`acknowledge`).

Out: the Send API, `POST /{page-id}/messages` with `recipient`, `messaging_type` and `message`.
A reply first goes as `RESPONSE`; when Meta answers that the 24-hour window is closed it goes
again with the `HUMAN_AGENT` tag (7 days), which the pre-send check (`lib.meta_window`) has
already allowed or refused. The Send API has no idempotency key, so after an unanswered send
`find_sent` reads the conversation (Conversations API, `GET /{page-id}/conversations?platform
=...&user_id=...&fields=messages{...}`) for our text (`Connector.pick_sent`). Meta may take a
moment to list a message it accepted: a retry keeps looking for 2 minutes (guessed: the
references give no figure) before sending again.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ValidationError

from comptoir.connectors.base import (
    Connector,
    ConnectorError,
    HttpClient,
    InboundAttachment,
    InboundMessage,
    OutboundMessage,
    Party,
    SendResult,
    SentCandidate,
    channel_store,
    parse_json,
)
from comptoir.connectors.meta import common
from comptoir.connectors.meta.common import MetaSettings, PageSettings
from comptoir.connectors.webhooks import webhook_store
from comptoir.lib import meta_window

logger = logging.getLogger("comptoir.meta")

BODIES_PER_POLL = 200
MAX_REMEMBERED = 500  # statuses waiting for their message, delivered mids per buyer
THROTTLE_WAIT = 60.0
FILE_PART = "#file"  # ends the metadata of a reply's file, sent as a message of its own

_clients: dict[tuple[str, float], HttpClient] = {}
_clients_lock = threading.Lock()


def subject_of(text: str) -> str:
    """Chats have no subject: the conversation is titled by its first words."""
    line = text.strip().split("\n", 1)[0]
    return line if len(line) <= 80 else line[:79].rsplit(" ", 1)[0] + "…"


def file_marker(filename: str) -> str:
    """How a sent file is told apart in the conversation (Meta lists it by name, no text)."""
    return f"\x00file:{filename}"


def from_ms(value: Any) -> datetime:
    """Meta's timestamps: milliseconds (Messenger, Instagram) or seconds as text (WhatsApp)."""
    number = float(value)
    if number > 1e11:
        number /= 1000
    return datetime.fromtimestamp(number, UTC)


class MetaConnector(Connector):
    """What the three share: settings, the Graph client and its errors, the webhook queue,
    media downloads and remembered statuses."""

    name: ClassVar[str] = "Meta"
    settings_model: ClassVar[type[BaseModel] | None] = MetaSettings
    send_settle_seconds = 120.0

    _http: HttpClient | None = None

    def __init__(self, channel: Any) -> None:
        super().__init__(channel)
        self._bodies: list[int] = []

    def conf(self) -> Any:
        conf = self.settings()
        assert isinstance(conf, MetaSettings)
        return conf

    def token(self) -> str:
        raise NotImplementedError

    def account_id(self) -> str:
        """The page id or phone number id: the `entry` of a webhook that is this channel's."""
        raise NotImplementedError

    def client(self) -> HttpClient:
        if self._http is None:
            conf = self.conf()
            key = (conf.graph_url, conf.timeout_seconds)
            with _clients_lock:
                if key not in _clients:
                    _clients[key] = HttpClient(
                        conf.graph_url, name=self.name, timeout=conf.timeout_seconds
                    )
                self._http = _clients[key]
        return self._http

    def graph(self, method: str, path: str, **kwargs: Any) -> Any:
        """One Graph API call (`path` after the version); its JSON. Meta's refusals become
        errors that say what to do: a token refused stops the channel, throttling waits."""
        conf = self.conf()
        headers = {"Authorization": f"Bearer {self.token()}"}
        try:
            response = self.client().request(
                method, f"/{conf.api_version}{path}", headers=headers, **kwargs
            )
        except ConnectorError as exc:
            code, _ = common.graph_error(exc)
            if code in common.AUTH_CODES or exc.status == 401:
                raise ConnectorError(
                    f"{self.name} refused the access token (code {code or exc.status}): "
                    "generate a new one and paste it in the channel settings",
                    permanent=True,
                    status=exc.status,
                ) from exc
            if code in common.THROTTLE_CODES:
                raise ConnectorError(
                    f"{self.name} is throttling this app (code {code}); trying again later",
                    retry_after=THROTTLE_WAIT,
                    status=exc.status,
                    maybe_sent=exc.maybe_sent,
                ) from exc
            raise
        return parse_json(response, self.name)

    def download(self, url: str, *, auth: bool) -> tuple[bytes, str]:
        """A media file (bytes, content type), within `MEDIA_MAX_BYTES`. Through the shared
        client: its guard refuses URLs that lead to private addresses."""
        headers = {"Authorization": f"Bearer {self.token()}"} if auth else {}
        response = self.client().request("GET", url, headers=headers)
        return response.content, response.headers.get("content-type", "").split(";")[0]

    def attachment(
        self, url: str, *, auth: bool, filename: str = "", content_type: str = ""
    ) -> InboundAttachment:
        name = filename or unquote(urlsplit(url).path.rsplit("/", 1)[-1])[:200] or "attachment"
        try:
            data, served = self.download(url, auth=auth)
        except ConnectorError as exc:
            if not exc.permanent:
                raise  # the body stays queued; the next poll downloads it again
            reason = f"not downloaded: {exc}"[:255]
            return InboundAttachment(filename=name, dropped_reason=reason)
        ctype = content_type or served or "application/octet-stream"
        if len(data) > common.MEDIA_MAX_BYTES:
            return InboundAttachment(
                filename=name, content_type=ctype, size=len(data), dropped_reason="too big"
            )
        sha = channel_store().store_file(data)
        return InboundAttachment(filename=name, content_type=ctype, sha256=sha, size=len(data))

    # -- in ------------------------------------------------------------------------------------

    def fetch(self, since: dict[str, Any]) -> Iterator[InboundMessage]:
        store = webhook_store()
        self._retry_statuses()
        for record_id, raw in store.pending(self.channel.pk, BODIES_PER_POLL):
            try:
                messages = list(self.read_body(raw))
            except (ValueError, KeyError, TypeError, ValidationError) as exc:
                # A body we cannot read will not get better: kept, visible, retryable.
                store.failed(record_id, f"unreadable {self.name} webhook: {exc}"[:1000])
                continue
            self._bodies.append(record_id)
            yield from messages

    def acknowledge(self) -> None:
        if self._bodies:
            webhook_store().done(self._bodies)

    def read_body(self, raw: bytes) -> Iterator[InboundMessage]:
        raise NotImplementedError

    def status(self, external_id: str, status: str, at: datetime, error: str = "") -> None:
        """Record a receipt; one for a message whose send is not recorded yet (the receipt
        overtook the send's answer) is kept in the cursor and tried again next poll."""
        if not webhook_store().record_status(self.channel.pk, external_id, status, at, error):
            waiting = self.cursor.setdefault("statuses", [])
            entry = [external_id, status, at.isoformat(), error]
            if entry not in waiting:
                waiting.append(entry)
                del waiting[:-MAX_REMEMBERED]

    def _retry_statuses(self) -> None:
        waiting = self.cursor.pop("statuses", [])
        for external_id, status, at, error in waiting:
            self.status(external_id, status, datetime.fromisoformat(at), error)

    def url_attachments(self, items: list[dict[str, Any]]) -> list[InboundAttachment]:
        found = []
        for item in items:
            url = (item.get("payload") or {}).get("url")
            if isinstance(url, str) and url:
                found.append(self.attachment(url, auth=False))
        return found


class PageConnector(MetaConnector):
    """Messenger and Instagram: the same webhooks (`entry[].messaging[]`) and Send API."""

    settings_model = PageSettings
    platform: ClassVar[str] = "messenger"
    identity_kind: ClassVar[str] = "messenger_psid"

    def conf(self) -> PageSettings:
        conf = self.settings()
        assert isinstance(conf, PageSettings)
        return conf

    def token(self) -> str:
        return self.conf().page_access_token

    def account_id(self) -> str:
        return self.conf().page_id

    def read_body(self, raw: bytes) -> Iterator[InboundMessage]:
        body = json.loads(raw)
        page = self.account_id()
        names: dict[str, str] = {}
        for entry in body.get("entry") or []:
            if str(entry.get("id")) != page:
                logger.warning(
                    "%s: webhook entry for another account %s", self.name, entry.get("id")
                )
                continue
            for event in entry.get("messaging") or []:
                yield from self._event(event, names)

    def _event(self, event: dict[str, Any], names: dict[str, str]) -> Iterator[InboundMessage]:
        sender, recipient = str(event["sender"]["id"]), str(event["recipient"]["id"])
        at = from_ms(event.get("timestamp") or 0)
        if "delivery" in event:
            self._delivered(sender, event["delivery"])
        if "read" in event:
            self._read(sender, event["read"])
        message = event.get("message")
        if not isinstance(message, dict) or not message.get("mid"):
            return  # postbacks, reactions, referrals: nothing for the inbox
        echo = bool(message.get("is_echo"))
        if echo and str(message.get("metadata") or "").endswith(FILE_PART):
            return  # the file of one of our replies, which the inbox holds already
        buyer = recipient if echo else sender
        if buyer not in names:
            names[buyer] = self.profile_name(buyer)
        yield InboundMessage(
            channel_id=self.channel.pk,
            external_id=str(message["mid"]),
            direction="out" if echo else "in",
            sender=Party(identity_kind=self.identity_kind, identity_value=buyer, name=names[buyer]),
            subject=subject_of(str(message.get("text") or "")),
            text=str(message.get("text") or ""),
            sent_at=at,
            thread_id=f"{self.platform}:{buyer}",
            attachments=self.url_attachments(message.get("attachments") or []),
            meta={"platform": self.platform},
        )

    def profile_name(self, user_id: str) -> str:
        """The buyer's name (User Profile API); none when Meta will not say (privacy, rights)."""
        try:
            data = self.graph("GET", f"/{user_id}", params={"fields": "name"})
        except ConnectorError as exc:
            if not exc.about_message:
                raise  # down, throttled, or the token refused: the poll fails and says so
            return ""
        return str(data.get("name") or "")[:200] if isinstance(data, dict) else ""

    def _delivered(self, buyer: str, delivery: dict[str, Any]) -> None:
        at = from_ms(delivery.get("watermark") or 0)
        read_until = self.cursor.get("read", {}).get(buyer, 0)
        for mid in delivery.get("mids") or []:
            self.status(str(mid), "delivered", at)
            if read_until and at.timestamp() * 1000 <= read_until:
                self.status(str(mid), "read", from_ms(read_until))  # the read came first
            else:
                known = self.cursor.setdefault("delivered", {}).setdefault(buyer, [])
                known.append([str(mid), delivery.get("watermark") or 0])
                del known[:-MAX_REMEMBERED]

    def _read(self, buyer: str, read: dict[str, Any]) -> None:
        if read.get("mid"):  # Instagram names the message
            self.status(str(read["mid"]), "read", datetime.now(UTC))
            return
        # Messenger gives a watermark: everything delivered up to then was read.
        watermark = int(read.get("watermark") or 0)
        reads = self.cursor.setdefault("read", {})
        reads[buyer] = max(watermark, reads.get(buyer, 0))
        known = self.cursor.setdefault("delivered", {}).get(buyer, [])
        for mid, _at in [k for k in known if k[1] <= watermark]:
            self.status(mid, "read", from_ms(watermark))
        self.cursor["delivered"][buyer] = [k for k in known if k[1] > watermark]

    # -- out -----------------------------------------------------------------------------------

    def buyer(self, outbound: OutboundMessage) -> str:
        prefix = f"{self.platform}:"
        if outbound.conversation_thread_id.startswith(prefix):
            return outbound.conversation_thread_id.removeprefix(prefix)
        if outbound.to:
            return outbound.to
        raise ConnectorError(
            f"{self.name}: this conversation has no {self.name} buyer to answer",
            permanent=True,
            about_message=True,
        )

    def send(self, outbound: OutboundMessage) -> SendResult:
        """A file goes first, as its own message (Meta takes text or a file, not both), then
        the text; the reply is known by the text's id (the file's when there is no text)."""
        buyer = self.buyer(outbound)
        sent = None
        if outbound.attachments:
            sent = self._send_file(outbound, buyer)
        if not outbound.text and sent is not None:
            return sent
        body: dict[str, Any] = {
            "recipient": {"id": buyer},
            "messaging_type": "RESPONSE",
            "message": {"text": outbound.text, "metadata": outbound.idempotency_key[:1000]},
        }
        data = self._post_in_window(body)
        return SendResult(external_id=str(data.get("message_id") or ""))

    def _post_in_window(self, body: dict[str, Any]) -> Any:
        try:
            return self._post(body)
        except ConnectorError as exc:
            if common.graph_error(exc) != common.OUTSIDE_WINDOW:
                raise
            # Past 24 hours: a human agent's answer may still go, tagged, for 7 days.
            return self._post(body | {"messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT"})

    def _send_file(self, outbound: OutboundMessage, buyer: str) -> SendResult:
        """Upload (Attachment Upload API), then send by `attachment_id`. A retry first looks
        in the conversation for the file sent by an earlier attempt (as `find_sent` does for
        the text), so the buyer gets it once; a repeated upload only leaves an unused asset."""
        if len(outbound.attachments) > 1:
            raise ConnectorError(
                f"{self.name}: one file per message; send the others in further replies",
                permanent=True,
                about_message=True,
            )
        (file,) = outbound.attachments
        rule = meta_window.file_verdict(self.kind, file.filename, file.content_type, len(file.data))
        if rule.refused:
            raise ConnectorError(
                f"{self.name} does not take {file.filename} ({rule.refused}; at most "
                f"{rule.largest // meta_window.MB} MB)",
                permanent=True,
                about_message=True,
            )
        marker = file_marker(file.filename)
        if outbound.attempt_started_at is not None:
            found = self._find(replace(outbound, text=marker))
            if found is not None:
                return found
        upload: dict[str, Any] = {
            "message": json.dumps(
                {"attachment": {"type": rule.type, "payload": {"is_reusable": True}}}
            )
        }
        if self.platform == "instagram":
            upload["platform"] = "instagram"
        data = self.graph(
            "POST",
            f"/{self.account_id()}/message_attachments",
            data=upload,
            files={"filedata": (file.filename, file.data, file.content_type)},
            idempotent=True,
        )
        attachment_id = str(data.get("attachment_id") or "") if isinstance(data, dict) else ""
        if not attachment_id:
            raise ConnectorError(f"{self.name}: the upload answered no attachment_id")
        message = {
            "attachment": {"type": rule.type, "payload": {"attachment_id": attachment_id}},
            # Its echo is part of this reply, not a message of its own (`_event`).
            "metadata": f"{outbound.idempotency_key[:900]}{FILE_PART}",
        }
        body = {"recipient": {"id": buyer}, "messaging_type": "RESPONSE", "message": message}
        result = self._post_in_window(body)
        return SendResult(external_id=str(result.get("message_id") or ""))

    def _post(self, body: dict[str, Any]) -> Any:
        page = self.account_id()
        data = self.graph("POST", f"/{page}/messages", json_body=body, idempotent=False)
        if not isinstance(data, dict) or not data.get("message_id"):
            raise ConnectorError(f"{self.name}: the Send API answered no message_id")
        return data

    def find_sent(self, outbound: OutboundMessage) -> SendResult | None:
        if not outbound.text and outbound.attachments:
            return self._find(replace(outbound, text=file_marker(outbound.attachments[0].filename)))
        return self._find(outbound)

    def _find(self, outbound: OutboundMessage) -> SendResult | None:
        """The page's message in the conversation with `outbound.text` (a file's: its marker)."""
        data = self.graph(
            "GET",
            f"/{self.account_id()}/conversations",
            params={
                "platform": self.platform,
                "user_id": self.buyer(outbound),
                "fields": "messages{id,message,created_time,from,attachments{name}}",
            },
        )
        page = self.account_id()
        candidates = []
        for conversation in data.get("data") or []:
            for item in (conversation.get("messages") or {}).get("data") or []:
                if str((item.get("from") or {}).get("id")) != page:
                    continue
                created = item.get("created_time")
                files = (item.get("attachments") or {}).get("data") or []
                text = str(item.get("message") or "")
                if files and not text:
                    text = file_marker(str(files[0].get("name") or ""))
                candidates.append(
                    SentCandidate(
                        external_id=str(item.get("id") or ""),
                        text=text,
                        created_at=datetime.fromisoformat(created) if created else None,
                    )
                )
        return self.pick_sent(outbound, candidates)

    def test_connection(self) -> str:
        data = self.graph("GET", f"/{self.account_id()}", params={"fields": "name"})
        return f"{self.name}: connected to {data.get('name') or self.account_id()}"


class MessengerConnector(PageConnector):
    kind = "messenger"
    name = "Messenger"


class InstagramConnector(PageConnector):
    kind = "instagram"
    name = "Instagram"
    platform = "instagram"
    identity_kind = "instagram_igsid"
