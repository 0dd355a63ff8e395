"""Cdiscount through the Octopia Seller API v2: discussions with buyers, claims, orders.

Endpoints followed (base `https://api.octopia-io.net/seller/v2`, every call with a bearer token
and the `SellerId` header):
- token: `POST https://auth.octopia-io.net/auth/realms/maas/protocol/openid-connect/token`,
  OAuth2 client credentials; the token lives 2 hours and is kept per client until then, and a
  401 fetches a new one (`HttpClient.refresh_auth`).
- `GET /sellers` (test_connection), `GET /discussions` (list, paged by `pageIndex` /
  `pageSize`, filtered by `updatedAtMin`), `GET /discussions/{id}` (messages),
  `GET /discussions/{id}/attachments/{attachmentId}` (files), `POST /discussions/{id}/messages`
  (reply, multipart, up to 3 files of 4 MB in all), `POST /discussions` (open one on an order),
  `POST /discussions/{id}/close` and `/open`, `GET /orders/{orderId}`.

The cursor is the newest `updatedAt` of a completed sync; the next sync asks from a few minutes
before it (a message stored by Octopia a moment after its discussion's `updatedAt` was read), and
ingest drops what it already has. A discussion updated while the pages are read shifts the
others: the listing then runs again (see `_discussions`).

Exactly once: Octopia takes no idempotency key on a reply. A reply whose outcome is unknown (a
timeout, a lost answer, a 5xx, a worker killed mid-send) is looked for in its discussion
(`find_sent`, by `Connector.pick_sent`) before being sent again, and while the unanswered request
may still be stored (5 minutes from its start, `send_settle_seconds`) a retry that does not find
it looks again later rather than posting a second copy.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from pydantic import BaseModel, Field

from comptoir.connectors.base import (
    Connector,
    ConnectorError,
    HttpClient,
    InboundAttachment,
    InboundMessage,
    OrderData,
    OrderItem,
    OutboundMessage,
    Party,
    SendResult,
    SentCandidate,
    parse_json,
)
from comptoir.connectors.cdiscount.case_ops import CdiscountCaseOperations
from comptoir.connectors.cdiscount.parsing import (
    Discussion,
    author_of,
    decimal_text,
    iso,
)
from comptoir.lib import http, intents
from comptoir.lib.dates import parse_iso
from comptoir.lib.filetypes import content_type_for

NAME = "Cdiscount (Octopia)"
TOKEN_PATH = "/auth/realms/maas/protocol/openid-connect/token"
PAGE_SIZE = 100  # Octopia's largest page
MAX_ATTACHMENTS = 3
MAX_ATTACHMENTS_BYTES = 4 * 1024 * 1024
ACCEPTED_EXTENSIONS = ("png", "gif", "bmp", "jpg", "tif", "pdf", "jpeg", "doc", "docx", "xls")
# Listings run again while discussions move under them, at most this many times per sync.
MAX_PASSES = 3
# Octopia refuses a search period longer than 6 months.
MAX_INITIAL_DAYS = 180
ORDER_STATUSES: dict[str, str] = {
    "Processing": "pending",
    "WaitingAcceptance": "pending",
    "Accepted": "accepted",
    "InPreparation": "accepted",
    "Shipped": "shipped",
    "Delivered": "delivered",
    "Cancelled": "cancelled",
    "Refused": "cancelled",
}


class CdiscountSettings(BaseModel):
    client_id: str = Field(min_length=1)
    client_secret: str = Field(min_length=1)
    seller_id: str = Field(min_length=1)
    base_url: str = "https://api.octopia-io.net/seller/v2"
    auth_url: str = "https://auth.octopia-io.net"
    timeout_seconds: float = Field(default=30.0, gt=0)
    # A first sync (or a full resync) reads discussions updated in this many past days.
    initial_days: int = Field(default=30, ge=1, le=MAX_INITIAL_DAYS)
    # Each sync asks again for this much before the cursor; ingest drops what it has.
    overlap_minutes: int = Field(default=10, ge=0)
    # Buyer files larger than this are listed with their size but not downloaded.
    max_attachment_bytes: int = Field(default=10_000_000, ge=0)


# Tokens per (token server, client): every connector instance of a process shares them, so a
# poll does not ask for a new token each minute. Value: (token, monotonic expiry).
_tokens: dict[tuple[str, str], tuple[str, float]] = {}
_tokens_lock = threading.Lock()


class CdiscountConnector(CdiscountCaseOperations, Connector):
    """Octopia Seller API v2: `GET /discussions`, `GET /discussions/{id}`,
    `POST /discussions/{id}/messages`, `GET /orders/{id}`, `GET /sellers` (see the module)."""

    kind = "cdiscount"
    send_settle_seconds = 300.0
    settings_model = CdiscountSettings

    def __init__(self, channel: Any) -> None:
        super().__init__(channel)
        self._client: HttpClient | None = None
        self._conf: CdiscountSettings | None = None

    # -- plumbing -----------------------------------------------------------------------------

    @property
    def conf(self) -> CdiscountSettings:
        if self._conf is None:
            try:
                self._conf = cast(CdiscountSettings, self.settings())
            except ValueError as exc:
                raise ConnectorError(
                    f"{NAME}: the channel's settings are incomplete: {exc}", permanent=True
                ) from None
        return self._conf

    @property
    def client(self) -> HttpClient:
        if self._client is None:
            conf = self.conf
            self._client = HttpClient(
                conf.base_url.rstrip("/"),
                name=NAME,
                timeout=conf.timeout_seconds,
                headers=self._headers,
                refresh_auth=self._refresh_token,
            )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _token_key(self) -> tuple[str, str]:
        return (self.conf.auth_url.rstrip("/"), self.conf.client_id)

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token()}", "SellerId": self.conf.seller_id}

    def _token(self) -> str:
        with _tokens_lock:
            cached = _tokens.get(self._token_key())
        if cached is not None and cached[1] > http.monotonic():
            return cached[0]
        return self._new_token()

    def _refresh_token(self) -> None:
        with _tokens_lock:
            _tokens.pop(self._token_key(), None)
        self._new_token()

    def _new_token(self) -> str:
        conf = self.conf
        with HttpClient(
            conf.auth_url.rstrip("/"),
            name=f"{NAME} sign-in",
            timeout=conf.timeout_seconds,
        ) as auth:
            try:
                # Asking for a token twice is harmless: safe to retry.
                response = auth.request(
                    "POST",
                    TOKEN_PATH,
                    data={
                        "grant_type": "client_credentials",
                        "client_id": conf.client_id,
                        "client_secret": conf.client_secret,
                    },
                    idempotent=True,
                )
            except ConnectorError as exc:
                if exc.status in (400, 401, 403):
                    raise ConnectorError(
                        f"{NAME}: the client id and secret were refused ({exc}); check them "
                        "in the Octopia seller portal (API credentials)",
                        permanent=True,
                        status=exc.status,
                    ) from None
                raise
            body = parse_json(response, NAME)
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise ConnectorError(f"{NAME}: the token answer has no access_token")
        lifetime = float(body.get("expires_in") or 300)
        # Renewed a minute early: a token must not expire between our check and its use.
        with _tokens_lock:
            _tokens[self._token_key()] = (token, http.monotonic() + max(lifetime - 60, 1))
        return token

    def _get(self, path: str, **params: Any) -> Any:
        try:
            return self.client.get_json(path, params=params or None)
        except ConnectorError as exc:
            raise self._explain(exc) from None

    def _explain(self, exc: ConnectorError) -> ConnectorError:
        if exc.status == 403:
            return ConnectorError(
                f"{NAME}: access refused for seller {self.conf.seller_id} ({exc}); the API "
                "client must be linked to this seller account in the Octopia seller portal",
                permanent=True,
                status=403,
            )
        if exc.status == 401:
            return ConnectorError(
                f"{NAME}: the API refused a fresh token ({exc}); check the client id and secret",
                permanent=True,
                status=401,
            )
        return exc

    # -- connection ---------------------------------------------------------------------------

    def test_connection(self) -> str:
        try:
            seller = self._get("/sellers")
        finally:
            self.close()
        if not isinstance(seller, dict):
            raise ConnectorError(f"{NAME}: unexpected answer to GET /sellers")
        name = seller.get("shopName") or seller.get("login") or "?"
        return f"connected as shop {name} (seller {seller.get('sellerId', self.conf.seller_id)})"

    # -- fetch --------------------------------------------------------------------------------

    def fetch(self, since: dict[str, Any]) -> Iterator[InboundMessage]:
        conf = self.conf
        cursor = parse_iso(since.get("updated_since"))
        now = datetime.now(UTC)
        if cursor is None:
            low = now - timedelta(days=conf.initial_days)
        else:
            low = max(
                cursor - timedelta(minutes=conf.overlap_minutes),
                now - timedelta(days=MAX_INITIAL_DAYS),
            )
        newest = cursor
        try:
            for summary in self._discussions(low):
                updated = parse_iso(summary.get("updatedAt"))
                yield from self._messages_of(str(summary["discussionId"]))
                if updated is not None and (newest is None or updated > newest):
                    newest = updated
        finally:
            self.close()
        # Only a sync that went to the end moves the cursor.
        if newest is not None:
            self.cursor = {**self.cursor, "updated_since": iso(newest)}

    def _discussions(self, low: datetime) -> Iterator[dict[str, Any]]:
        """Every discussion updated since `low`, following the pages to the end.

        Pages are numbered and the list runs from the oldest `updatedAt`: a discussion updated
        while we page moves to the end, and every one behind it shifts back by one, so one of
        them may slip onto a page already read. The moved discussion shows up again further
        on with its new `updatedAt`: then the period is listed once more. What was already
        handed out at the same `updatedAt` is not handed out again."""
        seen: dict[str, str] = {}
        for _ in range(MAX_PASSES):
            this_pass: dict[str, str] = {}
            moved = False
            page_index = 1
            while True:
                body = self._list_page(low, page_index)
                for item in body["items"]:
                    key, updated = str(item.get("discussionId", "")), str(item.get("updatedAt"))
                    if not key:
                        continue
                    if this_pass.get(key, updated) != updated:
                        moved = True
                    this_pass[key] = updated
                    # A page may repeat items of the previous one: handed out once.
                    if seen.get(key) != updated:
                        seen[key] = updated
                        yield item
                links = body.get("_links") or {}
                # An empty page ends it too: a "next" link that never runs out must not loop.
                if not links.get("next") or not body["items"]:
                    break
                page_index += 1
            if not moved:
                return

    def _list_page(self, low: datetime, page_index: int) -> dict[str, Any]:
        body = self._get(
            "/discussions", updatedAtMin=iso(low), pageIndex=page_index, pageSize=PAGE_SIZE
        )
        if not isinstance(body, dict) or not isinstance(body.get("items"), list):
            raise ConnectorError(f"{NAME}: GET /discussions answered without items")
        return body

    def _messages_of(self, discussion_id: str) -> Iterator[InboundMessage]:
        discussion = self._get(f"/discussions/{discussion_id}")
        if not isinstance(discussion, dict):
            raise ConnectorError(f"{NAME}: GET /discussions/{discussion_id} is not an object")
        messages = discussion.get("messages") or []
        # Messages already stored (ours included, once delivered) are not read again.
        known = self.stored_external_ids([str(m.get("messageId")) for m in messages])
        about = Discussion.of(discussion, discussion_id)
        last_buyer = max(
            (i for i, m in enumerate(messages) if author_of(m) != "Seller"), default=-1
        )
        for index, message in enumerate(messages):
            message_id = str(message.get("messageId") or "")
            # Older messages of a discussion are kept too (the history a first sync brings).
            if not message_id or message_id in known:
                continue
            # Octopia says whether the seller owes an answer: it speaks for the newest message
            # of the buyer (or of Cdiscount's customer care).
            needs_reply = about.waiting if index == last_buyer else None
            yield self._inbound(about, message, message_id, needs_reply=needs_reply)

    def _inbound(
        self,
        about: Discussion,
        message: dict[str, Any],
        message_id: str,
        *,
        needs_reply: bool | None,
    ) -> InboundMessage:
        sent_at = parse_iso(message.get("createdAt")) or about.updated_at or datetime.now(UTC)
        author = author_of(message)
        meta: dict[str, Any] = {"discussion_id": about.id, "author": author, **about.details}
        return InboundMessage(
            channel_id=self.channel.pk,
            external_id=message_id,
            direction="out" if author == "Seller" else "in",
            # The buyer is the conversation's customer whoever writes in the discussion.
            sender=Party(
                identity_kind="cdiscount_customer",
                identity_value=about.buyer_id,
                name=about.buyer_name if author == "Customer" else "",
            ),
            subject=about.subject,
            text=message.get("body") or "",
            sent_at=sent_at,
            thread_id=about.id,
            order_number=about.order_number,
            needs_reply=needs_reply,
            reason=about.reason[:64],
            intent="" if author == "Seller" else intents.from_reason(about.reason),
            attachments=[
                self._attachment(about.id, a)
                for a in message.get("attachments") or []
                if author != "Seller"
            ],
            meta=meta,
            tags=["claim"] if about.is_claim else [],
        )

    def _attachment(self, discussion_id: str, data: dict[str, Any]) -> InboundAttachment:
        size = int(data.get("size") or 0)
        name = str(data.get("fileName") or "attachment")[:255]
        ctype = str(data.get("contentType") or "application/octet-stream")[:255]
        if size > self.conf.max_attachment_bytes:
            return InboundAttachment(
                filename=name,
                content_type=ctype,
                data=b"",
                size=size,
                dropped_reason=f"larger than the channel's limit of "
                f"{self.conf.max_attachment_bytes} bytes",
            )
        try:
            response = self.client.request(
                "GET", f"/discussions/{discussion_id}/attachments/{data['attachmentId']}"
            )
        except ConnectorError as exc:
            raise self._explain(exc) from None
        return InboundAttachment(
            filename=name,
            content_type=content_type_for(name, response.content, ctype)[:255],
            data=response.content,
            size=len(response.content),
        )

    # -- send ---------------------------------------------------------------------------------

    def send(self, outbound: OutboundMessage) -> SendResult:
        self._check_limits(outbound)
        if not outbound.conversation_thread_id:
            raise ConnectorError(
                f"{NAME}: this conversation has no Cdiscount discussion to answer in",
                permanent=True,
                about_message=True,
            )
        # Multipart even without files: the text parts go first, then the files.
        parts: list[tuple[str, tuple[str | None, bytes | str, str | None]]] = [
            ("body", (None, outbound.text, None)),
            ("receivers", (None, "Customer", None)),
        ]
        parts += [
            ("attachments", (a.filename, a.data, a.content_type or "application/octet-stream"))
            for a in outbound.attachments
        ]
        try:
            response = self.client.request(
                "POST",
                f"/discussions/{outbound.conversation_thread_id}/messages",
                files=parts,
            )
        except ConnectorError as exc:
            raise self._explain(exc) from None
        finally:
            self.close()
        body = parse_json(response, NAME)
        message_id = body.get("messageId") if isinstance(body, dict) else None
        if not message_id:
            # Accepted but unnamed: find_sent recognises it on the next attempt.
            raise ConnectorError(
                f"{NAME}: the reply was accepted without a message id", maybe_sent=True
            )
        return SendResult(external_id=str(message_id), sent_at=parse_iso(body.get("createdAt")))

    def _check_limits(self, outbound: OutboundMessage) -> None:
        """Octopia's rules for a reply, checked before anything is sent."""
        if not outbound.text.strip():
            raise ConnectorError(
                f"{NAME}: a reply cannot be empty", permanent=True, about_message=True
            )
        if len(outbound.attachments) > MAX_ATTACHMENTS:
            raise ConnectorError(
                f"{NAME}: a reply carries at most {MAX_ATTACHMENTS} attachments "
                f"(this one has {len(outbound.attachments)})",
                permanent=True,
                about_message=True,
            )
        total = sum(len(a.data) for a in outbound.attachments)
        if total > MAX_ATTACHMENTS_BYTES:
            raise ConnectorError(
                f"{NAME}: the attachments of a reply may not exceed 4 MB in all "
                f"(these make {total / 1024 / 1024:.1f} MB)",
                permanent=True,
                about_message=True,
            )
        for a in outbound.attachments:
            extension = a.filename.rsplit(".", 1)[-1].lower() if "." in a.filename else ""
            if extension not in ACCEPTED_EXTENSIONS:
                raise ConnectorError(
                    f"{NAME}: {a.filename!r} cannot be attached; accepted file types: "
                    f"{', '.join(ACCEPTED_EXTENSIONS)}",
                    permanent=True,
                    about_message=True,
                )

    def find_sent(self, outbound: OutboundMessage) -> SendResult | None:
        """Our reply in its discussion: the seller message `Connector.pick_sent` recognises."""
        if not outbound.conversation_thread_id:
            return None
        try:
            discussion = self._get(f"/discussions/{outbound.conversation_thread_id}")
        finally:
            self.close()
        return self.pick_sent(
            outbound,
            (
                SentCandidate(
                    external_id=str(m.get("messageId") or ""),
                    text=m.get("body") or "",
                    created_at=parse_iso(m.get("createdAt")),
                )
                for m in discussion.get("messages") or []
                if author_of(m) == "Seller"
            ),
        )

    # -- discussions opened and closed by the seller --------------------------------------------

    def open_discussion(
        self, order_id: str, text: str, *, subject: str = "", sub_typology: str = "orderInformation"
    ) -> str:
        """Write to the buyer of an order in a new discussion; returns its id."""
        try:
            response = self.client.request(
                "POST",
                "/discussions",
                json_body={
                    "orderId": order_id,
                    "subject": subject,
                    "subTypologyCode": sub_typology,
                    "message": {"body": text, "receiver": "Customer"},
                },
            )
        except ConnectorError as exc:
            raise self._explain(exc) from None
        finally:
            self.close()
        return str(parse_json(response, NAME)["discussionId"])

    def close_discussion(self, discussion_id: str) -> None:
        self._set_open(discussion_id, "close")

    def reopen_discussion(self, discussion_id: str) -> None:
        self._set_open(discussion_id, "open")

    def _set_open(self, discussion_id: str, action: str) -> None:
        try:
            # Closing a closed discussion changes nothing: safe to repeat.
            self.client.request("POST", f"/discussions/{discussion_id}/{action}", idempotent=True)
        except ConnectorError as exc:
            raise self._explain(exc) from None
        finally:
            self.close()

    # -- orders -------------------------------------------------------------------------------

    def fetch_order(self, order_number: str) -> OrderData | None:
        try:
            order = self._get(f"/orders/{order_number}")
        except ConnectorError as exc:
            if exc.status == 404:
                return None
            raise
        finally:
            self.close()
        parcels = order.get("parcels") or []
        parcel = parcels[0] if parcels else {}
        customer = order.get("customer") or {}
        return OrderData(
            external_id=str(order.get("orderId") or order_number),
            status=cast(Any, ORDER_STATUSES.get(str(order.get("status")), "unknown")),
            currency=str(order.get("currency") or "EUR")[:3],
            total=decimal_text(order.get("totalPrice")),
            items=[
                OrderItem(
                    sku=str((line.get("offer") or {}).get("sellerProductId") or ""),
                    title=str((line.get("offer") or {}).get("productTitle") or ""),
                    quantity=int(line.get("quantity") or 1),
                    unit_price=decimal_text(line.get("sellingPrice")),
                )
                for line in order.get("lines") or []
            ],
            ordered_at=parse_iso(order.get("createdAt")),
            ship_by=parse_iso(order.get("maxShippingDate")),
            shipped_at=parse_iso(parcel.get("shippedAt")),
            carrier=str(parcel.get("carrierName") or "")[:64],
            tracking_number=str(parcel.get("parcelNumber") or "")[:128],
            tracking_url=str(parcel.get("trackingUrl") or "")[:500],
            buyer=Party(identity_kind="cdiscount_customer", identity_value=customer["customerId"])
            if customer.get("customerId")
            else None,
        )
