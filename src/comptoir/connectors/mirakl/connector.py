"""Mirakl: one connector for every Mirakl-run marketplace (Darty, Boulanger, Conforama, Leroy
Merlin, Carrefour...), one channel per operator, each with its own base URL and shop API key.

In: M11 (threads updated since the cursor, with their messages, seek-paginated), M10 for a
thread whose list entry is cut at 100 messages, M13 for attachments. Out: M12 (reply, with
files), OR43 (a first message on an order). Orders: OR11. Mirakl has no idempotency key and no
"mark as read"; `shop_reply_needed_since` says whether the shop owes an answer.

A reply goes to who is in the thread (its current participants, read with M10 just before):
the customer, the operator, or both; never the customer of a thread between the shop and the
operator (`SELLER_OPERATOR`), which Mirakl refuses.

Exactly once: a reply whose outcome is unknown (a timeout, a lost answer, a 5xx, a worker killed
mid-send) is looked for in its thread (`find_sent`, by `Connector.pick_sent`) before it is sent
again. Mirakl stores a message seconds after the request at worst, though it was seen to answer
after the client's 30 s timeout: a retry that does not find it keeps looking for 5 minutes after
the unanswered request (`send_settle_seconds`) before posting again.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field, HttpUrl

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
from comptoir.connectors.mirakl import incidents
from comptoir.connectors.mirakl.refunds import MiraklRefunds
from comptoir.lib import intents
from comptoir.lib.filetypes import content_type_for

# Mirakl order states → ours.
ORDER_STATES = {
    "STAGING": "pending",
    "WAITING_ACCEPTANCE": "pending",
    "WAITING_DEBIT": "pending",
    "WAITING_DEBIT_PAYMENT": "pending",
    "SHIPPING": "accepted",
    "TO_COLLECT": "accepted",
    "SHIPPED": "shipped",
    "RECEIVED": "delivered",
    "CLOSED": "delivered",
    "REFUSED": "cancelled",
    "CANCELED": "cancelled",
    "REFUNDED": "refunded",
}
MESSAGES_IN_LIST = 100  # M11 carries at most the last 100 messages of a thread
# The marketplace's clock may be behind ours: a message it dates this much before we queued
# ours can still be ours.
CLOCK_SKEW = timedelta(minutes=2)
ORDERS_PER_REQUEST = 100  # OR11: `order_ids` takes 100 ids at most, `max` is 100 at most


class MiraklSettings(BaseModel):
    base_url: HttpUrl  # the operator's instance, e.g. https://darty-prod.mirakl.net
    api_key: str = Field(min_length=1)
    shop_id: int | None = None  # when the key serves several shops
    timeout_seconds: float = Field(default=30.0, gt=0)
    page_size: int = Field(default=100, ge=1, le=100)
    # Files per reply and per file: enforced before sending, with a message the agent reads.
    max_attachments: int = Field(default=10, ge=0)
    max_attachment_bytes: int = Field(default=10_000_000, ge=0)
    max_download_bytes: int = Field(default=25_000_000, ge=0)
    verify_tls: bool = True
    # Incidents (claims on order lines, read from OR11) open their case; the API gives them no
    # deadline, so the operator's own, when the seller knows it, is said here.
    fetch_incidents: bool = True
    # Mirakl recommends OR11 every 5 minutes (once a minute at most) for asynchronous reads.
    incident_poll_minutes: int = Field(default=5, ge=0, le=24 * 60)
    incident_response_hours: int | None = Field(default=None, ge=1, le=24 * 60)


class MiraklConnector(MiraklRefunds, Connector):
    kind = "mirakl"
    settings_model = MiraklSettings
    send_settle_seconds = 300.0
    opens_order_threads = True  # OR43

    def __init__(self, channel: Any) -> None:
        super().__init__(channel)
        self._client: HttpClient | None = None

    def conf(self) -> MiraklSettings:
        conf = self.settings()
        assert isinstance(conf, MiraklSettings)
        return conf

    @property
    def client(self) -> HttpClient:
        if self._client is None:
            conf = self.conf()
            self._client = HttpClient(
                str(conf.base_url).rstrip("/"),
                name=f"Mirakl ({self.channel.name})",
                timeout=conf.timeout_seconds,
                headers=lambda: {"Authorization": conf.api_key},
                verify=conf.verify_tls,
            )
        return self._client

    def _params(self, **params: Any) -> dict[str, Any]:
        shop_id = self.conf().shop_id
        extra = {"shop_id": shop_id} if shop_id is not None else {}
        return {**{k: v for k, v in params.items() if v is not None}, **extra}

    # -- in -----------------------------------------------------------------------------------

    def test_connection(self) -> str:
        data = self.client.get_json("/api/account", params=self._params())
        return f"connected as shop {data.get('shop_name') or data.get('shop_id')}"

    def fetch(self, since: dict[str, Any]) -> Iterator[InboundMessage]:
        """Threads updated since the cursor, oldest update first. The cursor moves to the
        newest `date_updated` seen (inclusive: a thread updated in that same millisecond is
        read again and its messages skipped as duplicates)."""
        conf = self.conf()
        newest = since.get("updated_since")
        token: str | None = None
        seen_pages: set[str] = set()
        while True:
            params = self._params(
                updated_since=since.get("updated_since"),
                with_messages="true",
                limit=conf.page_size,
                page_token=token,
            )
            page = self.client.get_json("/api/inbox/threads", params=params)
            threads = page.get("data", [])
            # A thread comes back whole whenever it changes: the files of the messages already
            # stored are not downloaded again (one query per page says which).
            stored = self.stored_external_ids(
                [m["id"] for t in threads for m in t.get("messages") or []]
            )
            for thread in threads:
                updated = thread.get("date_updated")
                if updated and (newest is None or _when(updated) > _when(newest)):
                    newest = updated
                yield from self._thread_messages(thread, stored)
            token = page.get("next_page_token")
            if not token or token in seen_pages:  # a repeated token would loop forever
                break
            seen_pages.add(token)
        if newest:
            self.cursor = {**self.cursor, "updated_since": newest}
        if conf.fetch_incidents:
            yield from incidents.fetch_incidents(self)

    def _thread_messages(
        self, thread: dict[str, Any], stored: set[str]
    ) -> Iterator[InboundMessage]:
        messages = thread.get("messages") or []
        total = (thread.get("metadata") or {}).get("total_count") or len(messages)
        if total > len(messages):  # cut in the list: read the whole thread
            thread = self.client.get_json(
                f"/api/inbox/threads/{thread['id']}", params=self._params()
            )
            messages = thread.get("messages") or []
            stored = stored | self.stored_external_ids([m["id"] for m in messages])
        participants = [
            *(thread.get("current_participants") or []),
            *(thread.get("authorized_participants") or []),
        ]
        customer: dict[str, Any] = next(
            (p for p in participants if p.get("type") == "CUSTOMER"), {}
        )
        order = next(
            (e["id"] for e in thread.get("entities") or [] if e.get("type") == "MMP_ORDER"), ""
        )
        needed_since = (thread.get("metadata") or {}).get("shop_reply_needed_since")
        topic = (thread.get("topic") or {}).get("value") or ""
        # A topic chosen from the operator's reasons is the marketplace's word on the intent.
        reason = topic if (thread.get("topic") or {}).get("type") == "REASON_CODE" else ""
        for message in sorted(messages, key=lambda m: _when(m["date_created"])):
            sender_type = (message.get("from") or {}).get("type", "")
            outbound = sender_type == "SHOP_USER"
            party = self._party(sender_type, message, customer)
            needs_reply: bool | None = None
            if not outbound:
                needs_reply = needed_since is not None and _when(message["date_created"]) >= _when(
                    str(needed_since)
                )
            yield InboundMessage(
                channel_id=self.channel.pk,
                external_id=message["id"],
                direction="out" if outbound else "in",
                sender=party,
                subject=topic[:500],
                text=message.get("body") or "",
                sent_at=_when(message["date_created"]),
                thread_id=thread["id"],
                order_number=order[:64],
                reason=reason[:64],
                intent="" if outbound else intents.from_reason(reason),
                needs_reply=needs_reply,
                # Stored already: ingest keeps the stored copy, files included.
                attachments=[]
                if message["id"] in stored
                else [self._download(a) for a in message.get("attachments") or []],
                meta={"mirakl_thread": thread["id"], "from_type": sender_type},
            )

    def _party(self, sender_type: str, message: dict[str, Any], customer: dict[str, Any]) -> Party:
        """Who wrote: the operator, or the thread's customer (whoever else writes in it)."""
        name = (message.get("from") or {}).get("display_name") or ""
        if sender_type == "OPERATOR_USER":
            return Party(
                identity_kind="mirakl_operator",
                identity_value=f"{self.channel.marketplace}:operator",
                name=name or "Operator",
            )
        return Party(
            identity_kind="mirakl_customer",
            identity_value=f"{self.channel.marketplace}:{customer.get('id') or 'unknown'}",
            name=customer.get("display_name") or name,
        )

    def _download(self, attachment: dict[str, Any]) -> InboundAttachment:
        name = attachment.get("name") or "attachment"
        size = int(attachment.get("size") or 0)
        cap = self.conf().max_download_bytes
        if size > cap:
            return InboundAttachment(
                filename=name,
                data=b"",
                size=size,
                dropped_reason=f"over the channel's {cap} bytes limit",
            )
        response = self.client.request(
            "GET", f"/api/inbox/threads/{attachment['id']}/download", params=self._params()
        )
        return InboundAttachment(
            filename=name,
            # M11 gives no type and M13 serves files as octet-stream: what it says when it
            # says more, else the name's, else the content's.
            content_type=content_type_for(
                name, response.content, response.headers.get("content-type", "")
            ),
            data=response.content,
            size=len(response.content),
        )

    # -- out ----------------------------------------------------------------------------------

    def send(self, outbound: OutboundMessage) -> SendResult:
        files = self._files(outbound)
        message_input: dict[str, Any]
        if outbound.conversation_thread_id:
            message_input = {
                "body": outbound.text,
                "to": self._recipients(outbound.conversation_thread_id),
            }
            path = f"/api/inbox/threads/{outbound.conversation_thread_id}/message"
            part = "message_input"
        elif outbound.order_number:
            # No thread yet: the shop writes first about an order (OR43).
            message_input = {
                "body": outbound.text,
                "to": ["CUSTOMER"],
                "topic": {"type": "FREE_TEXT", "value": outbound.subject or "Votre commande"},
            }
            path = f"/api/orders/{outbound.order_number}/threads"
            part = "thread_input"
        else:
            raise ConnectorError(
                "this conversation has neither a Mirakl thread nor an order to write about",
                permanent=True,
                about_message=True,
            )
        response = self.client.request(
            "POST",
            path,
            params=self._params(),
            files=[
                (part, (None, json.dumps(message_input), "application/json")),
                *(("files", f) for f in files),
            ],
        )
        data = parse_json(response, self.client.name)
        return SendResult(
            external_id=data["message_id"],
            sent_at=datetime.now(UTC),
            thread_id=data.get("thread_id", ""),
        )

    def _recipients(self, thread_id: str) -> list[dict[str, str]]:
        """Who is in the thread besides the shop: Mirakl refuses a message to anyone else
        (400 "CUSTOMER is not a participant" on a thread between the shop and the operator).
        Read from the thread now (M10): the operator may have joined since the last poll."""
        thread = self.client.get_json(f"/api/inbox/threads/{thread_id}", params=self._params())
        participants = thread.get("current_participants") or thread.get("authorized_participants")
        recipients: list[dict[str, str]] = []
        for participant in participants or []:
            kind = participant.get("type")
            if kind not in ("CUSTOMER", "OPERATOR") or any(r["type"] == kind for r in recipients):
                continue
            recipient = {"type": str(kind)}
            if kind == "CUSTOMER" and participant.get("id"):
                recipient["id"] = str(participant["id"])
            recipients.append(recipient)
        if not recipients:
            raise ConnectorError(
                f"Mirakl thread {thread_id} has no one but the shop in it to write to",
                permanent=True,
                about_message=True,
            )
        return recipients

    def _files(self, outbound: OutboundMessage) -> list[tuple[str, bytes, str]]:
        conf = self.conf()
        if len(outbound.attachments) > conf.max_attachments:
            raise ConnectorError(
                f"Mirakl takes at most {conf.max_attachments} files per message "
                f"({len(outbound.attachments)} attached)",
                permanent=True,
                about_message=True,
            )
        for attachment in outbound.attachments:
            if len(attachment.data) > conf.max_attachment_bytes:
                raise ConnectorError(
                    f"{attachment.filename} is {len(attachment.data) / 1e6:.1f} MB: Mirakl takes "
                    f"{conf.max_attachment_bytes / 1e6:.0f} MB per file at most",
                    permanent=True,
                    about_message=True,
                )
        return [(a.filename, a.data, a.content_type) for a in outbound.attachments]

    def find_sent(self, outbound: OutboundMessage) -> SendResult | None:
        """Mirakl has no idempotency key: the shop's message in the thread that
        `Connector.pick_sent` recognises means an earlier attempt got there."""
        if not outbound.conversation_thread_id:
            return self._find_thread_opened_on_order(outbound)
        thread = self.client.get_json(
            f"/api/inbox/threads/{outbound.conversation_thread_id}", params=self._params()
        )
        return self.pick_sent(
            outbound,
            (
                SentCandidate(
                    external_id=str(m.get("id") or ""),
                    text=m.get("body") or "",
                    created_at=_maybe_when(m.get("date_created")),
                )
                for m in thread.get("messages") or []
                if (m.get("from") or {}).get("type") == "SHOP_USER"
            ),
        )

    def _find_thread_opened_on_order(self, outbound: OutboundMessage) -> SendResult | None:
        """A first message on an order (OR43) whose answer was lost: the order's threads that
        start with the shop's message of this text, written since the message was queued and
        not already another Comptoir message, mean the thread was opened (so it is not opened
        twice)."""
        if not outbound.order_number:
            return None
        queued_at = self.queued_at(outbound.message_id)
        page = self.client.get_json(
            "/api/inbox/threads",
            params=self._params(
                entity_type="MMP_ORDER",
                entity_id=outbound.order_number,
                with_messages="true",
                limit=MESSAGES_IN_LIST,
            ),
        )
        candidates = []
        for thread in page.get("data") or []:
            messages = sorted(thread.get("messages") or [], key=lambda m: _when(m["date_created"]))
            first = messages[0] if messages else {}
            if (
                (first.get("from") or {}).get("type") == "SHOP_USER"
                and (first.get("body") or "").strip() == outbound.text.strip()
                and (queued_at is None or _when(first["date_created"]) >= queued_at - CLOCK_SKEW)
            ):
                candidates.append((thread["id"], first))
        taken = self.claimed_external_ids([m["id"] for _, m in candidates], outbound.message_id)
        for thread_id, message in candidates:
            if message["id"] not in taken:
                return SendResult(
                    external_id=message["id"],
                    sent_at=_when(message["date_created"]),
                    thread_id=thread_id,
                )
        return None

    # -- orders -------------------------------------------------------------------------------

    # OR11 takes up to 100 order ids, and pages by `max` (10 unless asked, 100 at most).
    order_batch_size = ORDERS_PER_REQUEST

    def fetch_orders(self, order_numbers: Sequence[str]) -> dict[str, OrderData]:
        wanted = list(dict.fromkeys(n for n in order_numbers if n))
        found: dict[str, OrderData] = {}
        for start in range(0, len(wanted), ORDERS_PER_REQUEST):
            chunk = wanted[start : start + ORDERS_PER_REQUEST]
            offset = 0
            while True:
                data = self.client.get_json(
                    "/api/orders",
                    params=self._params(
                        order_ids=",".join(chunk), max=ORDERS_PER_REQUEST, offset=offset
                    ),
                )
                orders = data.get("orders") or []
                for order in orders:
                    if order.get("order_id") in chunk:
                        found[order["order_id"]] = _order_data(order)
                offset += len(orders)
                if not orders or offset >= int(data.get("total_count") or 0):
                    break
        return found


def _order_data(found: dict[str, Any]) -> OrderData:
    return OrderData(
        external_id=found["order_id"],
        status=ORDER_STATES.get(found.get("order_state", ""), "unknown"),  # type: ignore[arg-type]
        currency=found.get("currency_iso_code") or "EUR",
        total=str(found.get("total_price") or ""),
        items=[
            OrderItem(
                sku=line.get("offer_sku") or "",
                title=line.get("product_title") or "",
                quantity=int(line.get("quantity") or 1),
                unit_price=str(line.get("price") or ""),
            )
            for line in found.get("order_lines") or []
        ],
        ordered_at=_maybe_when(found.get("created_date")),
        ship_by=_maybe_when(found.get("shipping_deadline")),
        carrier=found.get("shipping_carrier_code") or "",
        tracking_number=found.get("shipping_tracking") or "",
        tracking_url=found.get("shipping_tracking_url") or "",
    )


def _when(value: str) -> datetime:
    at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _maybe_when(value: str | None) -> datetime | None:
    return _when(value) if value else None
