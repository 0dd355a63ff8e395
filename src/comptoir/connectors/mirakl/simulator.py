"""A Mirakl operator (Darty, Boulanger, ...) on localhost, as its seller API behaves.

Follows Mirakl's published seller API (`mirakl/mmp-seller-openapi.json`):
- M11 `GET /api/inbox/threads`: `updated_since`, `with_messages`, `entity_type`/`entity_id`,
  seek pagination (`limit` ≤ 100, default 50, `page_token`, answers `next_page_token`).
  Threads come oldest update first; `with_messages` carries at most the last 100 messages.
- M10 `GET /api/inbox/threads/{thread_id}`; M12 `POST /api/inbox/threads/{thread_id}/message`
  (multipart: `message_input` JSON + `files`);
  M13 `GET /api/inbox/threads/{attachment_id}/download`;
  OR43 `POST /api/orders/{order_id}/threads`; OR11 `GET /api/orders` with its filters and the
  incidents on order lines (`sim_orders`);
  OR28 `PUT /api/orders/refund` and RE02 `GET /api/reasons/{reason_type}` (`refund_sim`).
- `Authorization: <shop API key>`; 401 for a wrong key, 403 for another shop's `shop_id`.
Every request is checked against the published description when it is present (`contract`).
"""

from __future__ import annotations

import base64
import itertools
import json
import random
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from comptoir.connectors import contract
from comptoir.connectors.mirakl.refund_sim import RefundApi
from comptoir.connectors.mirakl.sim_orders import OrdersMixin
from comptoir.connectors.simulator import (
    ContractViolation,
    HttpError,
    Request,
    Response,
    Simulator,
)

SPEC = "mirakl/mmp-seller-openapi.json"
# Seek pagination (M11) and offset pagination (OR11), described once in Mirakl's docs.
PAGINATION = frozenset({"limit", "page_token", "sort", "max", "offset"})
MAX_MESSAGES_IN_LIST = 100
MAX_ATTACHMENTS_PER_ENTITY = 50
MAX_BODY_CHARS = 5000


def iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass
class SimMessage:
    id: str
    body: str
    date_created: datetime
    sender_type: str  # CUSTOMER_USER, SHOP_USER, OPERATOR_USER
    sender_name: str
    attachments: list[tuple[str, str, int]] = field(default_factory=list)  # id, name, size


@dataclass
class SimThread:
    id: str
    topic: str
    customer_id: str
    customer_name: str
    order_id: str | None
    date_created: datetime
    date_updated: datetime
    reply_needed_since: datetime | None = None
    messages: list[SimMessage] = field(default_factory=list)
    # Who is in the thread besides the shop: a buyer's thread has the customer (and the
    # operator once it joined); a thread between the shop and the operator has no customer.
    participants: set[str] = field(default_factory=lambda: {"CUSTOMER"})


class MiraklSimulator(OrdersMixin, RefundApi, Simulator):
    name = "mirakl"

    def __init__(
        self,
        *,
        shop_id: int = 2001,
        api_key: str = "sim-key",
        operator: str = "Darty",
        seed: int = 0,
    ) -> None:
        super().__init__(seed=seed)
        self.shop_id = shop_id
        self.api_keys = {api_key}
        self.operator = operator
        self.threads: dict[str, SimThread] = {}
        self.files: dict[str, tuple[str, bytes]] = {}
        self.orders: dict[str, dict[str, Any]] = {}
        self.contract = contract.load(SPEC)
        self._ids = itertools.count(1)
        self._random = random.Random(seed)
        self._clock = datetime.now(UTC) - timedelta(days=1)
        self._clock_lock = threading.Lock()
        self.route("GET", r"/api/inbox/threads", self._m11)
        self.route("GET", r"/api/inbox/threads/(?P<attachment_id>[^/]+)/download", self._m13)
        self.route("GET", r"/api/inbox/threads/(?P<thread_id>[^/]+)", self._m10)
        self.route("POST", r"/api/inbox/threads/(?P<thread_id>[^/]+)/message", self._m12)
        self.route("POST", r"/api/orders/(?P<order_id>[^/]+)/threads", self._or43)
        self.route("GET", r"/api/orders", self._or11)
        self.route("GET", r"/api/account", self._a01)
        self._init_refunds()  # OR28, RE02: see refund_sim

    # -- the scriptable marketplace ---------------------------------------------------------

    def now(self) -> datetime:
        """Strictly increasing, never behind the real clock: every change has its own time."""
        with self._clock_lock:
            self._clock = max(datetime.now(UTC), self._clock + timedelta(milliseconds=1))
            return self._clock

    def _id(self) -> str:
        return str(uuid.UUID(int=self._random.getrandbits(128) | next(self._ids)))

    def add_order(self, order_id: str, **fields: Any) -> dict[str, Any]:
        order = {
            "order_id": order_id,
            "order_state": fields.pop("order_state", "SHIPPING"),
            "currency_iso_code": "EUR",
            "total_price": fields.pop("total_price", 59.9),
            "created_date": iso(self.now() - timedelta(days=3)),
            "shipping_deadline": iso(self.now() + timedelta(days=1)),
            "shipping_carrier_code": fields.pop("carrier", ""),
            "shipping_tracking": fields.pop("tracking", ""),
            "shipping_tracking_url": fields.pop("tracking_url", ""),
            "order_lines": fields.pop(
                "lines",
                [{"offer_sku": "SKU-1", "product_title": "Lampe", "quantity": 1, "price": 59.9}],
            ),
            **fields,
        }
        for n, line in enumerate(order["order_lines"], 1):
            line.setdefault("order_line_id", f"{order_id}-{n}")
            line.setdefault("refunds", [])
        with self.lock:
            self.orders[order_id] = order
        return order

    def buyer_writes(
        self,
        text: str,
        *,
        thread_id: str | None = None,
        order_id: str | None = None,
        customer_id: str = "cust-1",
        customer_name: str = "Jeanne Martin",
        topic: str = "Où est ma commande ?",
        attachments: list[tuple[str, bytes]] | None = None,
        sender_type: str = "CUSTOMER_USER",
    ) -> tuple[str, str]:
        """A buyer (or the operator) writes; returns (thread id, message id)."""
        with self.lock:
            at = self.now()
            thread = self.threads.get(thread_id or "")
            if thread is None:
                thread = SimThread(
                    id=thread_id or self._id(),
                    topic=topic,
                    customer_id=customer_id,
                    customer_name=customer_name,
                    order_id=order_id,
                    date_created=at,
                    date_updated=at,
                )
                self.threads[thread.id] = thread
            message = SimMessage(
                id=self._id(),
                body=text,
                date_created=at,
                sender_type=sender_type,
                sender_name=customer_name if sender_type == "CUSTOMER_USER" else self.operator,
            )
            for name, data in attachments or []:
                file_id = self._id()
                self.files[file_id] = (name, data)
                message.attachments.append((file_id, name, len(data)))
            thread.messages.append(message)
            thread.date_updated = at
            if sender_type == "OPERATOR_USER":
                thread.participants.add("OPERATOR")
            if thread.reply_needed_since is None:
                thread.reply_needed_since = at
            return thread.id, message.id

    def operator_writes(self, text: str, *, topic: str = "Contrôle qualité") -> tuple[str, str]:
        """The operator opens a thread with the shop (entity SELLER_OPERATOR: no customer in
        it); returns (thread id, message id)."""
        with self.lock:
            at = self.now()
            thread = SimThread(
                id=self._id(),
                topic=topic,
                customer_id="",
                customer_name="",
                order_id=None,
                date_created=at,
                date_updated=at,
                participants={"OPERATOR"},
            )
            self.threads[thread.id] = thread
        return self.buyer_writes(text, thread_id=thread.id, sender_type="OPERATOR_USER")

    def seller_writes(self, thread_id: str, text: str, *, at: datetime | None = None) -> str:
        """The shop writes in a thread outside Comptoir (Mirakl's back office, or an earlier
        reply), `at` a past date if given; returns the message id."""
        with self.lock:
            thread = self._get_thread(thread_id)
            message = self._shop_message(thread, text, [])
            if at is not None:
                message.date_created = at
                thread.messages.sort(key=lambda m: m.date_created)
            return message.id

    def seller_messages(self) -> list[tuple[str, SimMessage]]:
        with self.lock:
            return [
                (t.id, m)
                for t in self.threads.values()
                for m in t.messages
                if m.sender_type == "SHOP_USER"
            ]

    def all_messages(self) -> list[tuple[str, SimMessage]]:
        with self.lock:
            return [(t.id, m) for t in self.threads.values() for m in t.messages]

    # -- the API ------------------------------------------------------------------------------

    def authenticate(self, request: Request) -> None:
        if request.headers.get("authorization") not in self.api_keys:
            raise HttpError(401, {"message": "Unauthorized", "status": 401})
        shop = request.arg("shop_id")
        if shop is not None and shop != str(self.shop_id):
            raise HttpError(403, {"message": f"Access denied to shop {shop}", "status": 403})
        if self.contract is not None:
            problems = self.contract.check_request(
                request.method, request.path, request.query, extra_query=PAGINATION
            )
            if problems:
                raise ContractViolation("; ".join(problems))

    def _a01(self, request: Request) -> Response:
        return Response(200, {"shop_id": self.shop_id, "shop_name": f"Boutique on {self.operator}"})

    def _m11(self, request: Request) -> Response:
        limit = int(request.arg("limit") or 50)
        if not 1 <= limit <= 100:
            raise HttpError(400, {"message": "limit must be between 1 and 100", "status": 400})
        since = request.arg("updated_since")
        with_messages = request.arg("with_messages") == "true"
        entity_type, entity_ids = request.arg("entity_type"), request.arg("entity_id")
        if entity_ids and not entity_type:
            raise HttpError(400, {"message": "entity_type is required with entity_id"})
        wanted = set(entity_ids.split(",")) if entity_ids else None
        after = _decode_token(request.arg("page_token"))
        fault = self.page_fault(request)
        with self.lock:
            rows = sorted(self.threads.values(), key=lambda t: (t.date_updated, t.id))
            if since:
                rows = [t for t in rows if t.date_updated >= parse_iso(since)]
            if wanted is not None:
                rows = [t for t in rows if t.order_id in wanted]
            start = 0
            if after is not None:
                start = next(
                    (i for i, t in enumerate(rows) if (iso(t.date_updated), t.id) > after),
                    len(rows),
                )
            if fault == "duplicate_page":  # the page starts a few threads too early
                start = max(0, start - 3)
            page = rows[start : start + limit]
            more = start + limit < len(rows)
            data = [self.thread_json(t, with_messages) for t in page]
        if fault == "reorder_page":
            self.faults.random.shuffle(data)
        body: dict[str, Any] = {"data": data}
        if more and page:
            body["next_page_token"] = _encode_token(iso(page[-1].date_updated), page[-1].id)
        return Response(200, body)

    def _m10(self, request: Request) -> Response:
        with self.lock:
            thread = self._get_thread(request.params["thread_id"])
            return Response(200, self.thread_json(thread, True, last=None))

    def _m13(self, request: Request) -> Response:
        with self.lock:
            found = self.files.get(request.params["attachment_id"])
        if found is None:
            raise HttpError(404, {"message": "attachment not found", "status": 404})
        name, data = found
        return Response(
            200,
            data,
            {"Content-Disposition": f'attachment; filename="{name}"'},
            content_type="application/octet-stream",
        )

    def _m12(self, request: Request) -> Response:
        message_input, files = self._multipart(request, "message_input")
        if self.contract is not None:
            problems = self.contract.validate(
                message_input,
                self.contract.component("M12_Request_MultipartFormData_MessageInput"),
                "message_input",
            )
            if problems:
                raise ContractViolation("; ".join(problems))
        for recipient in message_input["to"]:
            if recipient.get("type") not in {"OPERATOR", "CUSTOMER"}:
                raise ContractViolation(f"message_input.to type {recipient.get('type')!r}")
        with self.lock:
            thread = self._get_thread(request.params["thread_id"])
            # As Mirakl does: a message goes only to who is in the thread.
            for recipient in message_input["to"]:
                if recipient["type"] not in thread.participants:
                    raise HttpError(
                        400,
                        {
                            "message": f"{recipient['type']} is not a participant of the thread",
                            "status": 400,
                        },
                    )
                if (
                    recipient["type"] == "CUSTOMER"
                    and recipient.get("id")
                    and recipient["id"] != thread.customer_id
                ):
                    raise HttpError(
                        400, {"message": f"customer {recipient['id']} is not a participant"}
                    )
            message = self._shop_message(thread, message_input["body"], files)
            return Response(201, {"message_id": message.id, "thread_id": thread.id})

    def _or43(self, request: Request) -> Response:
        thread_input, files = self._multipart(request, "thread_input")
        if self.contract is not None:
            problems = self.contract.validate(
                thread_input,
                self.contract.component("OR43_Request_MultipartFormData_ThreadInput"),
                "thread_input",
            )
            if problems:
                raise ContractViolation("; ".join(problems))
        order_id = request.params["order_id"]
        with self.lock:
            order = self.orders.get(order_id)
            if order is None:
                raise HttpError(404, {"message": f"order {order_id} not found", "status": 404})
            at = self.now()
            thread = SimThread(
                id=self._id(),
                topic=str(thread_input["topic"].get("value", "")),
                customer_id=order.get("customer_id", "cust-1"),
                customer_name=order.get("customer_name", "Client"),
                order_id=order_id,
                date_created=at,
                date_updated=at,
            )
            self.threads[thread.id] = thread
            message = self._shop_message(thread, thread_input["body"], files)
            return Response(201, {"message_id": message.id, "thread_id": thread.id})

    # -- helpers ------------------------------------------------------------------------------

    def _get_thread(self, thread_id: str) -> SimThread:
        thread = self.threads.get(thread_id)
        if thread is None:
            raise HttpError(404, {"message": f"thread {thread_id} not found", "status": 404})
        return thread

    def _multipart(self, request: Request, field_name: str) -> tuple[dict[str, Any], list[Any]]:
        parts = request.multipart()
        inputs = [p for p in parts if p.name == field_name]
        if len(inputs) != 1:
            raise ContractViolation(f"one {field_name} part is required")
        try:
            data = json.loads(inputs[0].data)
        except json.JSONDecodeError as exc:
            raise ContractViolation(f"{field_name} is not JSON: {exc}") from None
        unknown = {p.name for p in parts} - {field_name, "files"}
        if unknown:
            raise ContractViolation(f"unknown parts {sorted(unknown)}")
        if not isinstance(data, dict) or not str(data.get("body", "")).strip():
            raise HttpError(400, {"message": "body is required", "status": 400})
        if len(data["body"]) > MAX_BODY_CHARS:
            raise HttpError(400, {"message": f"body over {MAX_BODY_CHARS} characters"})
        return data, [p for p in parts if p.name == "files"]

    def _shop_message(self, thread: SimThread, body: str, files: list[Any]) -> SimMessage:
        entity_files = sum(
            len(m.attachments)
            for t in self.threads.values()
            if t.order_id and t.order_id == thread.order_id
            for m in t.messages
        )
        if entity_files + len(files) > MAX_ATTACHMENTS_PER_ENTITY:
            raise HttpError(
                400, {"message": "too many attachments for this order (50 at most)", "status": 400}
            )
        at = self.now()
        message = SimMessage(self._id(), body, at, "SHOP_USER", "Boutique")
        for part in files:
            file_id = self._id()
            self.files[file_id] = (part.filename, part.data)
            message.attachments.append((file_id, part.filename, len(part.data)))
        thread.messages.append(message)
        thread.date_updated = at
        thread.reply_needed_since = None
        return message

    def thread_json(
        self, thread: SimThread, with_messages: bool, last: int | None = MAX_MESSAGES_IN_LIST
    ) -> dict[str, Any]:
        participants: list[dict[str, str]] = [
            {"display_name": "Boutique", "id": str(self.shop_id), "type": "SHOP"}
        ]
        if "CUSTOMER" in thread.participants:
            participants.append(
                {"display_name": thread.customer_name, "id": thread.customer_id, "type": "CUSTOMER"}
            )
        if "OPERATOR" in thread.participants:  # the operator has no id (M10's schema)
            participants.append({"display_name": self.operator, "type": "OPERATOR"})
        entities = (
            [{"id": thread.order_id, "label": thread.order_id, "type": "MMP_ORDER"}]
            if thread.order_id
            else []
        )
        if "CUSTOMER" not in thread.participants:
            entities = [
                {"id": str(self.shop_id), "label": self.operator, "type": "SELLER_OPERATOR"}
            ]
        last_message = thread.messages[-1] if thread.messages else None
        data: dict[str, Any] = {
            "id": thread.id,
            "topic": {"type": "FREE_TEXT", "value": thread.topic},
            "date_created": iso(thread.date_created),
            "date_updated": iso(thread.date_updated),
            "authorized_participants": participants,
            "current_participants": participants,
            "entities": entities,
            "metadata": {
                "last_message_date": iso(
                    last_message.date_created if last_message else thread.date_created
                ),
                "last_sender": {
                    "display_name": last_message.sender_name if last_message else "",
                    "type": (last_message.sender_type if last_message else "SHOP_USER"),
                },
                "shop_reply_needed_since": (
                    iso(thread.reply_needed_since) if thread.reply_needed_since else None
                ),
                "total_count": len(thread.messages),
            },
        }
        if with_messages:
            shown = thread.messages if last is None else thread.messages[-last:]
            data["messages"] = [self._message(thread, m) for m in shown]
        return data

    def _message(self, thread: SimThread, message: SimMessage) -> dict[str, Any]:
        shop = {"display_name": "Boutique", "id": str(self.shop_id), "type": "SHOP"}
        others: list[dict[str, str]] = []
        if "CUSTOMER" in thread.participants:
            others.append(
                {"display_name": thread.customer_name, "id": thread.customer_id, "type": "CUSTOMER"}
            )
        if "OPERATOR" in thread.participants:
            others.append({"display_name": self.operator, "type": "OPERATOR"})
        return {
            "id": message.id,
            "body": message.body,
            "date_created": iso(message.date_created),
            "from": {"display_name": message.sender_name, "type": message.sender_type},
            "to": others if message.sender_type == "SHOP_USER" else [shop],
            "attachments": [{"id": i, "name": n, "size": s} for i, n, s in message.attachments],
        }


def _encode_token(date: str, thread_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([date, thread_id]).encode()).decode()


def _decode_token(token: str | None) -> tuple[str, str] | None:
    if not token:
        return None
    try:
        date, thread_id = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, TypeError):
        raise HttpError(400, {"message": "invalid page_token", "status": 400}) from None
    return str(date), str(thread_id)


class _Demo:
    """A Mirakl operator whose buyers write about their orders (for `comptoir demo`)."""

    def __init__(self, channel: Any, seed: int) -> None:
        self.simulator = MiraklSimulator(operator=channel.get_marketplace_display(), seed=seed)
        self.threads_by_order: dict[str, str] = {}

    def settings(self) -> dict[str, Any]:
        return {"base_url": self.simulator.url, "api_key": next(iter(self.simulator.api_keys))}

    def adopt(self, threads: list[Any]) -> None:
        sim = self.simulator
        for seeded in threads:
            if seeded.order_id and seeded.order_id not in sim.orders:
                sim.add_order(
                    seeded.order_id,
                    customer_id=seeded.customer_id,
                    customer_name=seeded.customer_name,
                )
            messages = [
                SimMessage(
                    m.external_id,
                    m.text,
                    m.sent_at,
                    "SHOP_USER" if m.outbound else "CUSTOMER_USER",
                    "Boutique" if m.outbound else seeded.customer_name,
                )
                for m in seeded.messages
            ]
            last_in = next((m for m in reversed(messages) if m.sender_type != "SHOP_USER"), None)
            owed = messages[-1].sender_type != "SHOP_USER"
            sim.threads[seeded.thread_id] = SimThread(
                id=seeded.thread_id,
                topic=seeded.subject or "Votre commande",
                customer_id=seeded.customer_id,
                customer_name=seeded.customer_name,
                order_id=seeded.order_id or None,
                date_created=messages[0].date_created,
                date_updated=messages[-1].date_created,
                reply_needed_since=last_in.date_created if owed and last_in else None,
                messages=messages,
            )
            if seeded.order_id:
                self.threads_by_order[seeded.order_id] = seeded.thread_id

    def buyer_writes(self, written: Any) -> None:
        sim = self.simulator
        if written.order_id not in sim.orders:
            sim.add_order(
                written.order_id,
                customer_id=written.customer_id,
                customer_name=written.customer_name,
            )
        thread_id, _ = sim.buyer_writes(
            written.text,
            thread_id=self.threads_by_order.get(written.order_id),
            order_id=written.order_id,
            customer_id=written.customer_id,
            customer_name=written.customer_name,
            topic=written.subject,
            attachments=[(name, data) for name, _, data in written.attachments],
        )
        self.threads_by_order[written.order_id] = thread_id


def demo(channel: Any, seed: int = 0) -> _Demo:
    return _Demo(channel, seed)
