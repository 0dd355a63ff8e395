"""A Meta simulator (Graph API and webhooks) for Messenger, Instagram and WhatsApp.

Built from Meta's published references: the Messenger Platform's webhook events (`messages`,
`message_echoes`, `message_deliveries`, `message_reads`), the Send API, the Conversations API,
Instagram messaging (same shapes, `object: instagram`, reads name the `mid`) and the WhatsApp
Cloud API (`messages`, `statuses` with `biz_opaque_callback_data`, media by id).

Guessed (the references do not say): the id formats beyond their prefixes (`m_`, `wamid.`),
how soon a sent message is listed by the Conversations API (here: at once), and the rate-limit
header's figures. A 429 here carries `Retry-After` and `X-Business-Use-Case-Usage`; the real
Graph API mostly throttles with a 4xx and error code 4, 17, 32 or 613 (`throttle()`).

Webhooks are not sent by the server itself: `buyer_writes` and the receipts queue signed bodies
in `outbox`, and `deliver(post)` hands them to a poster (a test's client, the demo's view) as
Meta would, with its faults: the same body twice (`duplicate_rate`), bodies out of order
(`shuffle`), and a body not answered 200 kept to be delivered again.
"""

from __future__ import annotations

import itertools
import json
import random
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from comptoir.connectors.meta.common import signature
from comptoir.connectors.meta.sim_templates import TEMPLATES
from comptoir.connectors.simulator import (
    ContractViolation,
    HttpError,
    Part,
    Request,
    Response,
    Simulator,
)
from comptoir.lib import meta_window

VERSION = r"/v\d+\.\d+"
TAGS = frozenset(
    {"HUMAN_AGENT", "CONFIRMED_EVENT_UPDATE", "POST_PURCHASE_UPDATE", "ACCOUNT_UPDATE"}
)


@dataclass
class SimMessage:
    id: str
    buyer: str
    from_page: bool
    text: str
    at: datetime
    key: str = ""  # metadata / biz_opaque_callback_data
    file: tuple[str, str, int] | None = None  # (media type, filename, size) of a file sent


@dataclass
class SimBuyer:
    id: str
    name: str
    last_wrote: datetime | None = None
    messages: list[SimMessage] = field(default_factory=list)


def graph_error(status: int, message: str, code: int, subcode: int = 0) -> HttpError:
    error: dict[str, Any] = {"code": code, "message": message, "type": "OAuthException"}
    if subcode:
        error["error_subcode"] = subcode
    error["fbtrace_id"] = "SIMULATED"
    return HttpError(status, {"error": error})


class MetaSimulator(Simulator):
    name = "meta"

    def __init__(self, platform: str = "messenger", *, seed: int = 0) -> None:
        super().__init__(seed=seed)
        if platform not in ("messenger", "instagram", "whatsapp"):
            raise ValueError(f"unknown platform {platform!r}")
        self.platform = platform
        self.account_id = "105000000000001" if platform != "whatsapp" else "106000000000002"
        self.token = f"EAAG-simulated-{platform}-token"
        self.app_secret = f"simulated-{platform}-app-secret"
        self.verify_token = f"verify-{platform}-demo"
        self.buyers: dict[str, SimBuyer] = {}
        self.sent: list[SimMessage] = []  # what the business sent, in order
        self.media: dict[str, tuple[str, bytes]] = {}  # media id -> (content type, data)
        self.outbox: list[bytes] = []  # webhook bodies not yet delivered (answered 200)
        self.duplicate_rate = 0.0
        self.shuffle = False
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        self.media_base = ""  # where media URLs point (default: this server)
        self.throttled = 0  # the next sends answered with code 613 (`throttle`)
        self.uploads: dict[str, tuple[str, str, int]] = {}  # id -> (media type, filename, size)
        self.waba_id = "107000000000003"
        self.templates: list[dict[str, Any]] = list(TEMPLATES)  # WhatsApp Manager's templates
        self._ids = itertools.count(1)
        self._rng = random.Random(seed)
        self._webhook_lock = threading.Lock()
        v = VERSION
        self.route("POST", rf"{v}/(?P<account>\d+)/messages", self._send)
        self.route("POST", rf"{v}/(?P<account>\d+)/media", self._upload_whatsapp)
        self.route("POST", rf"{v}/(?P<account>\d+)/message_attachments", self._upload_page)
        self.route("GET", rf"{v}/(?P<waba>\d+)/message_templates", self._templates)
        self.route("GET", rf"{v}/(?P<account>\d+)/conversations", self._conversations)
        self.route("GET", rf"{v}/(?P<node>[\w.-]+)", self._node)
        self.route("GET", r"/media/(?P<media>\w+)", self._download)
        self.faults.exempt.append(r"^/media/")

    # -- auth and throttling -----------------------------------------------------------------

    def authenticate(self, request: Request) -> None:
        if request.path.startswith("/media/") and self.platform != "whatsapp":
            return  # Messenger's attachment URLs are signed links: no token
        if request.headers.get("authorization") != f"Bearer {self.token}":
            raise graph_error(401, "Invalid OAuth access token.", 190)

    def dispatch(self, request: Request) -> Response | None:
        response = super().dispatch(request)
        if response is not None and response.status == 429:
            usage = {
                self.account_id: [
                    {"type": "messenger", "call_count": 100, "estimated_time_to_regain_access": 1}
                ]
            }
            response.headers["X-Business-Use-Case-Usage"] = json.dumps(usage)
            response.body = {"error": {"code": 80006, "message": "rate limited (simulated)"}}
        return response

    def throttle(self, times: int = 1) -> None:
        """The Graph API's usual throttling: 400 with code 613 on the next sends."""
        with self.lock:
            self.throttled += times

    # -- the buyers' side (webhooks) ---------------------------------------------------------

    def _id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):08d}{self._rng.getrandbits(40):010x}"

    def buyer(self, buyer_id: str, name: str = "") -> SimBuyer:
        with self.lock:
            if buyer_id not in self.buyers:
                self.buyers[buyer_id] = SimBuyer(buyer_id, name or f"Client {buyer_id[-4:]}")
            return self.buyers[buyer_id]

    def add_media(self, content_type: str, data: bytes) -> str:
        media_id = f"{next(self._ids)}{self._rng.getrandbits(32)}"
        with self.lock:
            self.media[media_id] = (content_type, data)
        return media_id

    def buyer_writes(
        self,
        buyer_id: str,
        text: str,
        *,
        name: str = "",
        attachment: tuple[str, str, bytes] | None = None,
        at: datetime | None = None,
    ) -> str:
        """A buyer writes: the message's webhook goes to `outbox`; returns its id."""
        buyer = self.buyer(buyer_id, name)
        when = at or self.clock()
        prefix = "wamid." if self.platform == "whatsapp" else "m_"
        mid = self._id(prefix)
        media_id = self.add_media(attachment[1], attachment[2]) if attachment else ""
        with self.lock:
            buyer.last_wrote = max(buyer.last_wrote or when, when)
            buyer.messages.append(SimMessage(mid, buyer_id, False, text, when))
        if self.platform == "whatsapp":
            message: dict[str, Any] = {"from": buyer_id, "id": mid, "timestamp": _secs(when)}
            if attachment:
                kind = "image" if attachment[1].startswith("image/") else "document"
                media: dict[str, Any] = {"id": media_id, "mime_type": attachment[1]}
                media |= {"sha256": "simulated", "caption": text}
                if kind == "document":
                    media["filename"] = attachment[0]
                message |= {"type": kind, kind: media}
            else:
                message |= {"type": "text", "text": {"body": text}}
            contacts = [{"profile": {"name": buyer.name}, "wa_id": buyer_id}]
            self._queue_whatsapp({"contacts": contacts, "messages": [message]})
        else:
            body: dict[str, Any] = {"mid": mid, "text": text}
            if attachment:
                kind = "image" if attachment[1].startswith("image/") else "file"
                url = f"{self.media_base or self.url}/media/{media_id}"
                body["attachments"] = [{"type": kind, "payload": {"url": url}}]
            self._queue_page(buyer_id, self.account_id, when, {"message": body})
        return mid

    def _queue_page(self, sender: str, recipient: str, at: datetime, event: dict[str, Any]) -> None:
        item = {"sender": {"id": sender}, "recipient": {"id": recipient}, "timestamp": _ms(at)}
        body = {
            "object": "page" if self.platform == "messenger" else "instagram",
            "entry": [{"id": self.account_id, "time": _ms(at), "messaging": [item | event]}],
        }
        self._queue(body)

    def _queue_whatsapp(self, value: dict[str, Any]) -> None:
        metadata = {"display_phone_number": "33612345678", "phone_number_id": self.account_id}
        change = {
            "field": "messages",
            "value": {"messaging_product": "whatsapp", "metadata": metadata, **value},
        }
        body = {
            "object": "whatsapp_business_account",
            "entry": [{"id": "WABA-SIMULATED", "changes": [change]}],
        }
        self._queue(body)

    def _queue(self, body: dict[str, Any]) -> None:
        with self._webhook_lock:
            self.outbox.append(json.dumps(body).encode())

    def receipts(self, *, read: bool = True, first: int = 0) -> int:
        """The buyers' apps report what they received (and read): delivery and read webhooks
        for what was sent (from the `first`th on). Returns how many messages were reported."""
        with self.lock:
            sent = list(self.sent[first:])
        now = self.clock()
        for msg in sent:
            if self.platform == "whatsapp":
                for status in ("delivered", "read") if read else ("delivered",):
                    self._queue_whatsapp({"statuses": [self._status(msg, status, now)]})
            else:
                delivery = {"mids": [msg.id], "watermark": _ms(now)}
                self._queue_page(msg.buyer, self.account_id, now, {"delivery": delivery})
                if read:
                    seen = {"mid": msg.id} if self.platform == "instagram" else {}
                    self._queue_page(
                        msg.buyer, self.account_id, now, {"read": {"watermark": _ms(now), **seen}}
                    )
        return len(sent)

    def _status(
        self, msg: SimMessage, status: str, at: datetime, errors: list[Any] | None = None
    ) -> dict[str, Any]:
        item: dict[str, Any] = {
            "id": msg.id,
            "status": status,
            "timestamp": _secs(at),
            "recipient_id": msg.buyer,
        }
        if msg.key:
            item["biz_opaque_callback_data"] = msg.key
        if errors:
            item["errors"] = errors
        return item

    def sign(self, body: bytes) -> str:
        return signature(self.app_secret, body)

    def deliver(self, post: Callable[[bytes, str], int]) -> int:
        """Hand every queued webhook to `post(body, signature)` (which answers a status), with
        Meta's faults; a body not answered 200 stays queued. Returns how many were answered 200."""
        with self._webhook_lock:
            batch, self.outbox = self.outbox, []
        if self.shuffle:
            self._rng.shuffle(batch)
        failed, delivered = [], 0
        for body in batch:
            copies = 2 if self._rng.random() < self.duplicate_rate else 1
            ok = False
            for _ in range(copies):
                ok = post(body, self.sign(body)) == 200 or ok
            if ok:
                delivered += 1
            else:
                failed.append(body)
        with self._webhook_lock:
            self.outbox[:0] = failed
        return delivered

    # -- the Graph API -----------------------------------------------------------------------

    def _send(self, request: Request) -> Response:
        if request.params["account"] != self.account_id:
            raise graph_error(400, "Unsupported post request.", 100, 33)
        with self.lock:
            throttled, self.throttled = self.throttled, max(0, self.throttled - 1)
        if throttled:
            raise graph_error(400, "(#613) Calls to this api have exceeded the rate limit.", 613)
        body = request.json()
        if not isinstance(body, dict):
            raise ContractViolation("the body must be a JSON object")
        if self.platform == "whatsapp":
            return self._send_whatsapp(body)
        recipient = (body.get("recipient") or {}).get("id")
        mtype = body.get("messaging_type")
        message = body.get("message") or {}
        if not recipient or mtype not in ("RESPONSE", "UPDATE", "MESSAGE_TAG"):
            raise ContractViolation(f"recipient.id and messaging_type are required, got {body}")
        if mtype == "MESSAGE_TAG" and body.get("tag") not in TAGS:
            raise ContractViolation(f"messaging_type MESSAGE_TAG needs a known tag: {body}")
        text, file = self._page_content(message)
        with self.lock:
            buyer = self.buyers.get(recipient)
            if buyer is None:
                raise graph_error(400, "(#100) No matching user found", 100, 2018001)
            age = self.clock() - (buyer.last_wrote or datetime.min.replace(tzinfo=UTC))
            allowed = timedelta(days=7) if body.get("tag") == "HUMAN_AGENT" else timedelta(hours=24)
            if age > allowed:
                raise graph_error(
                    400, "(#10) This message is sent outside of allowed window.", 10, 2018278
                )
            msg = SimMessage(
                self._id("m_"),
                recipient,
                True,
                text,
                self.clock(),
                str(message.get("metadata") or ""),
                file,
            )
            buyer.messages.append(msg)
            self.sent.append(msg)
        echo: dict[str, Any] = {"mid": msg.id, "is_echo": True, "metadata": msg.key}
        if file is None:
            echo["text"] = text
        else:
            url = f"{self.media_base or self.url}/media/none"
            echo["attachments"] = [{"type": file[0], "payload": {"url": url}}]
        self._queue_page(self.account_id, recipient, msg.at, {"message": echo})
        return Response(200, {"recipient_id": recipient, "message_id": msg.id})

    def _send_whatsapp(self, body: dict[str, Any]) -> Response:
        if body.get("messaging_product") != "whatsapp":
            raise ContractViolation('messaging_product must be "whatsapp"')
        to, kind = body.get("to"), body.get("type", "text")
        file = None
        if not isinstance(to, str) or not to.isdigit():
            raise ContractViolation(f"to must be a phone number, got {to!r}")
        if kind == "text":
            text = (body.get("text") or {}).get("body")
            if not isinstance(text, str) or not text or len(text) > 4096:
                raise ContractViolation("text.body must be 1 to 4096 characters")
        elif kind == "template":
            text = self._check_template(body.get("template") or {})
        elif kind in ("image", "video", "document"):
            media = body.get(kind) or {}
            with self.lock:
                file = self.uploads.get(str(media.get("id") or ""))
            if file is None:
                raise graph_error(400, "(#131053) Media upload error: unknown media id", 131053)
            text = str(media.get("caption") or "")
        else:
            raise ContractViolation(f"type {kind!r} is not simulated")
        with self.lock:
            buyer = self.buyer(to)
            msg = SimMessage(
                self._id("wamid."),
                to,
                True,
                text,
                self.clock(),
                str(body.get("biz_opaque_callback_data") or ""),
                file,
            )
            buyer.messages.append(msg)
            self.sent.append(msg)
            age = self.clock() - (buyer.last_wrote or datetime.min.replace(tzinfo=UTC))
        # Accepted at once; what became of it comes by webhook, as with the real Cloud API.
        if kind == "text" and age > timedelta(hours=24):
            error = {"code": 131047, "title": "Re-engagement message"}
            self._queue_whatsapp({"statuses": [self._status(msg, "failed", msg.at, [error])]})
        else:
            self._queue_whatsapp({"statuses": [self._status(msg, "sent", msg.at)]})
        return Response(
            200,
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": to}],
                "messages": [{"id": msg.id}],
            },
        )

    # -- uploads and templates ---------------------------------------------------------------

    def _upload_whatsapp(self, request: Request) -> Response:
        """`POST /{phone-number-id}/media`: multipart `messaging_product`, `type`, `file`."""
        if self.platform != "whatsapp" or request.params["account"] != self.account_id:
            raise graph_error(400, "Unsupported post request.", 100, 33)
        parts = {p.name: p for p in request.multipart()}
        if "file" not in parts or parts.get("messaging_product", _NO_PART).data != b"whatsapp":
            raise ContractViolation("messaging_product=whatsapp and file are required")
        file = parts["file"]
        rule = meta_window.file_verdict(
            "whatsapp", file.filename, file.content_type, len(file.data)
        )
        if rule.refused:
            raise graph_error(400, f"(#131053) Media upload error: {rule.refused}", 131053)
        return Response(200, {"id": self._keep_upload(rule.type, file.filename, len(file.data))})

    def _upload_page(self, request: Request) -> Response:
        """`POST /{page-id}/message_attachments`: multipart `message` (JSON) and `filedata`."""
        if self.platform == "whatsapp" or request.params["account"] != self.account_id:
            raise graph_error(400, "Unsupported post request.", 100, 33)
        parts = {p.name: p for p in request.multipart()}
        if "filedata" not in parts or "message" not in parts:
            raise ContractViolation("message and filedata are required")
        if (self.platform == "instagram") != (parts.get("platform", _NO_PART).data == b"instagram"):
            raise ContractViolation("platform=instagram is required for (and only for) Instagram")
        kind = json.loads(parts["message"].data)["attachment"]["type"]
        file = parts["filedata"]
        rule = meta_window.file_verdict(
            self.platform, file.filename, file.content_type, len(file.data)
        )
        if rule.refused or rule.type != kind:
            raise graph_error(400, "(#100) Upload attachment failure.", 100, 2018047)
        return Response(
            200, {"attachment_id": self._keep_upload(kind, file.filename, len(file.data))}
        )

    def _keep_upload(self, kind: str, filename: str, size: int) -> str:
        upload_id = f"{next(self._ids)}{self._rng.getrandbits(32)}"
        with self.lock:
            self.uploads[upload_id] = (kind, filename, size)
        return upload_id

    def _page_content(self, message: dict[str, Any]) -> tuple[str, tuple[str, str, int] | None]:
        """(text, file) of a Send API `message`: text or an uploaded attachment, not both."""
        text = message.get("text")
        if "attachment" in message:
            if text is not None:
                raise ContractViolation("a message holds text or an attachment, not both")
            return "", self._uploaded(message["attachment"])
        if not isinstance(text, str) or not text or len(text) > 2000:
            raise ContractViolation("message.text must be 1 to 2000 characters")
        return text, None

    def _uploaded(self, attachment: dict[str, Any]) -> tuple[str, str, int]:
        found = self.uploads.get(str((attachment.get("payload") or {}).get("attachment_id")))
        if found is None or found[0] != attachment.get("type"):
            raise graph_error(400, "(#100) Invalid attachment_id", 100, 2018047)
        return found

    def _templates(self, request: Request) -> Response:
        """WhatsApp Business Management API: `GET /{waba-id}/message_templates`."""
        if self.platform != "whatsapp" or request.params["waba"] != self.waba_id:
            raise graph_error(400, "Unsupported get request.", 100, 33)
        wanted = request.arg("status")
        with self.lock:
            data = [t for t in self.templates if not wanted or t["status"] == wanted]
        return Response(200, {"data": data, "paging": {"cursors": {"before": "", "after": ""}}})

    def _check_template(self, template: dict[str, Any]) -> str:
        name, language = template.get("name"), (template.get("language") or {}).get("code")
        if not name or not language:
            raise ContractViolation("template.name and template.language.code are required")
        with self.lock:
            found = [t for t in self.templates if t["name"] == name and t["language"] == language]
        if not found or found[0]["status"] != "APPROVED":
            raise graph_error(
                400, "(#132001) Template name does not exist in the translation", 132001
            )
        body = next(c for c in found[0]["components"] if c["type"] == "BODY")["text"]
        wanted = len(set(re.findall(r"\{\{(\d+)\}\}", body)))
        given = [
            p.get("text", "")
            for c in template.get("components") or []
            if c.get("type") == "body"
            for p in c.get("parameters") or []
        ]
        if len(given) != wanted:
            raise graph_error(400, "(#132000) Number of parameters does not match", 132000)
        return re.sub(r"\{\{(\d+)\}\}", lambda m: given[int(m.group(1)) - 1], body)

    def _conversations(self, request: Request) -> Response:
        if self.platform == "whatsapp":
            raise graph_error(400, "Unsupported get request.", 100)
        if request.arg("platform") != self.platform or not request.arg("user_id"):
            raise ContractViolation("platform and user_id are required")
        with self.lock:
            buyer = self.buyers.get(request.arg("user_id") or "")
            items = list(buyer.messages) if buyer else []
        messages = [
            {
                "id": m.id,
                "message": m.text,
                "created_time": m.at.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "from": {"id": self.account_id if m.from_page else m.buyer},
                **({"attachments": {"data": [{"name": m.file[1]}]}} if m.file else {}),
            }
            for m in reversed(items)  # newest first
        ]
        data = [{"id": f"t_{buyer.id}", "messages": {"data": messages}}] if buyer else []
        return Response(200, {"data": data})

    def _node(self, request: Request) -> Response:
        node = request.params["node"]
        with self.lock:
            buyer = self.buyers.get(node)
            media = self.media.get(node)
        if node == self.account_id:
            if self.platform == "whatsapp":
                return Response(200, {"id": node, "display_phone_number": "+33 6 12 34 56 78"})
            return Response(200, {"id": node, "name": "Maison Lumière"})
        if buyer is not None:
            return Response(200, {"id": node, "name": buyer.name})
        if media is not None and self.platform == "whatsapp":
            return Response(
                200,
                {
                    "messaging_product": "whatsapp",
                    "id": node,
                    "url": f"{self.media_base or self.url}/media/{node}",
                    "mime_type": media[0],
                    "sha256": "simulated",
                    "file_size": len(media[1]),
                },
            )
        raise graph_error(
            400, f"Unsupported get request. Object with ID '{node}' does not exist", 100, 33
        )

    def _download(self, request: Request) -> Response:
        with self.lock:
            media = self.media.get(request.params["media"])
        if media is None:
            raise HttpError(404, {"error": {"code": 100, "message": "no such media"}})
        return Response(200, media[1], content_type=media[0])


_NO_PART = Part("", "", "", b"")


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _secs(at: datetime) -> str:
    return str(int(at.timestamp()))
