"""Rakuten France (formerly PriceMinister): buyer messages about sold items, over `sales_ws`.

Endpoints (all `GET /sales_ws`, with `login`, `pwd` = the web-services token and `version` in
the query string; the answers are XML):
- `getitemtodolist` lists the items needing the seller, with their causes: an item there with
  an unread buyer message or a claim needs a reply.
- `getiteminfos` (`itemid`) gives the item's messages (newest first) and claim. Reading it marks
  the buyer's messages read, which takes the item off the todo list: an item seen on the list is
  written ahead into the channel's stored cursor (`pending`) before it is read, and leaves it
  only once a poll has stored its messages, so a worker killed mid-poll loses nothing.
- `contactuseraboutitem` (`itemid`, `content`) answers the buyer. It is a GET that acts: it is
  never retried blindly, and the service has no idempotency key, so `find_sent` looks in the
  item's messages for ours (`Connector.pick_sent`). The service may take a while to show a
  message it accepted: a retry that does not find it keeps looking for 10 minutes after the
  unanswered call (`send_settle_seconds`) before sending it again.
- `getcurrentsales` (paginated by `nexttoken`) links items to their purchase (the order number)
  and buyer, backfills the items of recent sales on a first sync, and serves `fetch_order`.

The conversation is the item (`thread_id` = item id). Messages carry no id in this API: each
gets one derived from the item, its sender, date and text (see `common.message_id`), which is
also what `send` returns once it has found its message in the item. No attachments: the API
cannot carry them. Mails between the seller and Rakuten's customer service about the item
(`<mail>`, which have an id) are shown in the conversation as automatic messages.

Questions before purchase (a visitor asking about an offer) are not read: `sales_ws` has no
service for them. Rakuten's developer documentation (global.fr.shopping.rakuten.com/developpeur,
"Après l'acceptation d'une vente") lists getitemtodolist, getiteminfos, contactuseraboutitem
("envoi d'un message post vente à l'acheteur"), contactusaboutitem, getcurrentsales and the
shipping and billing services, all about sold items; its seller help ("Communiquer avec un
acheteur et répondre aux questions des visiteurs") says visitors' questions are read and
answered, once, in the seller account (Messagerie > Questions sur mes ventes). Once an item
sells, its tracking page shows the messages exchanged "before and after the order"; whether
`getiteminfos` returns the ones from before is not documented.
"""

from __future__ import annotations

import logging
import threading
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import defusedxml.ElementTree as safe_xml
from defusedxml import DefusedXmlException
from pydantic import BaseModel, Field, ValidationError

from comptoir.connectors.base import (
    Connector,
    ConnectorError,
    HttpClient,
    InboundMessage,
    OrderData,
    OrderItem,
    OutboundMessage,
    Party,
    SendResult,
    SentCandidate,
    channel_store,
)
from comptoir.connectors.rakuten.common import (
    MAX_CONTENT_CHARS,
    PARIS,
    VERSIONS,
    claim_id,
    message_id,
    parse_date,
)
from comptoir.lib.http import shared_rate_limit

logger = logging.getLogger("comptoir.rakuten")

NAME = "Rakuten France"
# Item -> purchase links kept in the cursor, so that a poll does not page the sales each time.
MAX_KNOWN_ITEMS = 2000
# Past the hourly quota, calls are refused until the hour turns.
QUOTA_WAIT = 3600.0
NEEDS_REPLY_CAUSES = frozenset({"UNREAD_MESSAGE_FROM_BUYER", "CLAIM"})
# Rakuten's item statuses onto ours (an order's status is its least advanced item's).
STATUSES: dict[str, str] = {
    "REQUESTED": "pending",
    "REMINDED": "pending",
    "ACCEPTED": "accepted",
    "COMMITTED": "accepted",
    "ON_HOLD": "accepted",
    "PENDING_CLAIM": "accepted",
    "SHIPPED": "shipped",
    "CLOSED": "delivered",
    "REFUSED": "cancelled",
    "CANCELLED": "cancelled",
}

# One HTTP client per account and process, kept open: a connector is built for every poll and
# every send, and a new client costs a TLS context and a connection each time. The
# credentials travel in each query, not in the client.
_clients: dict[tuple[str, str, float, float | None], HttpClient] = {}
_clients_lock = threading.Lock()


class RakutenSettings(BaseModel):
    login: str = Field(min_length=1)
    token: str = Field(min_length=1)
    base_url: str = "https://ws.fr.shopping.rakuten.com"
    timeout_seconds: float = Field(default=30.0, gt=0)
    # On a first sync (or a reset cursor), the items of sales this recent are read in full.
    backfill_days: int = Field(default=30, ge=0)
    # Rakuten caps calls per hour per account without publishing the figure: optional.
    requests_per_second: float | None = Field(default=None, gt=0)


class RakutenConnector(Connector):
    kind = "rakuten"
    send_settle_seconds = 600.0
    settings_model = RakutenSettings

    _http: HttpClient | None = None

    def conf(self) -> RakutenSettings:
        try:
            conf = self.settings()
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}"
                for error in exc.errors()
            )
            raise ConnectorError(
                f"{NAME}: the channel settings are incomplete ({problems})", permanent=True
            ) from None
        assert isinstance(conf, RakutenSettings)
        return conf

    def client(self) -> HttpClient:
        if self._http is None:
            conf = self.conf()
            key = (conf.base_url, conf.login, conf.timeout_seconds, conf.requests_per_second)
            with _clients_lock:
                if key not in _clients:
                    rate = None
                    if conf.requests_per_second:
                        rate = shared_rate_limit(f"rakuten:{conf.login}", conf.requests_per_second)
                    _clients[key] = HttpClient(
                        conf.base_url, name=NAME, timeout=conf.timeout_seconds, rate_limit=rate
                    )
                self._http = _clients[key]
        return self._http

    # -- calls --------------------------------------------------------------------------------

    def call(
        self, action: str, params: dict[str, str] | None = None, *, acts: bool = False
    ) -> ET.Element:
        """One `sales_ws` call; the answer's root element, namespaces stripped. `acts`: the call
        changes something (a GET all the same), so a lost answer is not retried."""
        conf = self.conf()
        query = {"action": action, "login": conf.login, "pwd": conf.token}
        query |= {"version": VERSIONS[action], **(params or {})}
        try:
            response = self.client().request(
                "GET", "/sales_ws", params=query, idempotent=False if acts else None
            )
        except ConnectorError as exc:
            words = exc.detail if exc.status else ""
            if "quota" in words.lower():
                # The hourly quota: the account is fine, the next hour will serve.
                raise ConnectorError(
                    f"{NAME}: {words} (hourly call quota); trying again later",
                    retry_after=QUOTA_WAIT,
                    status=exc.status,
                ) from exc
            if exc.status in (401, 403):
                raise ConnectorError(
                    f"{NAME} refused the login {conf.login!r} (HTTP {exc.status}: {words}): "
                    "check the login and the web-services token in the channel settings",
                    permanent=True,
                    status=exc.status,
                ) from exc
            if exc.status is not None:
                raise ConnectorError(
                    f"{NAME}: {action} refused (HTTP {exc.status}): {words}",
                    permanent=exc.permanent,
                    status=exc.status,
                    # An item refused is that message's problem, not the account's.
                    about_message=exc.about_message,
                    maybe_sent=exc.maybe_sent,
                ) from exc
            raise
        root = parse_xml(response.content, action)
        if root.tag == "errorresponse":
            raise _error_from(root, action)
        return root

    def test_connection(self) -> str:
        root = self.call("getitemtodolist")
        seller = _text(root, "response/sellerid")
        count = len(root.findall("response/items/item"))
        return f"connected as shop {self.conf().login} (seller {seller}); {count} items to handle"

    def todo_list(self) -> dict[str, list[str]]:
        root = self.call("getitemtodolist")
        todo: dict[str, set[str]] = {}
        for item in root.findall("response/items/item"):
            itemid = _text(item, "itemid")
            if itemid:
                # A repeated entry adds its causes: the list is a set of items.
                todo.setdefault(itemid, set()).update(
                    (c.text or "").strip() for c in item.findall("causes/cause")
                )
        return {itemid: sorted(causes) for itemid, causes in todo.items()}

    def current_sales(self, purchasedate: str = "") -> Iterator[ET.Element]:
        """Every sale in progress (from `purchasedate`, yyyy-mm-dd), page after page."""
        token = ""
        seen: set[str] = set()
        while True:
            params = {"purchasedate": purchasedate} if purchasedate else {}
            if token:
                params["nexttoken"] = token
            root = self.call("getcurrentsales", params)
            for sale in root.findall("response/sales/sale"):
                purchaseid = _text(sale, "purchaseid")
                if purchaseid and purchaseid not in seen:  # a page may repeat the last one's
                    seen.add(purchaseid)
                    yield sale
            following = _text(root, "response/nexttoken")
            if not following or following == token:
                return
            token = following

    # -- fetch --------------------------------------------------------------------------------

    def fetch(self, since: dict[str, Any]) -> Iterator[InboundMessage]:
        self.cursor = dict(since)
        pending: dict[str, list[str]] = dict(self.cursor.get("pending") or {})
        known: dict[str, list[str]] = dict(self.cursor.get("items") or {})
        if self._note_pending(pending, known):
            # Written ahead: once read, these items leave the todo list for good.
            self.checkpoint()
        self._learn_sales(pending, known)
        self.cursor["items"] = dict(list(known.items())[-MAX_KNOWN_ITEMS:])
        for itemid in sorted(pending):
            yield from self._read_item(itemid, pending[itemid], known.get(itemid))
            del pending[itemid]
        self.cursor["synced"] = True

    def _note_pending(self, pending: dict[str, list[str]], known: dict[str, list[str]]) -> bool:
        """Add the items to read to `pending` (the cursor's), with their causes: on a first
        sync the items of recent sales, then the todo list's. True when it grew."""
        grew = False
        if not self.cursor.get("synced"):
            start = datetime.now(PARIS) - timedelta(days=self.conf().backfill_days)
            for sale in self.current_sales(start.strftime("%Y-%m-%d")):
                for itemid in _remember(known, sale):
                    pending.setdefault(itemid, [])
            grew = True
        for itemid, causes in self.todo_list().items():
            merged = sorted(set(pending.get(itemid, [])) | set(causes))
            if pending.get(itemid) != merged:
                pending[itemid], grew = merged, True
        self.cursor["pending"] = pending
        return grew

    def _learn_sales(self, pending: dict[str, list[str]], known: dict[str, list[str]]) -> None:
        """The purchase and buyer of each pending item not seen yet, from the current sales."""
        unknown = {itemid for itemid in pending if itemid not in known}
        if not unknown:
            return
        for sale in self.current_sales():
            unknown.difference_update(_remember(known, sale))
            if not unknown:
                break
        for itemid in unknown:  # not a sale in progress: no need to look again
            known[itemid] = ["", "", ""]

    def _read_item(
        self, itemid: str, causes: list[str], sale: list[str] | None
    ) -> Iterator[InboundMessage]:
        try:
            root = self.call("getiteminfos", {"itemid": itemid})
        except ConnectorError as exc:
            if exc.status != 404:
                raise
            logger.warning("rakuten channel %s: item %s is gone", self.channel.pk, itemid)
        else:
            yield from self._messages(root, itemid, causes, sale)

    def _messages(
        self, root: ET.Element, itemid: str, causes: list[str], sale: list[str] | None
    ) -> Iterator[InboundMessage]:
        for message, _status in self._parse_item(root, itemid, causes, sale):
            yield message

    def _parse_item(
        self, root: ET.Element, itemid: str, causes: list[str], sale: list[str] | None
    ) -> list[tuple[InboundMessage, str]]:
        """The item's claim and messages, oldest first, each with its status (UNREAD...)."""
        item = root.find("response/item")
        if item is None:
            raise ConnectorError(f"{NAME}: getiteminfos for item {itemid} has no item")
        seller = self.conf().login.strip().lower()
        # Oldest first, so that identical messages are numbered the way the simulator does.
        messages = list(reversed(item.findall("message")))
        common = _common_fields(self.channel.pk, item, itemid, sale, messages, seller)
        needs_reply = True if NEEDS_REPLY_CAUSES & set(causes) else None
        meta: dict[str, Any] = {"item_id": itemid, "item_status": _text(item, "itemstatus")}
        parsed: list[tuple[InboundMessage, str]] = []
        claim = item.find("claim")
        if claim is not None:
            meta |= {"claim_type": _text(claim, "type"), "claim_state": _text(claim, "state")}
            parsed += _claim_message(claim, itemid, common, meta, needs_reply)
        parsed += _item_messages(messages, itemid, seller, common, meta, needs_reply)
        parsed += _service_mails(item, itemid, seller, common, meta)
        return parsed

    # -- send ---------------------------------------------------------------------------------

    def send(self, outbound: OutboundMessage) -> SendResult:
        itemid = outbound.conversation_thread_id.strip()
        text = outbound.text.strip()
        problems = []
        if not itemid.isdigit():
            problems.append("the conversation is not about a Rakuten item")
        if outbound.attachments:
            problems.append(
                f"Rakuten France messages cannot carry attachments "
                f"({len(outbound.attachments)} attached): remove them"
            )
        if not text:
            problems.append("the message is empty")
        elif len(text) > MAX_CONTENT_CHARS:
            problems.append(
                f"the message is {len(text)} characters long; Rakuten France takes at most "
                f"{MAX_CONTENT_CHARS}"
            )
        if problems:
            raise ConnectorError("; ".join(problems), permanent=True, about_message=True)
        self.call("contactuseraboutitem", {"itemid": itemid, "content": text}, acts=True)
        found = self.find_sent(outbound)
        if found is None:
            # Accepted but not shown (yet): a retry asks find_sent again before sending.
            raise ConnectorError(
                f"{NAME}: the message was accepted but is not in item {itemid} yet",
                maybe_sent=True,
            )
        return found

    def find_sent(self, outbound: OutboundMessage) -> SendResult | None:
        """The seller's message on the item that `Connector.pick_sent` recognises (the
        service may not keep spacing as sent: texts are compared without regard to it)."""
        itemid = outbound.conversation_thread_id.strip()
        if not itemid.isdigit():
            return None
        root = self.call("getiteminfos", {"itemid": itemid})
        sale = (self.cursor.get("items") or {}).get(itemid)
        parsed = self._parse_item(root, itemid, ["UNREAD_MESSAGE_FROM_BUYER"], sale)
        # Reading the item marked the buyer's new messages read: it is off the todo list now,
        # so they are stored here or never.
        unread = [m for m, status in parsed if m.direction == "in" and status == "UNREAD"]
        if unread:
            channel_store().ingest(unread)
        return self.pick_sent(
            outbound,
            (
                SentCandidate(external_id=m.external_id, text=m.text, created_at=m.sent_at)
                for m, _ in parsed
                if m.direction == "out" and not m.meta.get("rakuten_mail")
            ),
        )

    # -- orders -------------------------------------------------------------------------------

    # Rakuten reads orders from the list of current sales: one walk of it serves them all.
    order_batch_size = 100

    def fetch_orders(self, order_numbers: Sequence[str]) -> dict[str, OrderData]:
        wanted = {n.strip() for n in order_numbers}
        found: dict[str, OrderData] = {}
        for sale in self.current_sales():
            number = _text(sale, "purchaseid")
            if number in wanted:
                found[number] = _order(sale)
                if len(found) == len(wanted):
                    break
        return found


def parse_xml(data: bytes, action: str) -> ET.Element:
    """The answer's root, parsed by defusedxml: a DOCTYPE (entity tricks, or an HTML error page)
    and any entity declaration are refused."""
    try:
        root = safe_xml.fromstring(data, forbid_dtd=True)
    except DefusedXmlException:
        raise ConnectorError(f"{NAME}: the answer to {action} has a DOCTYPE; refused") from None
    except ET.ParseError as exc:
        raise ConnectorError(f"{NAME}: the answer to {action} is not XML ({exc})") from None
    for node in root.iter():
        if isinstance(node.tag, str) and "}" in node.tag:
            node.tag = node.tag.split("}", 1)[1]
    return root


def _text(node: ET.Element, path: str) -> str:
    found = node.find(path)
    return (found.text or "").strip() if found is not None else ""


def _error_from(root: ET.Element, action: str) -> ConnectorError:
    code, message = _text(root, "error/code"), _text(root, "error/message")
    details = " ".join((d.text or "").strip() for d in root.findall("error/details/detail"))
    words = f"{NAME}: {action} failed: {code}: {message} {details}".strip()
    if "quota" in f"{message} {details}".lower():
        return ConnectorError(words, retry_after=QUOTA_WAIT)
    return ConnectorError(words, permanent=code in {"InvalidUserCredentials", "InvalidUserRights"})


def _common_fields(
    channel_id: int,
    item: ET.Element,
    itemid: str,
    sale: list[str] | None,
    messages: list[ET.Element],
    seller: str,
) -> dict[str, Any]:
    """What every message of the item shares: its thread, buyer, subject and order."""
    purchaseid, buyer, headline = sale or ["", "", ""]
    if not buyer:
        senders = [_text(m, "sender") for m in messages]
        buyer = next((s for s in senders if s and s.lower() != seller), f"item {itemid}")
    return {
        "channel_id": channel_id,
        "thread_id": itemid,
        "sender": Party(identity_kind="rakuten_user", identity_value=buyer, name=buyer),
        "subject": headline or f"Article {itemid}",
        "order_number": purchaseid,
        "language": "fr",
    }


def _claim_message(
    claim: ET.Element,
    itemid: str,
    common: dict[str, Any],
    meta: dict[str, Any],
    needs_reply: bool | None,
) -> list[tuple[InboundMessage, str]]:
    """The buyer's claim, as a message of its own (none when it says nothing)."""
    comment, created = _text(claim, "claimcomment"), _text(claim, "creationdate")
    if not (comment and created):
        return []
    claim_message = InboundMessage(
        **common,
        external_id=claim_id(itemid, created, comment),
        text=comment,
        sent_at=parse_date(created),
        needs_reply=needs_reply,
        meta={**meta, "claim": True},
    )
    return [(claim_message, _text(claim, "state"))]


def _item_messages(
    messages: list[ET.Element],
    itemid: str,
    seller: str,
    common: dict[str, Any],
    meta: dict[str, Any],
    needs_reply: bool | None,
) -> list[tuple[InboundMessage, str]]:
    """The buyer's and the seller's messages; identical ones are told apart by their rank."""
    parsed = []
    seen: Counter[tuple[str, str, str]] = Counter()
    for message in messages:
        sender, date = _text(message, "sender"), _text(message, "senddate")
        content = _text(message, "content")
        key = (sender.lower(), "".join(date.split()), content)
        occurrence = seen[key]
        seen[key] += 1
        out = sender.lower() == seller
        inbound = InboundMessage(
            **common,
            external_id=message_id(itemid, sender, date, content, occurrence),
            direction="out" if out else "in",
            text=content,
            sent_at=parse_date(date),
            needs_reply=None if out else needs_reply,
            meta=meta,
        )
        parsed.append((inbound, _text(message, "status").upper()))
    return parsed


def _service_mails(
    item: ET.Element, itemid: str, seller: str, common: dict[str, Any], meta: dict[str, Any]
) -> list[tuple[InboundMessage, str]]:
    """Mails between the seller and Rakuten's customer service about this item: reading the
    item marked them read too, so they are shown here rather than lost. They inform the agent
    (automatic, never "needs a reply": the buyer is not their reader) and are answered from
    Rakuten's back office, not by a reply to the buyer."""
    parsed = []
    for mail in reversed(item.findall("mail")):
        mailid, date = _text(mail, "mailid"), _text(mail, "senddate")
        if not mailid or not date:
            continue
        out = _text(mail, "sender").lower() == seller
        inbound = InboundMessage(
            **{**common, "subject": _text(mail, "object")[:500] or common["subject"]},
            external_id=f"{itemid}-mail-{mailid}",
            direction="out" if out else "in",
            text=_text(mail, "content"),
            sent_at=parse_date(date),
            is_auto=True,
            meta={
                **meta,
                "rakuten_mail": True,
                "from": _text(mail, "sender"),
                "to": _text(mail, "recipient"),
            },
        )
        parsed.append((inbound, _text(mail, "status").upper()))
    return parsed


def _remember(known: dict[str, list[str]], sale: ET.Element) -> list[str]:
    """Note which purchase and buyer each item of `sale` belongs to; its item ids."""
    purchaseid = _text(sale, "purchaseid")
    buyer = _text(sale, "deliveryinformation/purchasebuyerlogin")
    itemids = []
    for item in sale.findall("items/item"):
        itemid = _text(item, "itemid")
        if itemid:
            known.pop(itemid, None)  # to the end: the most recently seen stay in the cursor
            known[itemid] = [purchaseid, buyer, _text(item, "headline")]
            itemids.append(itemid)
    return itemids


def _order(sale: ET.Element) -> OrderData:
    items, total, statuses = [], Decimal(0), []
    for item in sale.findall("items/item"):
        amount = _text(item, "price/amount")
        try:
            total += Decimal(amount)
        except InvalidOperation:
            amount = ""
        items.append(
            OrderItem(sku=_text(item, "sku"), title=_text(item, "headline"), unit_price=amount)
        )
        statuses.append(STATUSES.get(_text(item, "itemstatus").upper(), "unknown"))
    order = ["pending", "accepted", "shipped", "delivered"]
    known = [s for s in statuses if s in order]
    if known:
        status = min(known, key=order.index)
    elif statuses and all(s == "cancelled" for s in statuses):
        status = "cancelled"
    else:
        status = "unknown"
    buyer = _text(sale, "deliveryinformation/purchasebuyerlogin")
    date = _text(sale, "purchasedate")
    return OrderData.model_validate(
        {
            "external_id": _text(sale, "purchaseid"),
            "status": status,
            "currency": _text(sale, "items/item/price/currency") or "EUR",
            "total": str(total) if items else "",
            "items": items,
            "ordered_at": parse_date(date) if date else None,
            "carrier": _text(sale, "deliveryinformation/shippingtype")[:64],
            "buyer": Party(identity_kind="rakuten_user", identity_value=buyer, name=buyer)
            if buyer
            else None,
        }
    )
