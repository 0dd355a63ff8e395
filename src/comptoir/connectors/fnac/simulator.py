"""A local Fnac marketplace: the XML services the connector uses, with buyers to script.

Endpoints (each a POST of an XML document to `/api.php/<service>`, per Fnac's XSDs):
`auth`, `messages_query`, `messages_update` (reply, create, mark_as_read, archive...),
`incidents_query` and `orders_query`; attachments of buyer messages are served at
`GET /api.php/files/<id>`.

Every request is checked against its service's XSD (from `contract.specs_dir() / "fnac"`; by
hand, the root element and its header only, when the XSDs are absent): a request that breaks it
is answered 400 and kept in `violations`. Every answer is checked too; one that breaks the XSD is
kept in `answer_problems` (a simulator bug). A token Fnac does not know, or that expired, is
answered as the XSDs say: status FATAL and an `error` element.

State lives in memory and ids come from a seeded generator, so a run can be replayed.
"""

from __future__ import annotations

import random
import uuid
import xml.etree.ElementTree as ET
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from comptoir.connectors.fnac import dialect
from comptoir.connectors.fnac.dialect import q, sub, text
from comptoir.connectors.simulator import (
    ContractViolation,
    HttpError,
    Request,
    Response,
    Simulator,
)

PREFIX = "/api.php"
TOKEN_ERROR = "ERR_TOKEN"  # the code this simulator gives token errors
XML = "text/xml; charset=utf-8"


@dataclass
class SimFile:
    file_id: str
    name: str
    content_type: str
    data: bytes


@dataclass
class SimMessage:
    message_id: str
    referer_type: str  # ORDER or OFFER
    referer: str  # the order id or the offer id
    from_type: str  # CLIENT, SELLER, CALLCENTER
    from_name: str
    subject: str
    description: str
    created_at: datetime
    updated_at: datetime
    state: str = "UNREAD"
    archived: bool = False
    files: list[SimFile] = field(default_factory=list)
    to: str = ""  # for the seller's messages: CLIENT, CALLCENTER or ALL
    offer_title: str = ""


@dataclass
class SimOrderLine:
    detail_id: int
    product_name: str
    offer_seller_id: str
    price: Decimal
    quantity: int = 1
    shipping_price: Decimal = Decimal("3.99")
    tracking_number: str = ""


@dataclass
class SimOrder:
    order_id: str
    client_id: str
    firstname: str
    lastname: str
    email: str
    state: str
    created_at: datetime
    lines: list[SimOrderLine] = field(default_factory=list)


@dataclass
class SimIncident:
    incident_id: str
    order_id: str
    claim_type: int
    message: str
    opened_by: str
    created_at: datetime
    updated_at: datetime
    status: str = "OPENED"
    waiting: bool = True
    closed_status: int | None = None


BUYER_TEXTS = (
    "Bonjour, ma commande n'est toujours pas arrivée, pouvez-vous me donner le suivi ?",
    "Le produit reçu ne correspond pas à la description, comment faire un retour ?",
    "Bonjour, est-il possible d'avoir une facture au nom de ma société ?",
    "Le colis est arrivé abîmé, je vous joins une photo.",
    "Pouvez-vous me confirmer la date d'expédition ?",
)
FIRST_NAMES = ("Jeanne", "Louis", "Camille", "Hugo", "Léa", "Arthur", "Chloé", "Jules")
LAST_NAMES = ("Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand")
PRODUCTS = ("Casque audio", "Liseuse 6 pouces", "Enceinte Bluetooth", "Roman poche", "Vinyle")


class FnacSimulator(Simulator):
    """See the module docstring. Script it with `add_order`, `buyer_writes`, `open_incident`,
    and read what the seller did with `seller_messages()`."""

    name = "fnac"

    def __init__(
        self,
        *,
        seed: int = 0,
        partner_id: str | None = None,
        shop_id: str | None = None,
        key: str = "fnac-secret-key",
        token_ttl: timedelta = timedelta(hours=1),
    ) -> None:
        super().__init__(seed=seed)
        self.random = random.Random(seed)
        self.partner_id = partner_id or self.new_id()
        self.shop_id = shop_id or self.new_id()
        self.key = key
        self.token_ttl = token_ttl
        self.tokens: dict[str, datetime] = {}
        self.messages: list[SimMessage] = []
        self.orders: dict[str, SimOrder] = {}
        self.incidents: list[SimIncident] = []
        self.files: dict[str, SimFile] = {}
        self.answer_problems: list[str] = []
        # The latest valid requests, for tests to inspect (bounded: a demo runs for hours).
        self.received: deque[ET.Element] = deque(maxlen=10_000)
        # Checking big answers against the XSD costs far more than making them: a long run
        # may check one answer in N (requests are always all checked).
        self.check_answers_every = 1
        self._answers = 0
        self.refuse_tokens = False  # every token is refused, even a fresh one
        # Messages are this far apart, from 20 days back: date filters see distinct times.
        self.step = timedelta(minutes=10)
        self._clock = _now() - timedelta(days=20)
        self._shuffle = random.Random(seed + 1)  # page faults must not shift the ids drawn
        for service in dialect.SERVICES:
            if service == "incidents_update":
                continue  # Comptoir does not refund claims
            self.route("POST", f"{PREFIX}/{service}", self._service(service))
        self.route("GET", f"{PREFIX}/files/(?P<file_id>[^/]+)", self._file)

    # -- scripting ----------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self.url + PREFIX

    def new_id(self) -> str:
        return str(uuid.UUID(int=self.random.getrandbits(128), version=4))

    def now(self) -> datetime:
        """Distinct, increasing times in the past: messages sort the same every run."""
        with self.lock:
            step = self._clock + self.step
            self._clock = max(self._clock + timedelta(milliseconds=1), min(step, _now()))
            return self._clock

    def catch_up(self) -> None:
        """What buyers write from now on is dated now (the backlog stays in the past)."""
        with self.lock:
            self._clock = max(self._clock, _now() - timedelta(seconds=1))

    def add_order(
        self,
        *,
        order_id: str | None = None,
        state: str = "Shipped",
        firstname: str | None = None,
        lastname: str | None = None,
        lines: int = 1,
    ) -> str:
        with self.lock:
            order_id = order_id or "".join(
                self.random.choice("0123456789ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(13)
            )
            first = firstname or self.random.choice(FIRST_NAMES)
            last = lastname or self.random.choice(LAST_NAMES)
            order = SimOrder(
                order_id=order_id,
                client_id=self.new_id(),
                firstname=first,
                lastname=last,
                email=f"{first.lower()}.{last.lower()}@client.example",
                state=state,
                created_at=self.now() - timedelta(days=3),
            )
            for n in range(lines):
                order.lines.append(
                    SimOrderLine(
                        detail_id=n + 1,
                        product_name=self.random.choice(PRODUCTS),
                        offer_seller_id=f"SKU-{self.random.randint(1000, 9999)}",
                        price=Decimal(self.random.randint(500, 9900)) / 100,
                        tracking_number=f"6A{self.random.randint(10**9, 10**10 - 1)}"
                        if state in ("Shipped", "Received", "NotReceived")
                        else "",
                    )
                )
            self.orders[order_id] = order
            return order_id

    def buyer_writes(
        self,
        *,
        order_id: str | None = None,
        offer_id: str | None = None,
        text: str = "Bonjour, où en est ma commande ?",
        subject: str = "order_information",
        attachments: list[tuple[str, str, bytes]] | None = None,
        from_type: str = "CLIENT",
    ) -> str:
        """A buyer message on an order (created when not given) or on an offer; its id."""
        with self.lock:
            if offer_id is None and (order_id is None or order_id not in self.orders):
                order_id = self.add_order(order_id=order_id)
            when = self.now()
            if offer_id is not None:
                kind, referer, name = "OFFER", offer_id, "Visiteur"
            else:
                assert order_id is not None
                order = self.orders[order_id]
                kind, referer, name = "ORDER", order_id, f"{order.firstname} {order.lastname[0]}."
            files = []
            for filename, ctype, data in attachments or []:
                file = SimFile(self.new_id(), filename, ctype, data)
                self.files[file.file_id] = file
                files.append(file)
            message = SimMessage(
                message_id=self.new_id(),
                referer_type=kind,
                referer=referer,
                from_type=from_type,
                from_name=name if from_type == "CLIENT" else "Service client Fnac",
                subject=subject,
                description=text,
                created_at=when,
                updated_at=when,
                files=files,
                offer_title="Casque audio" if kind == "OFFER" else "",
            )
            self.messages.append(message)
            return message.message_id

    def populate(self, *, orders: int = 10, claims: int = 2) -> list[str]:
        """A plausible backlog for a demo: buyers writing on orders, a few claims; the ids of
        the messages."""
        ids = []
        for n in range(orders):
            order_id = self.add_order()
            ids.append(self.buyer_writes(order_id=order_id, text=BUYER_TEXTS[n % len(BUYER_TEXTS)]))
            if n < claims:
                self.open_incident(order_id, claim_type=1 if n % 2 == 0 else 13)
        return ids

    def open_incident(
        self,
        order_id: str,
        *,
        claim_type: int = 1,
        message: str = "Je n'ai pas reçu mon colis.",
        opened_by: str = "client",
    ) -> str:
        with self.lock:
            if order_id not in self.orders:
                self.add_order(order_id=order_id)
            when = self.now()
            incident = SimIncident(
                self.new_id(), order_id, claim_type, message, opened_by, when, when
            )
            self.incidents.append(incident)
            return incident.incident_id

    def close_incident(self, incident_id: str, *, closed_status: int = 1) -> None:
        with self.lock:
            for incident in self.incidents:
                if incident.incident_id == incident_id:
                    incident.status, incident.waiting = "CLOSED", False
                    incident.closed_status = closed_status
                    incident.updated_at = self.now()

    def seller_messages(self) -> list[SimMessage]:
        with self.lock:
            return [m for m in self.messages if m.from_type == "SELLER"]

    def message(self, message_id: str) -> SimMessage | None:
        with self.lock:
            return next((m for m in self.messages if m.message_id == message_id), None)

    def expire_tokens(self) -> None:
        with self.lock:
            self.tokens.clear()

    # -- serving ------------------------------------------------------------------------------

    def _service(self, service: str) -> Any:
        def handle(request: Request) -> Response:
            root = self._read(service, request)
            if service == "auth":
                answer = self._auth(root)
            else:
                error = self._check_header(root)
                if error is not None:
                    answer = self._error_answer(service, error)
                else:
                    with self.lock:
                        answer = getattr(self, f"_{service}")(root, request)
            return self._answer(answer)

        return handle

    def _read(self, service: str, request: Request) -> ET.Element:
        ctype = request.headers.get("content-type", "")
        if "xml" not in ctype:
            raise ContractViolation(f"{service}: Content-Type {ctype!r} is not XML")
        try:
            root = dialect.parse(request.body)
        except dialect.XmlError as exc:
            raise ContractViolation(f"{service}: {exc}") from None
        if root.tag != q(service):
            raise ContractViolation(f"{service}: the root element is {root.tag!r}")
        if dialect.specs_available():
            problems = dialect.problems(root)
        else:
            problems = [
                f"attribute {name!r} is required"
                for name in ("partner_id", "shop_id", "token")
                if service != "auth" and not root.get(name)
            ]
        if problems:
            raise ContractViolation(f"{service}: {'; '.join(problems)}")
        with self.lock:
            self.received.append(root)
        return root

    def _answer(self, root: ET.Element, status: int = 200) -> Response:
        with self.lock:
            self._answers += 1
            check = self._answers % self.check_answers_every == 0
        wrong = dialect.problems(root) if check else []
        if wrong:
            self.answer_problems.append(f"{dialect.local(root.tag)}: {'; '.join(wrong)}")
        return Response(status, dialect.serialize(root), content_type=XML)

    def _auth(self, root: ET.Element) -> ET.Element:
        answer = dialect.element("auth_response")
        if (text(root, "partner_id"), text(root, "shop_id"), text(root, "key")) != (
            self.partner_id,
            self.shop_id,
            self.key,
        ):
            answer.set("status", "FATAL")
            sub(
                answer,
                "error",
                "Authentication failed: unknown partner, shop or key",
                severity="FATAL",
                code="ERR_AUTH",
            )
            return answer
        token = self.new_id()
        validity = _now() + self.token_ttl
        self.tokens[token] = validity
        answer.set("status", "OK")
        sub(answer, "token", token)
        sub(answer, "validity", dialect.xs_datetime(validity))
        sub(answer, "version", "2.6.0")
        return answer

    def _check_header(self, root: ET.Element) -> str | None:
        if root.get("partner_id") != self.partner_id or root.get("shop_id") != self.shop_id:
            return "Unknown partner or shop"
        token = root.get("token", "")
        with self.lock:
            expires = self.tokens.get(token)
        if self.refuse_tokens or expires is None:
            return "Invalid token: authenticate again"
        if expires <= _now():
            return "Token expired: authenticate again"
        return None

    def _error_answer(self, service: str, words: str) -> ET.Element:
        answer = dialect.element(f"{service}_response", {"status": "FATAL"})
        if service == "messages_query":
            # The XSD requires the counters before any error.
            sub(answer, "messages_unread_result", "0")
            sub(answer, "messages_read_result", "0")
        sub(answer, "error", words, severity="FATAL", code=TOKEN_ERROR)
        return answer

    def _file(self, request: Request) -> Response:
        file = self.files.get(request.params["file_id"])
        if file is None:
            raise HttpError(404, "no such file")
        return Response(200, file.data, content_type=file.content_type)

    # -- services -----------------------------------------------------------------------------

    def _paged[T](
        self, root: ET.Element, request: Request, items: list[T]
    ) -> tuple[list[T], int, int]:
        """The page asked for, its number and the page count; page faults applied."""
        size = int(root.get("results_count") or 100)
        page = max(1, int(text(root, "paging") or 1))
        total = max(1, -(-len(items) // size))
        chosen = items[(page - 1) * size : page * size]
        fault = self.page_fault(request)
        if fault == "duplicate_page" and page > 1:
            # Items of the previous page come again, as when something moved during paging.
            chosen = items[(page - 1) * size - 3 : (page - 1) * size] + chosen
        elif fault == "reorder_page":
            chosen = list(chosen)
            self._shuffle.shuffle(chosen)
        return chosen, page, total

    def _messages_query(self, root: ET.Element, request: Request) -> ET.Element:
        found = list(self.messages)
        for child in root:
            name, value = dialect.local(child.tag), (child.text or "").strip()
            if name == "date":
                attr = "updated_at" if child.get("type") == "UpdatedAt" else "created_at"
                low = dialect.parse_datetime(text(child, "min"))
                high = dialect.parse_datetime(text(child, "max"))
                found = [
                    m
                    for m in found
                    if (low is None or getattr(m, attr) >= low)
                    and (high is None or getattr(m, attr) <= high)
                ]
            elif name == "message_type":
                found = [m for m in found if m.referer_type == value]
            elif name == "message_state":
                found = [m for m in found if m.state == value]
            elif name == "message_archived":
                found = [m for m in found if m.archived == (value == "TRUE")]
            elif name == "message_id":
                found = [m for m in found if m.message_id == value]
            elif name == "order_fnac_id":
                found = [m for m in found if m.referer_type == "ORDER" and m.referer == value]
            elif name == "offer_fnac_id":
                found = [m for m in found if m.referer_type == "OFFER" and m.referer == value]
            elif name == "message_from_types":
                kinds = {(t.text or "").strip() for t in child}
                found = [m for m in found if m.from_type in kinds]
            elif name == "sort_by":
                attr = "updated_at" if value == "UPDATED_AT" else "created_at"
                found.sort(key=lambda m: getattr(m, attr), reverse=child.get("type") == "DESC")
        page_items, page, total = self._paged(root, request, found)
        answer = dialect.element("messages_query_response", {"status": "OK"})
        unread = sum(1 for m in self.messages if m.state == "UNREAD")
        sub(answer, "messages_unread_result", str(unread))
        sub(answer, "messages_read_result", str(len(self.messages) - unread))
        sub(answer, "page", str(page))
        sub(answer, "total_paging", str(total))
        sub(answer, "nb_total_result", str(len(found)))
        for m in page_items:
            item = sub(answer, "message", state=m.state, archived="TRUE" if m.archived else "FALSE")
            sub(item, "message_id", m.message_id)
            sub(item, "message_referer", m.referer, type=m.referer_type)
            sub(item, "message_from", m.from_name, type=m.from_type)
            if m.offer_title:
                sub(item, "message_offer_title", m.offer_title)
            sub(item, "message_subject", m.subject)
            sub(item, "message_description", m.description)
            sub(item, "created_at", dialect.xs_datetime(m.created_at))
            sub(item, "updated_at", dialect.xs_datetime(m.updated_at))
            for file in m.files:
                node = sub(item, "message_file")
                sub(node, "name", file.name)
                sub(node, "url", f"{self.base_url}/files/{file.file_id}")
                sub(node, "filetype", file.content_type)
        return answer

    def _messages_update(self, root: ET.Element, request: Request) -> ET.Element:
        answer = dialect.element("messages_update_response", {"status": "OK"})
        for node in root.findall(q("message")):
            action, target_id = node.get("action", ""), node.get("id", "")
            result = sub(answer, "message", status="OK")
            error = self._update(action, target_id, node, result)
            if error:
                result.set("status", "ERROR")
                result.set("id", target_id)
                sub(result, "error", error, severity="ERROR", code="ERR_MESSAGE")
                answer.set("status", "WARNING")
        return answer

    def _update(self, action: str, target_id: str, node: ET.Element, result: ET.Element) -> str:
        if action in ("reply", "create"):
            # Fnac dates a seller's message when it stores it, not on the backlog's clock.
            self.catch_up()
        now = self.now()
        if action in ("reply", "create"):
            description = text(node, "message_description")
            if not description:
                return "message_description is required to reply"
            if action == "reply":
                target = next((m for m in self.messages if m.message_id == target_id), None)
                if target is None:
                    return f"unknown message {target_id}"
                kind, referer = target.referer_type, target.referer
                target.state, target.updated_at = "READ", now
            else:
                if target_id not in self.orders or text(node, "message_type") != "ORDER":
                    return f"unknown order {target_id}"
                kind, referer = "ORDER", target_id
            message = SimMessage(
                message_id=self.new_id(),
                referer_type=kind,
                referer=referer,
                from_type="SELLER",
                from_name="Maison Lumière",
                subject=text(node, "message_subject") or "other_question",
                description=description,
                created_at=now,
                updated_at=now,
                state="READ",
                to=text(node, "message_to") or "CLIENT",
            )
            self.messages.append(message)
            result.set("id", message.message_id)
            return ""
        target = next((m for m in self.messages if m.message_id == target_id), None)
        if target is None:
            return f"unknown message {target_id}"
        result.set("id", target_id)
        if action in ("mark_as_read", "mark_as_read_and_archive"):
            target.state = "READ"
        if action == "mark_as_unread":
            target.state = "UNREAD"
        if action in ("archive", "mark_as_read_and_archive"):
            target.archived = True
        if action == "unarchive":
            target.archived = False
        target.updated_at = now
        return ""

    def _incidents_query(self, root: ET.Element, request: Request) -> ET.Element:
        found = list(self.incidents)
        for child in root:
            name, value = dialect.local(child.tag), (child.text or "").strip()
            if name == "date":
                attr = {"CreatedAt": "created_at", "UpdatedAt": "updated_at"}.get(
                    child.get("type", ""), "updated_at"
                )
                low = dialect.parse_datetime(text(child, "min"))
                high = dialect.parse_datetime(text(child, "max"))
                found = [
                    i
                    for i in found
                    if (low is None or getattr(i, attr) >= low)
                    and (high is None or getattr(i, attr) <= high)
                ]
            elif name == "status":
                found = [i for i in found if i.status == value]
            elif name == "order":
                found = [i for i in found if i.order_id == value]
            elif name == "sort_by":
                found.sort(key=lambda i: i.updated_at, reverse=value == "DESC")
        page_items, page, total = self._paged(root, request, found)
        answer = dialect.element("incidents_query_response", {"status": "OK"})
        sub(answer, "page", str(page))
        sub(answer, "total_paging", str(total))
        sub(answer, "nb_total_per_page", root.get("results_count") or "100")
        sub(answer, "nb_total_result", str(len(found)))
        for i in page_items:
            node = sub(answer, "incident", id=i.incident_id)
            header = sub(node, "header")
            sub(header, "status", i.status)
            sub(header, "waiting_for_seller_answer", "TRUE" if i.waiting else "FALSE")
            sub(header, "message", i.message)
            sub(header, "opened_by", i.opened_by)
            if i.closed_status is not None:
                sub(header, "closed_by", "call-center")
                sub(header, "closed_status", str(i.closed_status))
            sub(header, "created_at", dialect.xs_datetime(i.created_at))
            sub(header, "updated_at", dialect.xs_datetime(i.updated_at))
            if i.closed_status is not None:
                sub(header, "closed_at", dialect.xs_datetime(i.updated_at))
            sub(header, "order_id", i.order_id)
            details = sub(sub(node, "order_details_incident"), "order_detail_incident")
            sub(details, "order_detail_id", "1")
            sub(details, "type", str(i.claim_type))
            sub(details, "status", i.status)
            sub(details, "created_at", dialect.xs_datetime(i.created_at))
            sub(details, "updated_at", dialect.xs_datetime(i.updated_at))
        return answer

    def _orders_query(self, root: ET.Element, request: Request) -> ET.Element:
        wanted: set[str] | None = None
        for child in root:
            name = dialect.local(child.tag)
            if name == "order_fnac_id":
                wanted = (wanted or set()) | {(child.text or "").strip()}
            elif name == "orders_fnac_id":
                wanted = (wanted or set()) | {(c.text or "").strip() for c in child}
        found = [o for o in self.orders.values() if wanted is None or o.order_id in wanted]
        found.sort(key=lambda o: o.created_at)
        page_items, page, total = self._paged(root, request, found)
        answer = dialect.element("orders_query_response", {"status": "OK"})
        sub(answer, "page", str(page))
        sub(answer, "total_paging", str(total))
        sub(answer, "nb_total_per_page", root.get("results_count") or "100")
        sub(answer, "nb_total_result", str(len(found)))
        for o in page_items:
            node = sub(answer, "order")
            sub(node, "shop_id", self.shop_id)
            sub(node, "client_id", o.client_id)
            sub(node, "client_firstname", o.firstname)
            sub(node, "client_lastname", o.lastname)
            sub(node, "client_email", o.email)
            sub(node, "order_id", o.order_id)
            sub(node, "client_culture", "fr-FR")
            sub(node, "state", o.state)
            sub(node, "created_at", dialect.xs_datetime(o.created_at))
            sub(node, "nb_messages", str(sum(1 for m in self.messages if m.referer == o.order_id)))
            for line in o.lines:
                detail = sub(node, "order_detail")
                sub(detail, "order_detail_id", str(line.detail_id))
                sub(detail, "state", o.state if o.state != "Created" else "ToAccept")
                sub(detail, "product_fnac_id", f"P{line.detail_id:06d}")
                sub(detail, "product_name", line.product_name)
                sub(detail, "offer_fnac_id", f"{o.order_id}-{line.detail_id}")
                sub(detail, "offer_seller_id", line.offer_seller_id)
                sub(detail, "price", str(line.price))
                sub(detail, "fees", "1.50")
                sub(detail, "product_state", "11")
                sub(detail, "quantity", str(line.quantity))
                if line.tracking_number:
                    sub(detail, "tracking_number", line.tracking_number)
                sub(detail, "shipping_price", str(line.shipping_price))
        return answer


def _now() -> datetime:
    return datetime.now(UTC)


class _Demo:
    """A Fnac shop whose buyers write about their orders (for `comptoir demo`)."""

    def __init__(self, channel: Any, seed: int) -> None:
        self.simulator = FnacSimulator(seed=seed)
        self.orders: dict[str, str] = {}  # the demo's order -> Fnac's order id

    def settings(self) -> dict[str, Any]:
        sim = self.simulator
        return {
            "partner_id": sim.partner_id,
            "shop_id": sim.shop_id,
            "key": sim.key,
            "base_url": sim.base_url,
        }

    def adopt(self, threads: list[Any]) -> None:
        sim = self.simulator
        for seeded in threads:
            if not seeded.order_id:
                continue  # an offer question: nothing the demo seeds
            if seeded.order_id not in sim.orders:
                sim.add_order(
                    order_id=seeded.order_id,
                    firstname=seeded.first_name,
                    lastname=seeded.last_name,
                )
            short = f"{seeded.first_name} {seeded.last_name[:1]}."
            for m in seeded.messages:
                sim.messages.append(
                    SimMessage(
                        message_id=m.external_id,
                        referer_type="ORDER",
                        referer=seeded.order_id,
                        from_type="SELLER" if m.outbound else "CLIENT",
                        from_name="Maison Lumière" if m.outbound else short,
                        subject="order_information",
                        description=m.text,
                        created_at=m.sent_at,
                        updated_at=m.sent_at,
                        state="READ",
                        to="CLIENT" if m.outbound else "",
                    )
                )
        # The simulator's own messages start from 20 days back (tests want distinct past
        # times); the demo's buyers write now, after the history it just adopted.
        sim.catch_up()

    def buyer_writes(self, written: Any) -> None:
        sim = self.simulator
        if written.order_id not in self.orders:
            first, _, last = written.customer_name.partition(" ")
            self.orders[written.order_id] = sim.add_order(firstname=first, lastname=last or first)
        sim.buyer_writes(order_id=self.orders[written.order_id], text=written.text)


def demo(channel: Any, seed: int = 0) -> _Demo:
    return _Demo(channel, seed)
