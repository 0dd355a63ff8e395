"""A local Rakuten France (ex-PriceMinister) seller web service, for tests and the demo.

It follows the public `sales_ws` contract: every call is `GET /sales_ws?action=...` with
`login`, `pwd` (the seller's web-services token) and `version` in the query string, and every
answer is XML, errors included (`<errorresponse><error><type/><code/><message/>...`).
- `getitemtodolist` (2011-09-01): the items needing the seller, each with its `causes`
  (UNREAD_MESSAGE_FROM_BUYER, UNREAD_MESSAGE_FROM_CUSTOMER_SERVICE, CLAIM). Not paginated.
- `getiteminfos` (2011-06-01, `itemid`): the item's state, claim, messages with the buyer
  (newest first, no message id) and mails with Rakuten's customer service (`mailid`); reading
  it marks them read, which takes the item off the todo list.
- `contactuseraboutitem` (2011-02-02, `itemid`, `content`): a message to the buyer, answered
  `<status>SENT</status>` and nothing else (no id, no idempotency).
- `getcurrentsales` (2016-03-16, `nexttoken`, `purchasedate`, `ispendingpreorder`): the sales
  in progress with their items, paginated by `nexttoken`.

Faults and `calls` see each call as `/sales_ws/<action>`, so that a test can aim a fault at one
action (`sim.faults.add("lose_response", path="contactuseraboutitem")`).

There is no published schema to load, so parameters are checked by hand: a missing, unknown
or malformed parameter is a contract violation. There is no attachment support in the API.
"""

from __future__ import annotations

import itertools
import random
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from comptoir.connectors.rakuten.common import (
    MAX_CONTENT_CHARS,
    PARIS,
    VERSIONS,
    format_date,
    message_id,
)
from comptoir.connectors.rakuten.common import claim_id as common_claim_id
from comptoir.connectors.simulator import (
    ContractViolation,
    Faults,
    HttpError,
    Request,
    Response,
    Simulator,
)

NAMESPACE = "http://pmcdn.priceminister.com/res/schema/{}"

# Versions the service still accepts per action (the connector uses the ones in VERSIONS).
ACCEPTED_VERSIONS: dict[str, frozenset[str]] = {
    "getitemtodolist": frozenset({"2011-09-01"}),
    "getiteminfos": frozenset({"2011-02-02", "2011-06-01", "2017-08-07"}),
    "contactuseraboutitem": frozenset({"2011-02-02"}),
    "getcurrentsales": frozenset({"2014-02-11", "2016-03-16"}),
}
COMMON_PARAMS = frozenset({"action", "login", "pwd", "version"})
ACTION_PARAMS: dict[str, frozenset[str]] = {
    "getitemtodolist": frozenset(),
    "getiteminfos": frozenset({"itemid"}),
    "contactuseraboutitem": frozenset({"itemid", "content"}),
    "getcurrentsales": frozenset({"nexttoken", "purchasedate", "ispendingpreorder"}),
}
REQUIRED_PARAMS: dict[str, frozenset[str]] = {
    "getiteminfos": frozenset({"itemid"}),
    "contactuseraboutitem": frozenset({"itemid", "content"}),
}
assert set(ACCEPTED_VERSIONS) == set(ACTION_PARAMS) == set(VERSIONS)


@dataclass
class SimMessage:
    sender: str
    recipient: str
    senddate: datetime
    content: str
    status: str  # UNREAD / READ for the buyer's, SENT for the seller's


@dataclass
class SimMail:
    """A mail between the seller and Rakuten's customer service about an item."""

    mailid: str
    sender: str
    recipient: str
    senddate: datetime
    object: str
    content: str
    status: str = "UNREAD"


@dataclass
class SimClaim:
    creationdate: datetime
    type: str
    comment: str
    state: str = "NEW"


@dataclass
class SimItem:
    itemid: str
    purchaseid: str
    headline: str
    price: Decimal
    sku: str
    status: str = "ACCEPTED"
    messages: list[SimMessage] = field(default_factory=list)
    mails: list[SimMail] = field(default_factory=list)
    claim: SimClaim | None = None


@dataclass
class SimSale:
    purchaseid: str
    purchasedate: datetime
    buyer: str
    buyer_email: str
    shippingtype: str
    items: list[SimItem] = field(default_factory=list)


class RakutenSimulator(Simulator):
    name = "rakuten"

    def __init__(
        self,
        *,
        seed: int = 0,
        login: str = "maison-lumiere",
        token: str = "rk-token-0001",
        seller_id: str = "18352654",
        page_size: int = 10,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__(seed=seed)
        self.seed = seed
        self.login = login
        self.token = token
        self.seller_id = seller_id
        self.page_size = page_size
        self.clock = clock or (lambda: datetime.now(UTC))
        self.random = random.Random(seed)
        self.sales: dict[str, SimSale] = {}
        self.items: dict[str, SimItem] = {}
        # Calls left this hour (None: no cap). The service does not publish its quota; past it
        # every call is refused with InvalidUserRights "Quota exceeded." until the hour turns.
        self.quota: int | None = None
        self._ids = itertools.count(1)
        self.route("GET", r"/sales_ws/(?P<action>[a-z]*)", self._sales_ws)

    def reset(self) -> None:
        """Back to an empty marketplace (no sales, faults, calls or violations), as if new:
        one running server can serve many tests."""
        with self.lock:
            self.sales.clear()
            self.items.clear()
            self._ids = itertools.count(1)
            self.random = random.Random(self.seed)
            self.faults = Faults(self.seed)
            self.violations.clear()
            self.calls.clear()
            self.quota = None

    # -- the scriptable marketplace -----------------------------------------------------------

    def add_sale(
        self,
        *,
        buyer: str = "",
        items: int = 1,
        purchaseid: str = "",
        status: str = "ACCEPTED",
        shippingtype: str = "Colissimo",
        purchasedate: datetime | None = None,
    ) -> SimSale:
        with self.lock:
            number = next(self._ids)
            purchaseid = purchaseid or str(900_000_000 + number)
            buyer = buyer or f"acheteur{number}"
            sale = SimSale(
                purchaseid=purchaseid,
                purchasedate=purchasedate or self.clock() - timedelta(days=2),
                buyer=buyer,
                buyer_email=f"{buyer}@relay.example",
                shippingtype=shippingtype,
            )
            for n in range(items):
                itemid = str(1_500_000_000 + number * 10 + n)
                price = Decimal(self.random.randrange(500, 20000)) / 100
                item = SimItem(
                    itemid=itemid,
                    purchaseid=purchaseid,
                    headline=f"Lampe {number}-{n}",
                    price=price,
                    sku=f"SKU-{number}-{n}",
                    status=status,
                )
                sale.items.append(item)
                self.items[itemid] = item
            self.sales[purchaseid] = sale
            return sale

    def buyer_writes(
        self, *, item_id: str = "", order_id: str = "", text: str, buyer: str = ""
    ) -> str:
        """The buyer writes about an item (of `order_id`'s first item, or a new sale's):
        returns the message's id as the connector will derive it."""
        with self.lock:
            if not item_id:
                sale = self.sales.get(order_id) if order_id else None
                if sale is None:
                    sale = self.add_sale(buyer=buyer, purchaseid=order_id)
                item_id = sale.items[0].itemid
            item = self.items[item_id]
            sender = buyer or self.sales[item.purchaseid].buyer
            item.messages.append(SimMessage(sender, self.login, self._now(), text, status="UNREAD"))
            return self._id_of(item, len(item.messages) - 1)

    def populate(self, *, sales: int = 12, messages: int = 20) -> list[str]:
        """A plausible shop for the demo, the same for the same seed: sales, buyers' questions
        (some items asked about twice) and a claim. Returns the new message ids."""
        questions = [
            "Bonjour, je n'ai toujours pas reçu ma commande. Avez-vous un numéro de suivi ?",
            "L'article est arrivé abîmé, le carton était écrasé. Que pouvez-vous faire ?",
            "Pouvez-vous m'envoyer la facture de ma commande, s'il vous plaît ?",
            "Est-il possible d'annuler si le colis n'est pas encore parti ?",
            "La lampe fonctionne-t-elle avec une ampoule LED E27 ?",
        ]
        created = [self.add_sale(items=self.random.choice([1, 1, 2])) for _ in range(sales)]
        items = [item.itemid for sale in created for item in sale.items]
        ids = [
            self.buyer_writes(item_id=self.random.choice(items), text=questions[n % len(questions)])
            for n in range(messages)
        ]
        if items:
            self.open_claim(items[0], comment="Article abîmé, pouvez-vous m'en renvoyer un ?")
        return ids

    def service_writes(self, item_id: str, *, text: str, object: str = "") -> str:
        """Rakuten's customer service mails the seller about an item; returns the message id."""
        with self.lock:
            item = self.items[item_id]
            mailid = str(2_900_000_000 + next(self._ids))
            subject = object or f"Concernant votre vente ({item.purchaseid}/{item.itemid})"
            item.mails.append(
                SimMail(mailid, "Rakuten France", self.login, self._now(), subject, text)
            )
            return f"{item.itemid}-mail-{mailid}"

    def open_claim(self, item_id: str, *, type: str = "DAMAGED", comment: str) -> None:
        with self.lock:
            item = self.items[item_id]
            item.claim = SimClaim(self._now(), type, comment)
            item.status = "ON_HOLD"

    def seller_messages(self) -> list[tuple[str, str]]:
        """What the seller sent: (item id, text), oldest first per item."""
        with self.lock:
            return [
                (item.itemid, m.content)
                for item in self.items.values()
                for m in item.messages
                if m.sender == self.login
            ]

    def message_ids(self) -> list[str]:
        """Every message's id, as the connector derives them (claims included)."""
        with self.lock:
            ids: list[str] = []
            for item in self.items.values():
                ids.extend(self._id_of(item, n) for n in range(len(item.messages)))
                ids.extend(f"{item.itemid}-mail-{mail.mailid}" for mail in item.mails)
                if item.claim is not None:
                    ids.append(claim_id(item.itemid, item.claim))
            return ids

    def _now(self) -> datetime:
        # The marketplace keeps minutes only: what it shows is what the connector hashes.
        return self.clock().astimezone(PARIS).replace(second=0, microsecond=0)

    def _id_of(self, item: SimItem, index: int) -> str:
        m = item.messages[index]
        same = [
            other
            for other in item.messages[:index]
            if (other.sender, other.senddate, other.content.strip())
            == (m.sender, m.senddate, m.content.strip())
        ]
        return message_id(item.itemid, m.sender, format_date(m.senddate), m.content, len(same))

    # -- the web service ----------------------------------------------------------------------

    def dispatch(self, request: Request) -> Response | None:
        # Every call shares one path: faults and call counts name the action instead
        # ("/sales_ws/getiteminfos"), so that a test can aim a fault at one of them.
        if request.path == "/sales_ws":
            request.path = f"/sales_ws/{request.arg('action') or ''}"
        else:
            request.path = f"/unknown{request.path}"
        return super().dispatch(request)

    def authenticate(self, request: Request) -> None:
        action = request.arg("action") or ""
        if action not in ACTION_PARAMS:
            raise ContractViolation(f"unknown action {action!r}")
        allowed = COMMON_PARAMS | ACTION_PARAMS[action]
        for name, values in request.query.items():
            if name not in allowed:
                raise ContractViolation(f"{action}: unknown parameter {name!r}")
            if len(values) > 1:
                raise ContractViolation(f"{action}: parameter {name!r} given twice")
        for name in COMMON_PARAMS | REQUIRED_PARAMS.get(action, frozenset()):
            if not (request.arg(name) or "").strip():
                raise ContractViolation(f"{action}: missing parameter {name!r}")
        version = request.arg("version") or ""
        if version not in ACCEPTED_VERSIONS[action]:
            raise ContractViolation(f"{action}: unsupported version {version!r}")
        if request.arg("login") != self.login or request.arg("pwd") != self.token:
            raise service_error(401, "InvalidUserCredentials", "Invalid login or token.")
        with self.lock:
            if self.quota is not None:
                if self.quota <= 0:
                    raise service_error(
                        403,
                        "InvalidUserRights",
                        "Quota exceeded.",
                        "You have exceeded the maximum number of requests per hour.",
                    )
                self.quota -= 1

    def _sales_ws(self, request: Request) -> Response:
        action = request.arg("action") or ""
        handler = {
            "getitemtodolist": self._todo_list,
            "getiteminfos": self._item_infos,
            "contactuseraboutitem": self._contact_user,
            "getcurrentsales": self._current_sales,
        }[action]
        with self.lock:
            root = handler(request)
        return xml_response(root)

    def _result(self, action: str, request: Request) -> tuple[ET.Element, ET.Element]:
        root = ET.Element(f"{action}result", {"xmlns": NAMESPACE.format(action)})
        echo = ET.SubElement(root, "request")
        _text(echo, "version", request.arg("version") or "")
        _text(echo, "user", self.login)
        for name in sorted(ACTION_PARAMS[action]):
            if request.arg(name) is not None:
                _text(echo, name, request.arg(name) or "")
        response = ET.SubElement(root, "response")
        _text(response, "lastversion", max(ACCEPTED_VERSIONS[action]))
        _text(response, "sellerid", self.seller_id)
        return root, response

    def _todo_list(self, request: Request) -> ET.Element:
        root, response = self._result("getitemtodolist", request)
        entries = [(item, self._causes(item)) for item in self.items.values()]
        entries = [(item, causes) for item, causes in entries if causes]
        fault = self.page_fault(request)
        if fault == "reorder_page":
            self.faults.random.shuffle(entries)
        elif fault == "duplicate_page" and entries:
            entries += entries[: max(1, len(entries) // 3)]
        items = ET.SubElement(response, "items")
        for item, causes in entries:
            node = ET.SubElement(items, "item")
            _text(node, "itemid", item.itemid)
            causes_node = ET.SubElement(node, "causes")
            for cause in causes:
                _text(causes_node, "cause", cause)
        return root

    def _causes(self, item: SimItem) -> list[str]:
        causes = []
        if item.claim is not None and item.claim.state == "NEW":
            causes.append("CLAIM")
        if any(m.status == "UNREAD" for m in item.mails):
            causes.append("UNREAD_MESSAGE_FROM_CUSTOMER_SERVICE")
        if any(m.status == "UNREAD" for m in item.messages):
            causes.append("UNREAD_MESSAGE_FROM_BUYER")
        return causes

    def _item(self, request: Request) -> SimItem:
        itemid = (request.arg("itemid") or "").strip()
        if not itemid.isdigit():
            raise ContractViolation(f"itemid must be a number, got {itemid!r}")
        item = self.items.get(itemid)
        if item is None:
            raise service_error(404, "InvalidItemId", f"Unknown item {itemid}.")
        return item

    def _item_infos(self, request: Request) -> ET.Element:
        item = self._item(request)
        sale = self.sales[item.purchaseid]
        root, response = self._result("getiteminfos", request)
        node = ET.SubElement(response, "item")
        _text(node, "itemid", item.itemid)
        _text(node, "date", format_date(sale.purchasedate))
        _text(node, "itemstatus", item.status)
        _text(node, "itemstate", "CLAIMED_AMICABLE" if item.claim else item.status)
        _text(node, "paymentstatus", "Forthcoming")
        if item.claim is not None:
            claim = ET.SubElement(node, "claim")
            _text(claim, "creationdate", format_date(item.claim.creationdate))
            _text(claim, "type", item.claim.type)
            _text(claim, "state", item.claim.state)
            _text(claim, "amicable", "Y")
            _text(claim, "claimcomment", item.claim.comment)
        actions = ET.SubElement(node, "availableactions")
        action = ET.SubElement(actions, "action")
        _text(action, "title", f"Contacter {sale.buyer}")
        _text(action, "actioncode", "contactuseraboutitem")
        for m in reversed(item.messages):  # newest first, as the service lists them
            message = ET.SubElement(node, "message")
            _text(message, "sender", m.sender)
            _text(message, "recipient", m.recipient)
            _text(message, "senddate", format_date(m.senddate))
            _text(message, "content", m.content)
            _text(message, "status", m.status)
        for mail in reversed(item.mails):
            node_mail = ET.SubElement(node, "mail")
            _text(node_mail, "mailid", mail.mailid)
            _text(node_mail, "senddate", format_date(mail.senddate))
            _text(node_mail, "sender", mail.sender)
            _text(node_mail, "recipient", mail.recipient)
            _text(node_mail, "object", mail.object)
            _text(node_mail, "content", mail.content)
            _text(node_mail, "status", mail.status)
        # Reading the item is what marks its messages read (the service warns about it).
        for m in item.messages:
            if m.status == "UNREAD":
                m.status = "READ"
        for mail in item.mails:
            if mail.status == "UNREAD":
                mail.status = "READ"
        return root

    def _contact_user(self, request: Request) -> ET.Element:
        item = self._item(request)
        content = request.arg("content") or ""
        if len(content) > MAX_CONTENT_CHARS:
            raise ContractViolation(f"content is {len(content)} characters, over the limit")
        sale = self.sales[item.purchaseid]
        item.messages.append(SimMessage(self.login, sale.buyer, self._now(), content, "SENT"))
        if item.claim is not None:
            item.claim.state = "ANSWERED"
        root, response = self._result("contactuseraboutitem", request)
        _text(response, "status", "SENT")
        return root

    def _current_sales(self, request: Request) -> ET.Element:
        token = request.arg("nexttoken") or ""
        if token and not re.fullmatch(r"p\d+", token):
            raise ContractViolation(f"nexttoken {token!r} was not given by the service")
        since = request.arg("purchasedate") or ""
        if since and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", since):
            raise ContractViolation(f"purchasedate must be yyyy-mm-dd, got {since!r}")
        if (request.arg("ispendingpreorder") or "") not in {"", "y"}:
            raise ContractViolation("ispendingpreorder must be 'y' or empty")
        sales = sorted(self.sales.values(), key=lambda s: (s.purchasedate, s.purchaseid))
        if since:
            start = datetime.strptime(since, "%Y-%m-%d").replace(tzinfo=PARIS)
            sales = [s for s in sales if s.purchasedate >= start]
        offset = int(token[1:]) if token else 0
        page = sales[offset : offset + self.page_size]
        fault = self.page_fault(request)
        if fault == "reorder_page":
            self.faults.random.shuffle(page)
        elif fault == "duplicate_page" and offset:
            page = sales[max(0, offset - 2) : offset] + page
        following = f"p{offset + self.page_size}" if offset + self.page_size < len(sales) else ""
        root, response = self._result("getcurrentsales", request)
        _text(response, "nexttoken", following)
        node = ET.SubElement(response, "sales")
        for sale in page:
            sale_node = ET.SubElement(node, "sale")
            _text(sale_node, "purchaseid", sale.purchaseid)
            _text(sale_node, "purchasedate", format_date(sale.purchasedate))
            delivery = ET.SubElement(sale_node, "deliveryinformation")
            _text(delivery, "shippingtype", sale.shippingtype)
            _text(delivery, "purchasebuyerlogin", sale.buyer)
            _text(delivery, "purchasebuyeremail", sale.buyer_email)
            items = ET.SubElement(sale_node, "items")
            for item in sale.items:
                item_node = ET.SubElement(items, "item")
                _text(item_node, "sku", item.sku)
                _text(item_node, "itemid", item.itemid)
                _text(item_node, "headline", item.headline)
                _text(item_node, "itemstatus", item.status)
                price = ET.SubElement(item_node, "price")
                _text(price, "amount", str(item.price))
                _text(price, "currency", "EUR")
                _text(item_node, "paymentstatus", "INCOMING")
        return root


def claim_id(item_id: str, claim: SimClaim) -> str:
    return common_claim_id(item_id, format_date(claim.creationdate), claim.comment)


def service_error(status: int, code: str, message: str, detail: str = "") -> HttpError:
    error = HttpError(status, error_xml("Sender", code, message, detail))
    error.response.content_type = "text/xml; charset=UTF-8"
    return error


def _text(parent: ET.Element, tag: str, value: str) -> ET.Element:
    node = ET.SubElement(parent, tag)
    node.text = value
    return node


def xml_response(root: ET.Element, status: int = 200) -> Response:
    body = b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8")
    return Response(status, body, content_type="text/xml; charset=UTF-8")


def error_xml(kind: str, code: str, message: str, detail: str = "") -> bytes:
    root = ET.Element("errorresponse", {"xmlns": NAMESPACE.format("error")})
    error = ET.SubElement(root, "error")
    _text(error, "type", kind)
    _text(error, "code", code)
    _text(error, "message", message)
    if detail:
        _text(ET.SubElement(error, "details"), "detail", detail)
    return ET.tostring(root, encoding="utf-8")


class _Demo:
    """A Rakuten France shop whose buyers write about their purchases (for `comptoir demo`)."""

    def __init__(self, channel: Any, seed: int) -> None:
        self.simulator = RakutenSimulator(seed=seed)
        self.sales: dict[str, str] = {}  # the demo's order -> Rakuten's purchase id

    def settings(self) -> dict[str, Any]:
        sim = self.simulator
        return {"login": sim.login, "token": sim.token, "base_url": sim.url}

    def adopt(self, threads: list[Any]) -> None:
        """The seeded conversations' items (a Rakuten thread is an item of a sale), without
        their messages: Rakuten's message ids are derived from their content, and the demo's
        history was not written through this simulator."""
        sim = self.simulator
        for seeded in threads:
            if not seeded.thread_id.isdigit() or seeded.thread_id in sim.items:
                continue
            purchaseid = seeded.order_id if seeded.order_id.isdigit() else seeded.thread_id
            sale = sim.sales.get(purchaseid) or sim.add_sale(
                buyer=seeded.customer_id,
                purchaseid=purchaseid,
                items=0,
                purchasedate=seeded.messages[0].sent_at,
            )
            item = SimItem(
                itemid=seeded.thread_id,
                purchaseid=purchaseid,
                headline=seeded.subject[:60] or "Article",
                price=Decimal("29.90"),
                sku=f"SKU-{seeded.thread_id[-6:]}",
            )
            sale.items.append(item)
            sim.items[item.itemid] = item
            self.sales[purchaseid] = purchaseid

    def buyer_writes(self, written: Any) -> None:
        sim = self.simulator
        buyer = written.customer_id.replace("-", "_")
        if written.order_id not in self.sales:
            self.sales[written.order_id] = sim.add_sale(buyer=buyer).purchaseid
        sim.buyer_writes(order_id=self.sales[written.order_id], text=written.text, buyer=buyer)


def demo(channel: Any, seed: int = 0) -> _Demo:
    return _Demo(channel, seed)
