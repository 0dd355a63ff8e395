"""The Spartoo channel: the shop's orders and returns, read from Spartoo's XML web services.

Spartoo publishes no messaging web service: a buyer's message reaches the seller as a mail from
Spartoo, read by the shop's mailbox (an email channel with marketplace "spartoo", see
`connectors/email/spartoo_mail.py`). This channel, in the same shop, is what reads the orders
those mails name (`orders.tasks.order_channel`), and it brings Spartoo's returns in as cases.

Endpoints followed (POST, form-encoded, `partenaire` = the seller's web-service id; answers are
XML with a `<statut>` code; see `wire` for the documented and the guessed parts):
- `xml_export_orders.php` with `oID`: one order (`fetch_order`), its buyer, lines, status and
  tracking number.
- `xml_export_returns.php` with `date` (a timestamp): the returns created since the cursor,
  each a message in its order's conversation (thread `order:<id>`), tagged "claim" and
  "return", with the return in `meta["spartoo_return"]` (`cases.more_claims.spartoo` opens the
  case). A return whose status changed later is read again and adds an automatic message with
  the new status (the id is the return and its status, so a re-read stores nothing twice).

Deciding a return (`send_case_operation`, from the case panel): `xml_maj_returns.php` with `rID`
and `statut` 4 (accept) or 3 (refuse). The call is not safe to repeat blindly: an unanswered one
is looked for (`find_case_operation`: the return's status read again by `rID`), and a refusal
that says the return already has that status (-9) counts as done. Spartoo's documented call
takes no reason: a refusal's reason stays on the case here.

Errors: a code -1, -2 or -428 (the web-service id is empty, unknown or deactivated) stops the
channel; -429 (the hourly quota) waits for the hour to turn; HTTP errors and timeouts are
retried by the shared client (the exports are reads, safe to repeat).
"""

from __future__ import annotations

import logging
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import defusedxml.ElementTree as safe_xml
from defusedxml import DefusedXmlException
from pydantic import BaseModel, Field

from comptoir.connectors.base import (
    CaseOperationOut,
    Connector,
    ConnectorError,
    HttpClient,
    InboundMessage,
    OrderData,
    OrderItem,
    OutboundMessage,
    Party,
    SendResult,
)
from comptoir.connectors.spartoo import wire

logger = logging.getLogger("comptoir.spartoo")
NAME = "Spartoo"
# Returns still open, asked for again by id on each poll (the oldest dropped past this).
MAX_OPEN_RETURNS = 200
# The case steps that decide a return, and the status each asks of Spartoo.
RETURN_DECISIONS = {"accept_return": wire.RETURN_ACCEPTED, "refuse_return": wire.RETURN_REFUSED}


class SpartooSettings(BaseModel):
    # Sent as `partenaire`: the "merchant ID for webservices" of the seller account. Whoever
    # holds it reads the shop's orders: a credential, kept secret (the form hides `_token`).
    partner_token: str = Field(min_length=1, max_length=64)
    base_url: str = wire.BASE_URL
    timeout_seconds: float = Field(default=30.0, gt=0)
    max_attempts: int = Field(default=5, ge=1)
    # Date cursors step back this far: a return indexed a little late is still seen.
    overlap_minutes: int = Field(default=15, ge=0)
    # A first sync reads the returns this far back.
    initial_days: int = Field(default=30, ge=1)
    fetch_returns: bool = True
    # The most an export answers at once (guessed, see `wire`): a full answer is paged on.
    max_results: int = Field(default=wire.MAX_RESULTS, ge=1)


@dataclass(frozen=True)
class SpartooReturn:
    return_id: str
    order_id: str
    status: int
    status_name: str
    reason: str
    created_at: datetime | None
    product: dict[str, str]

    def as_meta(self) -> dict[str, Any]:
        return {
            "return_id": self.return_id,
            "order_id": self.order_id,
            "status": self.status,
            "status_name": self.status_name,
            "reason": self.reason,
            "created_at": self.created_at.isoformat() if self.created_at else "",
            "product": self.product,
        }


# One HTTP client per endpoint and process: a kept connection saves the TLS handshakes.
_clients: dict[tuple[str, float, int], HttpClient] = {}
_clients_lock = threading.Lock()


def forget_clients() -> None:
    """Close the process's clients (tests)."""
    with _clients_lock:
        for client in _clients.values():
            client.close()
        _clients.clear()


def text_of(element: ET.Element | None, name: str) -> str:
    found = element.find(name) if element is not None else None
    return (found.text or "").strip() if found is not None else ""


def int_of(text: str, default: int = 0) -> int:
    try:
        return int(text.strip())
    except ValueError:
        return default


def _price(text: str) -> str:
    try:
        return str(Decimal(text.strip().replace(",", ".")).quantize(Decimal("0.01")))
    except (InvalidOperation, ValueError):
        return ""


class SpartooConnector(Connector):
    kind = "spartoo"
    settings_model = SpartooSettings
    # `oID` names one order: look-ups go one by one.
    order_batch_size = 1

    def __init__(self, channel: Any) -> None:
        super().__init__(channel)
        self._conf: SpartooSettings | None = None
        self._buyers: dict[str, Party | None] = {}

    def conf(self) -> SpartooSettings:
        if self._conf is None:
            conf = self.settings()
            assert isinstance(conf, SpartooSettings)
            self._conf = conf
        return self._conf

    def client(self) -> HttpClient:
        conf = self.conf()
        key = (conf.base_url.rstrip("/") + "/", conf.timeout_seconds, conf.max_attempts)
        with _clients_lock:
            if key not in _clients:
                _clients[key] = HttpClient(
                    key[0], name=NAME, timeout=conf.timeout_seconds, max_attempts=conf.max_attempts
                )
            return _clients[key]

    def call(self, service: str, params: dict[str, str]) -> ET.Element:
        """One web service's answer (`<root>`) when its status is 1; raise ConnectorError
        otherwise. `wire.NOT_FOUND` is raised with `status=404` for the callers to tell."""
        response = self.client().request(
            "POST",
            service,
            data={"partenaire": self.conf().partner_token, **params},
            idempotent=service != wire.UPDATE_RETURN,
        )
        try:
            root: ET.Element = safe_xml.fromstring(response.content)
        except (ET.ParseError, DefusedXmlException) as exc:
            raise ConnectorError(
                f"{NAME}: {service} answered something that is not XML: {exc}"
            ) from None
        statut = root.find("statut")
        code = int_of(text_of(statut, "id"), default=0)
        if code == wire.OK:
            return root
        said = text_of(statut, "description") or wire.ERRORS.get(code, "unknown error")
        message = f"{NAME}: {service} answered {code}: {said}"
        if code == wire.TOO_MANY_CALLS:
            raise ConnectorError(message, retry_after=wire.QUOTA_WAIT)
        if code in wire.CREDENTIAL_ERRORS:
            raise ConnectorError(message, permanent=True)
        if code == wire.NOT_FOUND:
            raise ConnectorError(message, permanent=True, about_message=True, status=404)
        if code == 0:  # no status at all: a page in front of the service, a partial answer
            raise ConnectorError(f"{NAME}: {service} answered without a status")
        raise ConnectorError(message, permanent=True, about_message=True)

    def test_connection(self) -> str:
        # The returns of the last hour: cheap, and it proves the web-service id.
        since = int((datetime.now(UTC) - timedelta(hours=1)).timestamp())
        self.call(wire.EXPORT_RETURNS, {"date": str(since)})
        return f"{NAME}: the web services answer"

    # -- orders ---------------------------------------------------------------------------------

    def fetch_order(self, order_number: str) -> OrderData | None:
        number = order_number.strip()
        if not number or len(number) > 64:
            return None
        try:
            root = self.call(wire.EXPORT_ORDERS, {"oID": number})
        except ConnectorError as exc:
            if exc.status == 404:
                return None
            raise
        for element in root.iter("order"):
            if text_of(element, "orders_id") == number:
                return order_data(element)
        return None

    def buyer_of(self, order_id: str) -> Party | None:
        if order_id not in self._buyers:
            found = self.fetch_order(order_id)
            self._buyers[order_id] = found.buyer if found else None
        return self._buyers[order_id]

    # -- returns --------------------------------------------------------------------------------

    def fetch(self, since: dict[str, Any]) -> Iterator[InboundMessage]:
        conf = self.conf()
        if not conf.fetch_returns:
            return
        start = int(
            since.get("returns_since")
            or (datetime.now(UTC) - timedelta(days=conf.initial_days)).timestamp()
        )
        # The export goes by creation date: a return decided later is asked for by its id.
        open_ids = dict.fromkeys(str(r) for r in since.get("open_returns", []))
        read: set[str] = set()
        for page in self._created_since(conf, start):
            for found in self._unstored(page):
                read.add(found.return_id)
                self._track(open_ids, found)
                yield self.return_message(found)
        for return_id in [r for r in open_ids if r not in read]:
            try:
                root = self.call(wire.EXPORT_RETURNS, {"rID": return_id})
            except ConnectorError as exc:
                if exc.status != 404:
                    raise
                open_ids.pop(return_id, None)
                continue
            found_all = [r for r in map(parse_return, root.iter("return")) if r is not None]
            for found in found_all:
                self._track(open_ids, found)
            for found in self._unstored(found_all):
                yield self.return_message(found)
        self.cursor["open_returns"] = list(open_ids)[-MAX_OPEN_RETURNS:]

    @staticmethod
    def _track(open_ids: dict[str, None], found: SpartooReturn) -> None:
        if found.status in wire.CLOSED_RETURN_STATUSES:
            open_ids.pop(found.return_id, None)
        else:
            open_ids[found.return_id] = None

    def _unstored(self, returns: list[SpartooReturn]) -> list[SpartooReturn]:
        """The returns whose current status is not stored yet (a re-read costs no look-up)."""
        stored = self.stored_external_ids([message_id(r) for r in returns])
        return [r for r in returns if message_id(r) not in stored]

    def _created_since(self, conf: SpartooSettings, start: int) -> Iterator[list[SpartooReturn]]:
        seen: set[tuple[str, int]] = set()
        while True:
            asked_at = int(datetime.now(UTC).timestamp())
            root = self.call(wire.EXPORT_RETURNS, {"date": str(start)})
            returns = [r for r in map(parse_return, root.iter("return")) if r is not None]
            returns.sort(key=lambda r: (r.created_at or datetime.now(UTC), r.return_id))
            page = []
            for found in returns:
                if (found.return_id, found.status) in seen:
                    continue  # a page overlapping the last one
                seen.add((found.return_id, found.status))
                page.append(found)
            yield page
            stamps = [int(r.created_at.timestamp()) for r in returns if r.created_at]
            latest = max(stamps, default=start)
            overlap = conf.overlap_minutes * 60
            if len(returns) < conf.max_results:
                # Everything created before the call was in its answer: the next poll starts
                # there, a little earlier for a return indexed late (ingest drops repeats).
                self.cursor["returns_since"] = max(start, asked_at - overlap)
                return
            if latest <= start:
                # A full answer within one second cannot be paged further by date (guessed
                # paging, see `wire`): keep the cursor, say so.
                logger.warning(
                    "%s: %d returns at %d, some may be missed", NAME, len(returns), start
                )
                self.cursor["returns_since"] = start
                return
            # An answer at the cap may have more behind it: ask again from its last date.
            start = latest

    def return_message(self, found: SpartooReturn) -> InboundMessage:
        buyer = self.buyer_of(found.order_id)
        product = found.product
        what = " ".join(
            p
            for p in (
                product.get("products_manufacturers", ""),
                product.get("products_name", ""),
                f"taille {product['products_size']}" if product.get("products_size") else "",
                product.get("products_color", ""),
            )
            if p
        )
        closed = found.status in wire.CLOSED_RETURN_STATUSES
        lines = [
            f"Retour {found.return_id} ({found.status_name}) sur la commande {found.order_id}.",
            f"Motif : {found.reason}" if found.reason else "",
            f"Article : {what}" if what else "",
        ]
        return InboundMessage(
            channel_id=self.channel.pk,
            external_id=message_id(found),
            thread_id=f"order:{found.order_id}",
            sender=buyer
            or Party(identity_kind="spartoo_order", identity_value=found.order_id or "unknown"),
            subject=f"Retour {found.return_id} - commande {found.order_id}",
            text="\n".join(line for line in lines if line),
            sent_at=found.created_at or datetime.now(UTC),
            order_number=found.order_id,
            reason=found.reason[:64],
            intent="return_request",
            is_auto=closed,
            # A return is decided in Spartoo (its case follows it), not answered here: this
            # channel cannot write to the buyer, so no respond-by runs on it.
            needs_reply=False,
            tags=["claim", "return"],
            meta={"spartoo_return": found.as_meta()},
            language="fr",
        )

    # -- deciding a return (cases) ------------------------------------------------------------

    @classmethod
    def case_operations(cls, claim_id: str) -> frozenset[str]:
        return frozenset(RETURN_DECISIONS) if claim_id.startswith("return:") else frozenset()

    def send_case_operation(self, operation: CaseOperationOut) -> SendResult:
        return_id, wanted = self._decision(operation)
        try:
            self.call(wire.UPDATE_RETURN, {"rID": return_id, "statut": str(wanted)})
        except ConnectorError as exc:
            if not exc.about_message or exc.maybe_sent:
                raise  # the channel's trouble, or an unknown outcome: the task looks first
            # Refused: -9 says the return has this status already (an earlier call whose
            # answer was lost, or the back office): done. Otherwise, say what it is now.
            found = self._return_status(return_id)
            if found == wanted:
                return SendResult(external_id=f"return:{return_id}:{wanted}")
            now = wire.RETURN_STATUS_NAMES.get(found or 0, "unknown")
            raise ConnectorError(
                f"{exc} (the return is now: {now})",
                permanent=True,
                about_message=True,
                status=exc.status,
            ) from None
        return SendResult(external_id=f"return:{return_id}:{wanted}")

    def find_case_operation(self, operation: CaseOperationOut) -> SendResult | None:
        return_id, wanted = self._decision(operation)
        if self._return_status(return_id) == wanted:
            return SendResult(external_id=f"return:{return_id}:{wanted}")
        return None

    @staticmethod
    def _decision(operation: CaseOperationOut) -> tuple[str, int]:
        return_id = operation.claim_id.removeprefix("return:")
        wanted = RETURN_DECISIONS.get(operation.kind)
        if wanted is None or not return_id or return_id == operation.claim_id:
            raise ConnectorError(
                f"Spartoo takes no {operation.kind} on {operation.claim_id or 'this case'}: "
                "decide it in Spartoo's seller back office",
                permanent=True,
                about_message=True,
            )
        return return_id, wanted

    def _return_status(self, return_id: str) -> int | None:
        """The return's status as Spartoo shows it now, None when it does not know it."""
        try:
            root = self.call(wire.EXPORT_RETURNS, {"rID": return_id})
        except ConnectorError as exc:
            if exc.status == 404:
                return None
            raise
        for found in map(parse_return, root.iter("return")):
            if found is not None and found.return_id == return_id:
                return found.status
        return None

    def send(self, outbound: OutboundMessage) -> SendResult:
        raise ConnectorError(
            "Spartoo has no messaging web service: answer the buyer from the Spartoo mailbox "
            "(the mail Spartoo sent), or in Spartoo's seller back office.",
            permanent=True,
            about_message=True,  # the channel is fine: the reply went to the wrong one
        )


def message_id(found: SpartooReturn) -> str:
    """A return's message: one per status it takes."""
    return f"return:{found.return_id}:{found.status}"


def parse_return(element: ET.Element) -> SpartooReturn | None:
    return_id = text_of(element, "return_id")
    if not return_id:
        return None
    status = int_of(text_of(element, "return_status"))
    product = element.find("product")
    return SpartooReturn(
        return_id=return_id,
        order_id=text_of(element, "order"),
        status=status,
        status_name=text_of(element, "return_status_name")
        or wire.RETURN_STATUS_NAMES.get(status, str(status)),
        reason=text_of(element, "return_reason"),
        created_at=wire.parse_date(text_of(element, "return_date")),
        product={
            child.tag: (child.text or "").strip()
            for child in (list(product) if product is not None else [])
        },
    )


def order_data(element: ET.Element) -> OrderData:
    customers = element.find("customers")
    first = text_of(customers, "customers_firstname")
    last = text_of(customers, "customers_lastname")
    email = text_of(customers, "customers_email_address").lower()
    name = " ".join(p for p in (first, last) if p)
    buyer = None
    if email or name:
        buyer = Party(
            identity_kind="email" if email else "spartoo_order",
            identity_value=(email or text_of(element, "orders_id"))[:320],
            name=name[:200],
            email=email[:254],
        )
    items = []
    for line in element.iter("product"):
        items.append(
            OrderItem(
                sku=text_of(line, "products_reference")[:64],
                title=" ".join(
                    p for p in (text_of(line, "products_name"), text_of(line, "products_size")) if p
                )[:300],
                quantity=max(1, int_of(text_of(line, "products_quantity"), 1)),
                unit_price=_price(text_of(line, "products_price")),
            )
        )
    status = wire.ORDER_STATUSES.get(int_of(text_of(element, "orders_status"), -1), "unknown")
    tracking = text_of(element, "tracking_number")
    return OrderData(
        external_id=text_of(element, "orders_id"),
        status=status,  # type: ignore[arg-type]  # the mapping holds only OrderData's words
        currency=(text_of(element, "currency") or "EUR")[:3],
        total=_price(text_of(element, "total_price")),
        items=items,
        ordered_at=wire.parse_date(text_of(element, "date_purchased")),
        carrier=text_of(element, "carrier_name")[:64],
        tracking_number=tracking[:128],
        buyer=buyer,
    )
