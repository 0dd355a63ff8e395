"""WhatsApp Cloud API: webhooks (`entry[].changes[].value` with `messages`, `contacts` and
`statuses`) and `POST /{phone-number-id}/messages`.

Media: a message names its file by media id; `GET /{media-id}` answers a short-lived URL, which
is downloaded with the same token. Replies: text inside the 24-hour window; after it, only an
approved template (`/template <name> [language]`, see `lib.meta_window`).

Exactly once: the Cloud API has no idempotency key and no way to list what was sent. What it
offers is `biz_opaque_callback_data`, a string of ours that Meta echoes in the message's status
webhooks: each send carries its idempotency key there, the statuses read by `fetch` note which
key became which `wamid` (in the cursor), and `find_sent` looks there. A send whose answer was
lost is therefore found once its "sent" status has come in; until then (2 minutes, guessed:
statuses usually come within seconds) a retry waits rather than posting a second copy. If
Meta's statuses never come (webhooks unsubscribed), the retry sends again: the API cannot tell.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

from comptoir.connectors.base import (
    ConnectorError,
    InboundAttachment,
    InboundMessage,
    OutboundMessage,
    Party,
    SendResult,
)
from comptoir.connectors.meta import common
from comptoir.connectors.meta.common import WhatsAppSettings
from comptoir.connectors.meta.connector import (
    MAX_REMEMBERED,
    MetaConnector,
    from_ms,
    logger,
    subject_of,
)
from comptoir.lib import meta_window

MEDIA_TYPES = ("image", "audio", "video", "document", "sticker")
CAPTION_MAX = 1024  # a media message's caption (Cloud API "Messages" reference)


TEMPLATES_TTL = 3600.0  # seconds: templates change rarely (approval takes hours)
TEMPLATE_PAGES = 10
_PARAM = re.compile(r"\{\{(\d+)\}\}")


def _template(item: dict[str, Any]) -> dict[str, Any] | None:
    """One template as the picker needs it; None for one not approved or without a body."""
    if item.get("status") != "APPROVED" or not item.get("name"):
        return None
    bodies = [c for c in item.get("components") or [] if c.get("type") == "BODY"]
    if not bodies:
        return None
    body = str(bodies[0].get("text") or "")
    return {
        "name": str(item["name"]),
        "language": str(item.get("language") or ""),
        "body": body[:1024],
        "params": len(set(_PARAM.findall(body))),
    }


class WhatsAppConnector(MetaConnector):
    kind = "whatsapp"
    name = "WhatsApp"
    settings_model = WhatsAppSettings

    def conf(self) -> WhatsAppSettings:
        conf = self.settings()
        assert isinstance(conf, WhatsAppSettings)
        return conf

    def token(self) -> str:
        return self.conf().access_token

    def account_id(self) -> str:
        return self.conf().phone_number_id

    # -- in ------------------------------------------------------------------------------------

    def fetch(self, since: dict[str, Any]) -> Iterator[InboundMessage]:
        self.refresh_templates()
        yield from super().fetch(since)

    def refresh_templates(self, *, force: bool = False) -> None:
        """The approved templates (`GET /{waba-id}/message_templates`), kept in the cursor for
        the composer's picker: name, language, body and how many {{n}} parameters it takes.
        Read by the poll once `TEMPLATES_TTL` has passed, or at once when asked (`force`). A
        failure is noted and the old list kept: it never stops messages coming in."""
        waba = self.conf().business_account_id
        at = self.cursor.get("templates_at")
        if not waba or (not force and at and time.time() - float(at) < TEMPLATES_TTL):
            return
        found: list[dict[str, Any]] = []
        params: dict[str, Any] = {
            "status": "APPROVED",
            "fields": "name,language,status,components",
            "limit": 100,
        }
        try:
            for _page in range(TEMPLATE_PAGES):
                data = self.graph("GET", f"/{waba}/message_templates", params=params)
                found += [t for t in map(_template, data.get("data") or []) if t]
                after = ((data.get("paging") or {}).get("cursors") or {}).get("after")
                if not after or not (data.get("paging") or {}).get("next"):
                    break
                params["after"] = after
        except ConnectorError as exc:
            logger.warning("WhatsApp: templates not read: %s", exc)
            self.cursor["templates_error"] = str(exc)[:300]
            return
        self.cursor |= {"templates": found, "templates_at": time.time(), "templates_error": ""}

    def read_body(self, raw: bytes) -> Iterator[InboundMessage]:
        body = json.loads(raw)
        for entry in body.get("entry") or []:
            for change in entry.get("changes") or []:
                value = change.get("value") or {}
                number = str((value.get("metadata") or {}).get("phone_number_id") or "")
                if number != self.account_id():
                    logger.warning("WhatsApp: webhook for another number %s", number)
                    continue
                names = {
                    str(c.get("wa_id")): str((c.get("profile") or {}).get("name") or "")
                    for c in value.get("contacts") or []
                }
                for status in value.get("statuses") or []:
                    self._status(status)
                for message in value.get("messages") or []:
                    yield self._message(message, names)

    def _message(self, message: dict[str, Any], names: dict[str, str]) -> InboundMessage:
        kind = str(message.get("type") or "")
        buyer = str(message["from"])
        text, attachments = "", []
        if kind == "text":
            text = str((message.get("text") or {}).get("body") or "")
        elif kind in MEDIA_TYPES:
            media = message.get(kind) or {}
            text = str(media.get("caption") or "")
            attachments.append(self.media(media))
        elif kind in ("button", "interactive"):
            part = message.get(kind) or {}
            text = str(part.get("text") or json.dumps(part)[:1000])
        else:
            text = f"[{kind or 'unknown'} message]"
        return InboundMessage(
            channel_id=self.channel.pk,
            external_id=str(message["id"]),
            sender=Party(
                identity_kind="whatsapp", identity_value=buyer, name=names.get(buyer, "")[:200]
            ),
            subject=subject_of(text),
            text=text,
            sent_at=from_ms(message["timestamp"]),
            thread_id=f"whatsapp:{buyer}",
            attachments=attachments,
            meta={"platform": "whatsapp"},
        )

    def media(self, media: dict[str, Any]) -> InboundAttachment:
        """`GET /{media-id}` for the file's URL, then the file with the token."""
        media_id = str(media.get("id") or "")
        filename = str(media.get("filename") or "")
        try:
            info = self.graph("GET", f"/{media_id}")
        except ConnectorError as exc:
            if not exc.about_message:
                raise  # down, throttled, or the token refused: the body waits for the next poll
            return InboundAttachment(filename=filename or media_id, dropped_reason=str(exc)[:255])
        ctype = str(media.get("mime_type") or info.get("mime_type") or "").split(";")[0].strip()
        if not filename:
            filename = f"{media_id}.{ctype.rsplit('/', 1)[-1] or 'bin'}"
        return self.attachment(str(info["url"]), auth=True, filename=filename, content_type=ctype)

    def _status(self, status: dict[str, Any]) -> None:
        wamid, state = str(status["id"]), str(status.get("status") or "")
        key = str(status.get("biz_opaque_callback_data") or "")
        if key and state in ("sent", "delivered", "read"):
            sent = self.cursor.setdefault("sent_keys", {})
            sent[key] = [wamid, status.get("timestamp")]
            while len(sent) > MAX_REMEMBERED:
                sent.pop(next(iter(sent)))
        at = from_ms(status.get("timestamp") or 0)
        if state in ("delivered", "read"):
            self.status(wamid, state, at)
        elif state == "failed":
            errors = status.get("errors") or [{}]
            first = errors[0] if isinstance(errors[0], dict) else {}
            reason = f"{first.get('code', '')} {first.get('title', '')}".strip()
            if first.get("code") == common.WA_REENGAGEMENT:
                reason += " (more than 24 hours since the buyer wrote: send an approved template)"
            self.status(wamid, "failed", at, reason)

    # -- out -----------------------------------------------------------------------------------

    def send(self, outbound: OutboundMessage) -> SendResult:
        to = outbound.conversation_thread_id.removeprefix("whatsapp:") or outbound.to
        if not to:
            raise ConnectorError(
                "WhatsApp: this conversation has no WhatsApp number to answer",
                permanent=True,
                about_message=True,
            )
        body: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to,
            "biz_opaque_callback_data": outbound.idempotency_key[:512],
        }
        template = meta_window.template_of(outbound.text)
        if template is not None:
            body |= {
                "type": "template",
                "template": self.template_body(
                    *template, meta_window.template_params(outbound.text)
                ),
            }
        elif outbound.attachments:
            body |= self.media_body(outbound)
        else:
            body |= {"type": "text", "text": {"body": outbound.text, "preview_url": False}}
        data = self.graph(
            "POST", f"/{self.account_id()}/messages", json_body=body, idempotent=False
        )
        messages = data.get("messages") if isinstance(data, dict) else None
        if not messages or not messages[0].get("id"):
            raise ConnectorError("WhatsApp: the Cloud API answered no message id")
        return SendResult(external_id=str(messages[0]["id"]))

    def template_body(self, name: str, language: str, params: list[str]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": name,
            "language": {"code": language or self.conf().template_language},
        }
        if params:
            values = [{"type": "text", "text": value} for value in params]
            body["components"] = [{"type": "body", "parameters": values}]
        return body

    def media_body(self, outbound: OutboundMessage) -> dict[str, Any]:
        """The file uploaded (`POST /{phone-number-id}/media`), then named by its id, the text
        as its caption. An upload repeated by a retry only leaves an unused media id (Meta
        deletes them after 30 days): the send itself stays keyed as any other."""
        if len(outbound.attachments) > 1 or len(outbound.text) > CAPTION_MAX:
            raise ConnectorError(
                f"WhatsApp: one file per message, with at most {CAPTION_MAX} characters of text",
                permanent=True,
                about_message=True,
            )
        (file,) = outbound.attachments
        rule = meta_window.file_verdict(
            "whatsapp", file.filename, file.content_type, len(file.data)
        )
        if rule.refused:
            raise ConnectorError(
                f"WhatsApp does not take {file.filename} ({rule.refused}: "
                f"{', '.join(meta_window.allowed_extensions('whatsapp'))}, "
                f"at most {rule.largest // meta_window.MB} MB)",
                permanent=True,
                about_message=True,
            )
        data = self.graph(
            "POST",
            f"/{self.account_id()}/media",
            data={"messaging_product": "whatsapp", "type": file.content_type},
            files={"file": (file.filename, file.data, file.content_type)},
            idempotent=True,
        )
        media_id = str(data.get("id") or "") if isinstance(data, dict) else ""
        if not media_id:
            raise ConnectorError("WhatsApp: the media upload answered no id")
        media: dict[str, Any] = {"id": media_id}
        if outbound.text:
            media["caption"] = outbound.text
        if rule.type == "document":
            media["filename"] = file.filename
        return {"type": rule.type, rule.type: media}

    def find_sent(self, outbound: OutboundMessage) -> SendResult | None:
        found = self.cursor.get("sent_keys", {}).get(outbound.idempotency_key[:512])
        if not found:
            return None
        return SendResult(
            external_id=str(found[0]), sent_at=from_ms(found[1]) if found[1] else None
        )

    def test_connection(self) -> str:
        data = self.graph("GET", f"/{self.account_id()}", params={"fields": "display_phone_number"})
        return f"WhatsApp: connected to {data.get('display_phone_number') or self.account_id()}"
