"""A local Spartoo marketplace: the order and return web services the connector uses.

Routes: `POST|GET /mp/xml_export_orders.php`, `/mp/xml_export_returns.php` and
`/mp/xml_maj_returns.php`, parameters as form fields (or the query string), answers as XML with
a `<statut>` code, as Spartoo's documentation describes them (see `wire`, which also lists
what was guessed: the order fields after `delivery`, the date formats, the paging cap).

Errors answered as Spartoo does, in the body with HTTP 200: -1 no `partenaire`, -2 an unknown
one, -3 neither `date` nor an id, -6 an unknown return to update, -7 a status out of order,
-9 the same status, -428 a deactivated account (`deactivated`), -429 past `hourly_quota` calls
in the last hour. A malformed date is a contract violation (400, kept in `violations`). The
exports answer at most `max_results` items, oldest first (the guessed cap), and take the base
simulator's faults, `duplicate_page` and `reorder_page` included.

Script it with `add_order`, `open_return` and `set_return_status`; `every_order_exists` makes
any order number asked for exist (the demo's mailbox names orders this shop never saw).
"""

from __future__ import annotations

import random
import time
import unicodedata
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from comptoir.connectors.simulator import ContractViolation, Request, Response, Simulator
from comptoir.connectors.spartoo import wire

XML = "text/xml; charset=utf-8"
PREFIX = "/mp"


@dataclass
class SimLine:
    reference: str
    name: str
    size: str = "40"
    color: str = "Noir"
    brand: str = "Kickers"
    quantity: int = 1
    price: Decimal = Decimal("79.90")


@dataclass
class SimOrder:
    order_id: str
    firstname: str
    lastname: str
    email: str
    placed_at: datetime
    status: int = 2
    lines: list[SimLine] = field(default_factory=list)
    tracking_number: str = ""
    carrier: str = ""

    @property
    def total(self) -> Decimal:
        return sum((line.price * line.quantity for line in self.lines), Decimal("0"))


@dataclass
class SimReturn:
    return_id: str
    order_id: str
    reason: str
    created_at: datetime
    line: SimLine
    status: int = wire.RETURN_REQUESTED


def _ascii(name: str) -> str:
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return "".join(c for c in folded.lower() if c.isalnum()) or "client"


def _sub(parent: ET.Element, tag: str, text: object = "") -> ET.Element:
    element = ET.SubElement(parent, tag)
    element.text = str(text)
    return element


class SpartooSimulator(Simulator):
    name = "spartoo"

    def __init__(
        self, *, seed: int = 0, max_results: int = wire.MAX_RESULTS, hourly_quota: int = 0
    ) -> None:
        super().__init__(seed=seed)
        self.rng = random.Random(seed)
        self.partner = f"{self.rng.getrandbits(64):016X}"
        self.max_results = max_results
        self.hourly_quota = hourly_quota  # 0: no quota
        self.deactivated = False
        self.every_order_exists = False
        self.orders: dict[str, SimOrder] = {}
        self.returns: dict[str, SimReturn] = {}
        self.updates: list[tuple[str, int]] = []  # (return id, status) the seller set
        self._calls: list[float] = []
        self._next_order = 10_000_000 + self.rng.randrange(10**6)
        self._next_return = 500_000 + self.rng.randrange(10**5)
        for service in wire.SERVICES:
            handler = getattr(self, f"_{service.removesuffix('.php')}")
            self.route("POST", f"{PREFIX}/{service}", self._serve(handler))
            self.route("GET", f"{PREFIX}/{service}", self._serve(handler))

    @property
    def base_url(self) -> str:
        return f"{self.url}{PREFIX}"

    # -- scripting ------------------------------------------------------------------------------

    def add_order(
        self,
        *,
        order_id: str = "",
        firstname: str = "Chloé",
        lastname: str = "Lambert",
        email: str = "",
        status: int = 2,
        placed_at: datetime | None = None,
        lines: list[SimLine] | None = None,
    ) -> SimOrder:
        with self.lock:
            if not order_id:
                self._next_order += self.rng.randint(1, 50)
                order_id = str(self._next_order)
            order = SimOrder(
                order_id=order_id,
                firstname=firstname,
                lastname=lastname,
                email=email or f"{_ascii(firstname)}.{_ascii(lastname)}@example.fr",
                placed_at=placed_at or datetime.now(UTC) - timedelta(days=3),
                status=status,
                lines=lines or [SimLine(f"REF-{order_id[-4:]}", "Bottines en cuir")],
            )
            if status == 3:
                order.tracking_number, order.carrier = f"6A{order_id}", "Colissimo"
            self.orders[order_id] = order
            return order

    def open_return(
        self,
        order_id: str,
        *,
        reason: str = "Taille trop petite",
        created_at: datetime | None = None,
    ) -> SimReturn:
        with self.lock:
            order = self.orders[order_id]
            self._next_return += self.rng.randint(1, 9)
            found = SimReturn(
                return_id=str(self._next_return),
                order_id=order_id,
                reason=reason,
                created_at=(created_at or datetime.now(UTC)).replace(microsecond=0),
                line=order.lines[0],
            )
            self.returns[found.return_id] = found
            return found

    def set_return_status(self, return_id: str, status: int) -> None:
        with self.lock:
            self.returns[return_id].status = status

    # -- serving --------------------------------------------------------------------------------

    def _serve(self, handler: Any) -> Any:
        def serve(request: Request) -> Response:
            params = {k: v[-1] for k, v in request.query.items()}
            if request.method == "POST":
                params.update({k: v[-1] for k, v in request.form().items()})
            root = ET.Element("root")
            with self.lock:
                code = self._refusal(params)
                if code == wire.OK:
                    code = handler(params, root, request)
            statut = ET.SubElement(root, "statut")
            _sub(statut, "id", code)
            _sub(statut, "description", wire.ERRORS.get(code, "OK"))
            body = ET.tostring(root, encoding="utf-8", xml_declaration=True)
            return Response(200, body, content_type=XML)

        return serve

    def _refusal(self, params: dict[str, str]) -> int:
        partner = params.get("partenaire", "")
        if not partner:
            return wire.PARTNER_EMPTY
        if partner != self.partner:
            return wire.PARTNER_UNKNOWN
        if self.deactivated:
            return wire.DEACTIVATED
        if self.hourly_quota:
            now = time.monotonic()
            self._calls = [t for t in self._calls if t > now - 3600]
            if len(self._calls) >= self.hourly_quota:
                return wire.TOO_MANY_CALLS
            self._calls.append(now)
        return wire.OK

    def _page(self, items: list[Any], request: Request) -> list[Any]:
        page = items[: self.max_results]
        fault = self.page_fault(request)
        if fault == "duplicate_page" and page:
            page = page[: max(1, len(page) // 2)] + page  # the first half twice
        elif fault == "reorder_page":
            self.rng.shuffle(page)
        return page

    def _xml_export_orders(self, params: dict[str, str], root: ET.Element, request: Request) -> int:
        orders = ET.SubElement(root, "orders")
        if params.get("oID"):
            number = params["oID"].strip()
            if number not in self.orders and self.every_order_exists and number.isdigit():
                self.add_order(order_id=number)
            found = [self.orders[number]] if number in self.orders else []
        elif params.get("date"):
            try:
                since = datetime.strptime(params["date"], wire.ORDER_DATE_PARAM)
            except ValueError:
                raise ContractViolation(
                    f"date {params['date']!r} is not YYYY-MM-DD:hh:mm:ss"
                ) from None
            since = since.replace(tzinfo=wire.PARIS)
            found = sorted(
                (o for o in self.orders.values() if o.placed_at > since),
                key=lambda o: o.placed_at,
            )
        else:
            return wire.PARAMETER_MISSING
        if params.get("statut"):
            found = [o for o in found if str(o.status) == params["statut"]]
        for order in self._page(found, request):
            self._order_xml(ET.SubElement(orders, "order"), order)
        return wire.OK

    def _order_xml(self, element: ET.Element, order: SimOrder) -> None:
        _sub(element, "orders_id", order.order_id)
        customers = ET.SubElement(element, "customers")
        _sub(customers, "customers_firstname", order.firstname)
        _sub(customers, "customers_lastname", order.lastname)
        _sub(customers, "customers_city", "Lyon")
        _sub(customers, "customers_country", "France")
        _sub(customers, "customers_email_address", order.email)
        delivery = ET.SubElement(element, "delivery")
        _sub(delivery, "delivery_firstname", order.firstname)
        _sub(delivery, "delivery_lastname", order.lastname)
        _sub(element, "date_purchased", wire.format_date(order.placed_at))
        _sub(element, "orders_status", order.status)
        _sub(element, "currency", "EUR")
        _sub(element, "total_price", order.total)
        _sub(element, "tracking_number", order.tracking_number)
        _sub(element, "carrier_name", order.carrier)
        products = ET.SubElement(element, "products")
        for line in order.lines:
            product = ET.SubElement(products, "product")
            self._product_xml(product, line)
            _sub(product, "products_quantity", line.quantity)
            _sub(product, "products_price", line.price)

    @staticmethod
    def _product_xml(product: ET.Element, line: SimLine) -> None:
        _sub(product, "products_reference", line.reference)
        _sub(product, "products_name", line.name)
        _sub(product, "products_manufacturers", line.brand)
        _sub(product, "products_size", line.size)
        _sub(product, "products_color", line.color)

    def _xml_export_returns(
        self, params: dict[str, str], root: ET.Element, request: Request
    ) -> int:
        returns = ET.SubElement(root, "returns")
        if params.get("rID"):
            found = [self.returns[params["rID"]]] if params["rID"] in self.returns else []
        elif params.get("oID"):
            found = [r for r in self.returns.values() if r.order_id == params["oID"]]
        elif params.get("date"):
            if not params["date"].isdigit():
                raise ContractViolation(f"date {params['date']!r} is not a timestamp")
            since = datetime.fromtimestamp(int(params["date"]), UTC)
            found = [r for r in self.returns.values() if r.created_at > since]
        else:
            return wire.PARAMETER_MISSING
        if params.get("statut"):
            found = [r for r in found if str(r.status) == params["statut"]]
        found.sort(key=lambda r: (r.created_at, r.return_id))
        for item in self._page(found, request):
            element = ET.SubElement(returns, "return")
            _sub(element, "return_id", item.return_id)
            _sub(element, "return_date", wire.format_date(item.created_at))
            _sub(element, "return_status_name", wire.RETURN_STATUS_NAMES[item.status])
            _sub(element, "return_status", item.status)
            _sub(element, "return_reason", item.reason)
            _sub(element, "order", item.order_id)
            product = ET.SubElement(element, "product")
            self._product_xml(product, item.line)
        return wire.OK

    def _xml_maj_returns(self, params: dict[str, str], root: ET.Element, request: Request) -> int:
        rid, status = params.get("rID", ""), params.get("statut", "")
        if not rid or status not in ("3", "4"):
            return wire.STATUS_OR_ID_MISSING
        found = self.returns.get(rid)
        if found is None:
            return wire.NOT_FOUND
        new = int(status)
        if new == found.status:
            return wire.SAME_STATUS
        allowed = {wire.RETURN_REFUSED: {2}, wire.RETURN_ACCEPTED: {2, 3}}[new]
        if found.status not in allowed:
            return wire.BAD_CHRONOLOGY
        found.status = new
        self.updates.append((rid, new))
        element = ET.SubElement(ET.SubElement(root, "returns"), "return")
        _sub(element, "partenaire", self.partner)
        _sub(element, "rID", rid)
        return wire.OK


class _Demo:
    """Spartoo's web services for `comptoir demo`: the orders named in the Spartoo mailbox's
    mail exist, and some of them are being returned. Buyers write through the mailbox."""

    buyers_write = False

    def __init__(self, channel: Any, seed: int) -> None:
        self.simulator = sim = SpartooSimulator(seed=seed)
        sim.every_order_exists = True
        # A few returns for the first poll to bring in as cases.
        now = datetime.now(UTC)
        for n, (first, last, reason) in enumerate(
            [
                ("Léa", "Fontaine", "Taille trop petite"),
                ("Hugo", "Perrin", "Article défectueux : semelle décollée"),
                ("Inès", "Garnier", "Ne correspond pas à la photo"),
            ]
        ):
            order = sim.add_order(firstname=first, lastname=last, status=3)
            found = sim.open_return(
                order.order_id, reason=reason, created_at=now - timedelta(hours=5 * n + 1)
            )
            if n == 1:
                sim.set_return_status(found.return_id, wire.RETURN_SENT)

    def settings(self) -> dict[str, Any]:
        sim = self.simulator
        return {"partner_token": sim.partner, "base_url": sim.base_url, "initial_days": 14}

    def adopt(self, threads: list[Any]) -> None:
        sim = self.simulator
        for n, seeded in enumerate(t for t in threads if t.order_id.isdigit()):
            if seeded.order_id not in sim.orders:
                sim.add_order(
                    order_id=seeded.order_id, firstname=seeded.first_name, lastname=seeded.last_name
                )
            if n % 4 == 0:  # a few of them come back
                sim.open_return(seeded.order_id, created_at=datetime.now(UTC) - timedelta(hours=n))

    def buyer_writes(self, written: Any) -> None:
        raise NotImplementedError("Spartoo buyers write through the Spartoo mailbox")


def demo(channel: Any, seed: int = 0) -> _Demo:
    return _Demo(channel, seed)
