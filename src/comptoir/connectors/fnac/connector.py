"""The Fnac channel: buyer messages and claims read and answered through Fnac's XML API.

Endpoints followed (each a POST of an XML document to `<base_url>/<service>`, as declared in
Fnac's XSDs, see `dialect`):
- `auth` (partner_id, shop_id, key) gives a token; every other request carries `partner_id`,
  `shop_id` and `token` as attributes of its root element.
- `messages_query`: messages created since the cursor (with an overlap: ingest dedupes), sorted
  ascending, page by page (`paging`, `results_count`) up to `total_paging`. A conversation is
  the message's referer: `ORDER:<order id>` or `OFFER:<offer id>` (Fnac's messages name no
  thread of their own, so questions of several visitors on one offer share a conversation).
- `messages_update`: `reply` to the buyer's last message (or `create` on an order when there is
  none), and `mark_as_read`, sent from `acknowledge()` once the messages are stored. Its message
  has no file field: a reply with attachments is refused before anything is sent.
- `incidents_query`: claims, by update date, each stored as a message of its order's
  conversation, tagged "claim", with the claim type in `meta`; a closed claim adds an automatic
  message saying so.
- `incidents_update` (action `refund`): a case's refund of the claim (`case_ops.py`).
- `orders_query`: the buyer (Fnac's client id is the stable buyer identity) and `fetch_order`.

Exactly once: Fnac has no idempotency key for replies. `find_sent` looks among the seller's
messages on the order or offer for ours (`Connector.pick_sent`: same text, written since the
first attempt, not a message Comptoir already holds). Fnac may accept a reply without naming it
and show it later ("accepted but not in the thread yet"), so a retry that does not find it keeps
looking for 10 minutes after the unanswered request (`send_settle_seconds`) before posting again.
A refusal of one reply (an unknown message, a text the schema refuses) fails that reply only.

A token error is answered in the body (status FATAL and an `error` element) or as HTTP 401: either
way the connector signs in once more and repeats the request, rebuilt with the new token (the
token is in the body, so the shared client's own refresh could not help); a second refusal is
permanent. Every request is validated against the XSD before it goes out.
"""

from __future__ import annotations

import logging
import re
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field

from comptoir.connectors.base import (
    Connector,
    ConnectorError,
    HttpClient,
    InboundAttachment,
    InboundMessage,
    OrderData,
    OutboundMessage,
    Party,
    SendResult,
    SentCandidate,
)
from comptoir.connectors.fnac import dialect
from comptoir.connectors.fnac.case_ops import FnacCaseOperations
from comptoir.connectors.fnac.claims import claim_messages
from comptoir.connectors.fnac.dialect import q, sub, text
from comptoir.connectors.fnac.parsing import (
    MIME_TYPES,
    errors_of,
    int_or,
    is_auth_error,
    is_order,
    order_data,
    party_of,
    subject_line,
)
from comptoir.lib.filetypes import content_type_for

logger = logging.getLogger("comptoir.fnac")

UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
UUID_RE = re.compile(f"^{UUID}$")
ORDER_ID_LENGTH = 13  # order_id_restriction in common.xsd
ORDERS_PER_QUERY = 50  # order_fnac_id maxOccurs in OrdersQueryService.xsd
ORDERS_PER_QUERY = 50  # orders_fnac_id holds at most 50 ids
UPDATES_PER_REQUEST = 50
# XML 1.0 cannot carry these characters at all, so a reply holding one cannot be sent.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class FnacSettings(BaseModel):
    partner_id: str = Field(pattern=f"^{UUID}$")
    shop_id: str = Field(pattern=f"^{UUID}$")
    key: str = Field(min_length=1)
    base_url: str = "https://vendeur.fnac.com/api.php"
    timeout_seconds: float = Field(default=30.0, gt=0)
    max_attempts: int = Field(default=5, ge=1)
    page_size: int = Field(default=100, ge=1, le=100)
    # Date cursors step back this far: a message indexed a little late is still seen.
    overlap_minutes: int = Field(default=15, ge=0)
    # A first sync (or a full resync) reads this far back.
    initial_days: int = Field(default=30, ge=1)
    max_attachment_bytes: int = Field(default=10_000_000, ge=0)
    fetch_claims: bool = True


class AuthRefused(ConnectorError):
    pass


# Tokens last for a session (`validity`): every connector of a process for the same account
# shares one, rather than signing in again on each poll.
_tokens: dict[tuple[str, str, str, str], tuple[str, datetime]] = {}
_tokens_lock = threading.Lock()
# One HTTP client per endpoint and process: building one (its TLS context) costs tens of
# milliseconds, more than a Fnac call, and a kept connection saves the handshakes.
_clients: dict[tuple[str, float, int], HttpClient] = {}


def forget_tokens() -> None:
    """Drop the process's tokens and clients (tests; a changed key needs no call)."""
    with _tokens_lock:
        _tokens.clear()
        for client in _clients.values():
            client.close()
        _clients.clear()


class FnacConnector(FnacCaseOperations, Connector):
    kind = "fnac"
    send_settle_seconds = 600.0
    settings_model = FnacSettings

    def __init__(self, channel: Any) -> None:
        super().__init__(channel)
        self._http: HttpClient | None = None
        self._conf: FnacSettings | None = None
        self._to_mark: list[str] = []
        self._buyers: dict[str, Party] = {}

    # -- plumbing -----------------------------------------------------------------------------

    def conf(self) -> FnacSettings:
        # Read once per connector: the settings are decrypted on each read.
        if self._conf is None:
            conf = self.settings()
            assert isinstance(conf, FnacSettings)
            self._conf = conf
        return self._conf

    @property
    def http(self) -> HttpClient:
        if self._http is None:
            conf = self.conf()
            key = (conf.base_url.rstrip("/") + "/", conf.timeout_seconds, conf.max_attempts)
            with _tokens_lock:
                client = _clients.get(key)
                if client is None:
                    client = _clients[key] = HttpClient(
                        key[0], name="Fnac", timeout=key[1], max_attempts=key[2]
                    )
            self._http = client
        return self._http

    def _token_key(self) -> tuple[str, str, str, str]:
        conf = self.conf()
        return (conf.base_url, conf.partner_id, conf.shop_id, conf.key)

    def _token(self, *, fresh: bool = False) -> str:
        key = self._token_key()
        with _tokens_lock:
            cached = _tokens.get(key)
        if cached and not fresh and cached[1] > datetime.now(UTC) + timedelta(seconds=30):
            return cached[0]
        conf = self.conf()
        request = dialect.element("auth")
        sub(request, "partner_id", conf.partner_id)
        sub(request, "shop_id", conf.shop_id)
        sub(request, "key", conf.key)
        try:
            root = self._post("auth", request, idempotent=True)
        except ConnectorError as exc:
            if exc.status in (401, 403):
                raise AuthRefused(
                    f"Fnac refused to sign in (HTTP {exc.status}): check the partner id, shop "
                    "id and key of this channel",
                    permanent=True,
                    status=exc.status,
                ) from exc
            raise
        token = text(root, "token")
        if root.get("status") not in ("OK", "WARNING") or not token:
            raise AuthRefused(
                f"Fnac refused to sign in as shop {conf.shop_id}: {errors_of(root) or 'no token'}"
                " (check the partner id, shop id and key of this channel)",
                permanent=True,
            )
        validity = dialect.parse_datetime(text(root, "validity")) or (
            datetime.now(UTC) + timedelta(minutes=30)
        )
        with _tokens_lock:
            _tokens[key] = (token, validity)
        return token

    def _post(self, service: str, request: ET.Element, *, idempotent: bool) -> ET.Element:
        wrong = dialect.problems(request)
        if wrong:
            # A bug on our side: sending it would only be refused.
            raise ConnectorError(
                f"Comptoir built a {service} request Fnac's schema refuses: {'; '.join(wrong)}",
                permanent=True,
                # What the schema refuses comes from what this request carries (a reply's text).
                about_message=True,
            )
        response = self.http.request(
            "POST",
            service,
            content=dialect.serialize(request),
            headers={"Content-Type": "text/xml; charset=utf-8"},
            idempotent=idempotent,
        )
        try:
            root = dialect.parse(response.content)
        except dialect.XmlError as exc:
            raise ConnectorError(f"Fnac answered {service} with a bad document: {exc}") from None
        if root.tag != q(f"{service}_response"):
            raise ConnectorError(
                f"Fnac answered {service} with <{dialect.local(root.tag)}>, "
                f"not <{service}_response>"
            )
        return root

    def call(
        self,
        service: str,
        build: Callable[[ET.Element], object],
        *,
        idempotent: bool = True,
        results_count: int | None = None,
    ) -> ET.Element:
        """Sign in if needed, send one request (built by `build` on a root carrying the
        header), sign in once more on a token error, and return the answer's root."""
        conf = self.conf()
        for attempt in (1, 2):
            token = self._token(fresh=attempt == 2)
            request = dialect.element(
                service, {"partner_id": conf.partner_id, "shop_id": conf.shop_id, "token": token}
            )
            if results_count is not None:
                request.set("results_count", str(results_count))
            build(request)
            try:
                root = self._post(service, request, idempotent=idempotent)
            except AuthRefused:
                raise
            except ConnectorError as exc:
                if exc.status in (401, 403) and attempt == 1:
                    continue
                if exc.status in (401, 403):
                    raise ConnectorError(
                        f"Fnac refused {service} (HTTP {exc.status}) even with a new token: the "
                        "account may lack the rights for it or be suspended",
                        permanent=True,
                        status=exc.status,
                    ) from exc
                raise
            if root.get("status") in ("ERROR", "FATAL") and is_auth_error(root):
                if attempt == 1:
                    continue
                raise ConnectorError(
                    f"Fnac refused the token for {service} right after signing in: "
                    f"{errors_of(root)}",
                    permanent=True,
                )
            if root.get("status") == "FATAL":
                raise ConnectorError(f"Fnac could not process {service}: {errors_of(root)}")
            return root
        raise AssertionError("unreachable")

    # -- connection ---------------------------------------------------------------------------

    def test_connection(self) -> str:
        conf = self.conf()
        self._token(fresh=True)
        root = self.call("messages_query", lambda r: sub(r, "paging", "1"), results_count=1)
        unread = text(root, "messages_unread_result") or "0"
        return f"connected as shop {conf.shop_id} ({unread} unread messages)"

    # -- fetch --------------------------------------------------------------------------------

    def fetch(self, since: dict[str, Any]) -> Iterator[InboundMessage]:
        conf = self.conf()
        self._to_mark = []
        start = datetime.now(UTC)
        seen: set[str] = set()
        for key, pages in (("messages", self._message_pages), ("claims", self._claim_pages)):
            if key == "claims" and not conf.fetch_claims:
                continue
            cursor = dialect.parse_datetime(str(since.get(key) or ""))
            newest = cursor
            floor = (
                cursor - timedelta(minutes=conf.overlap_minutes)
                if cursor
                else start - timedelta(days=conf.initial_days)
            )
            for msg, when in pages(floor):
                if msg.external_id in seen:  # a page repeated while paging
                    continue
                seen.add(msg.external_id)
                newest = when if newest is None or when > newest else newest
                yield msg
            if newest is not None:
                # Never ahead of now: a marketplace clock a little fast must not skip messages.
                self.cursor[key] = dialect.xs_datetime(min(newest, start))

    def _pages(
        self, service: str, item: str, build: Callable[[ET.Element, int], None]
    ) -> Iterator[list[ET.Element]]:
        page = 1
        while True:

            def build_page(request: ET.Element, number: int = page) -> None:
                build(request, number)

            root = self.call(service, build_page, results_count=self.conf().page_size)
            items = root.findall(q(item))
            yield items
            total = int_or(text(root, "total_paging"), 1)
            if not items or page >= total:
                return
            page += 1

    def _message_pages(self, floor: datetime) -> Iterator[tuple[InboundMessage, datetime]]:
        def build(request: ET.Element, page: int) -> None:
            sub(request, "paging", str(page))
            date = sub(request, "date", type="CreatedAt")
            sub(date, "min", dialect.xs_datetime(floor))
            sub(request, "sort_by", "CREATED_AT", type="ASC")

        for items in self._pages("messages_query", "message", build):
            self._load_buyers([text(m, "message_referer") for m in items if is_order(m)])
            for item in items:
                built = self._inbound(item)
                if built is not None:
                    yield built

    def _inbound(self, item: ET.Element) -> tuple[InboundMessage, datetime] | None:
        conf = self.conf()
        message_id = text(item, "message_id")
        referer = item.find(q("message_referer"))
        kind = referer.get("type", "ORDER") if referer is not None else "ORDER"
        referer_id = text(item, "message_referer")
        sender = item.find(q("message_from"))
        from_type = sender.get("type", "") if sender is not None else ""
        from_name = (sender.text or "").strip() if sender is not None else ""
        created = dialect.parse_datetime(text(item, "created_at"))
        if not message_id or created is None:
            logger.warning("Fnac message without id or date skipped: %r", message_id)
            return None
        order_number = referer_id if kind == "ORDER" else ""
        meta: dict[str, Any] = {
            "fnac_message_id": message_id,
            "fnac_from_type": from_type,
            "fnac_subject": text(item, "message_subject"),
            "fnac_referer": f"{kind}:{referer_id}",
        }
        if kind == "OFFER":
            meta["fnac_offer_title"] = text(item, "message_offer_title")
        direction = "out" if from_type == "SELLER" else "in"
        if direction == "out":
            party = Party(identity_kind="fnac_shop", identity_value=conf.shop_id, name="Seller")
        elif from_type in ("CALLCENTER", "SYSTEM"):
            party = Party(identity_kind="fnac_callcenter", identity_value="fnac", name="Fnac")
        else:
            party = self._buyer(kind, referer_id, from_name)
        if direction == "in" and item.get("state") == "UNREAD":
            self._to_mark.append(message_id)
        answered = bool(text(item, "answer"))
        msg = InboundMessage(
            channel_id=self.channel.pk,
            external_id=message_id,
            direction=direction,  # type: ignore[arg-type]
            sender=party,
            subject=subject_line(text(item, "message_subject"), kind, referer_id),
            text=text(item, "message_description"),
            sent_at=min(created, datetime.now(UTC)),
            thread_id=f"{kind}:{referer_id}",
            message_id=message_id,
            order_number=order_number,
            needs_reply=(not answered) if from_type == "CLIENT" else None,
            is_auto=from_type == "SYSTEM",
            attachments=[self._download(f) for f in item.findall(q("message_file"))],
            meta=meta,
        )
        return msg, created

    def _download(self, file: ET.Element) -> InboundAttachment:
        conf = self.conf()
        name = text(file, "name") or "attachment"
        ctype = text(file, "filetype") or "application/octet-stream"
        if "/" not in ctype:  # Fnac may give an extension ("pdf") rather than a MIME type
            ctype = MIME_TYPES.get(ctype.lower().lstrip("."), "application/octet-stream")
        response = self.http.request("GET", text(file, "url"))
        data = response.content
        if len(data) > conf.max_attachment_bytes:
            return InboundAttachment(
                filename=name,
                content_type=ctype,
                data=b"",
                size=len(data),
                dropped_reason=f"larger than the channel's {conf.max_attachment_bytes} bytes",
            )
        return InboundAttachment(
            filename=name,
            content_type=content_type_for(name, data, ctype),
            data=data,
            size=len(data),
        )

    def _claim_pages(self, floor: datetime) -> Iterator[tuple[InboundMessage, datetime]]:
        def build(request: ET.Element, page: int) -> None:
            sub(request, "paging", str(page))
            date = sub(request, "date", type="UpdatedAt")
            sub(date, "min", dialect.xs_datetime(floor))
            sub(request, "sort_by", "ASC")

        for items in self._pages("incidents_query", "incident", build):
            headers = [(i, i.find(q("header"))) for i in items]
            self._load_buyers([text(h, "order_id") for _, h in headers if h is not None])
            for incident, header in headers:
                if header is None:
                    continue
                yield from claim_messages(
                    incident,
                    header,
                    channel_id=self.channel.pk,
                    buyer=lambda order_id: self._buyer("ORDER", order_id, ""),
                )

    def _buyer(self, kind: str, referer_id: str, name: str) -> Party:
        if kind == "ORDER" and referer_id in self._buyers:
            buyer = self._buyers[referer_id]
            return buyer.model_copy(update={"name": buyer.name or name[:200]})
        # Without the order, the referer is the most stable thing known of the buyer.
        value = f"{kind.lower()}:{referer_id}" + (f":{name}" if kind == "OFFER" else "")
        return Party(identity_kind="fnac_customer", identity_value=value[:320], name=name[:200])

    def _load_buyers(self, order_ids: list[str]) -> None:
        """Fnac's client id (from the orders) is the buyer's identity across orders."""
        wanted = sorted(
            {o for o in order_ids if len(o) == ORDER_ID_LENGTH and o not in self._buyers}
        )
        for start in range(0, len(wanted), ORDERS_PER_QUERY):
            chunk = wanted[start : start + ORDERS_PER_QUERY]
            for order in self._orders(chunk):
                self._buyers[text(order, "order_id")] = party_of(order)

    def _orders(self, order_ids: list[str]) -> list[ET.Element]:
        def build(request: ET.Element) -> None:
            sub(request, "paging", "1")
            ids = sub(request, "orders_fnac_id")
            for order_id in order_ids:
                sub(ids, "order_fnac_id", order_id)

        root = self.call("orders_query", build, results_count=max(len(order_ids), 1))
        return root.findall(q("order"))

    def acknowledge(self) -> None:
        """Mark what was stored as read on Fnac (its back office shows it handled)."""
        pending, self._to_mark = self._to_mark, []
        for start in range(0, len(pending), UPDATES_PER_REQUEST):
            chunk = pending[start : start + UPDATES_PER_REQUEST]

            def build(request: ET.Element, ids: list[str] = chunk) -> None:
                for message_id in ids:
                    sub(request, "message", action="mark_as_read", id=message_id)

            try:
                self.call("messages_update", build, idempotent=True)
            except ConnectorError as exc:
                logger.warning("Fnac: could not mark %d messages read: %s", len(chunk), exc)

    # -- send ---------------------------------------------------------------------------------

    def send(self, outbound: OutboundMessage) -> SendResult:
        kind, referer_id = self._check(outbound)
        reply_to = outbound.in_reply_to if UUID_RE.match(outbound.in_reply_to) else ""
        if not reply_to and kind != "ORDER":
            raise ConnectorError(
                "Fnac answers a question about an offer only as a reply to it, and this "
                "conversation has no Fnac message to reply to",
                permanent=True,
                about_message=True,
            )

        def build(request: ET.Element) -> None:
            action, target = ("reply", reply_to) if reply_to else ("create", referer_id)
            message = sub(request, "message", action=action, id=target)
            sub(message, "message_to", "CLIENT")
            sub(
                message,
                "message_subject",
                "order_information" if kind == "ORDER" else "product_information",
            )
            sub(message, "message_description", outbound.text)
            sub(message, "message_type", kind)

        root = self.call("messages_update", build, idempotent=False)
        result = root.find(q("message"))
        status = result.get("status", "") if result is not None else root.get("status", "")
        if status not in ("OK", "WARNING"):
            errors = errors_of(result if result is not None else root) or errors_of(root)
            raise ConnectorError(
                f"Fnac refused the reply: {errors or status}", permanent=True, about_message=True
            )
        new_id = result.get("id", "") if result is not None else ""
        if new_id and new_id not in (reply_to, referer_id):
            return SendResult(external_id=new_id)
        # Fnac did not say which message it made: it is the seller's newest with this text.
        found = self.find_sent(outbound)
        if found is None:
            raise ConnectorError(
                "Fnac accepted the reply but it is not in the thread yet", maybe_sent=True
            )
        return found

    def _check(self, outbound: OutboundMessage) -> tuple[str, str]:
        """Refuse, before anything is sent, what Fnac cannot take."""
        if outbound.attachments:
            names = ", ".join(a.filename for a in outbound.attachments)
            raise ConnectorError(
                "Fnac replies cannot carry attachments (its messages_update API has no file "
                f"field): remove {names} and send the text alone",
                permanent=True,
                about_message=True,
            )
        if not outbound.text.strip():
            raise ConnectorError(
                "Fnac does not accept an empty reply", permanent=True, about_message=True
            )
        if _XML_ILLEGAL.search(outbound.text):
            raise ConnectorError(
                "the reply holds control characters Fnac's XML API cannot carry: retype it",
                permanent=True,
                about_message=True,
            )
        kind, _, referer_id = outbound.conversation_thread_id.partition(":")
        if kind not in ("ORDER", "OFFER") or not referer_id:
            raise ConnectorError(
                f"this conversation is not a Fnac thread ({outbound.conversation_thread_id!r})",
                permanent=True,
                about_message=True,
            )
        return kind, referer_id

    def find_sent(self, outbound: OutboundMessage) -> SendResult | None:
        """The seller's message on the order or offer that `Connector.pick_sent` recognises."""
        kind, referer_id = self._check(outbound)

        def build(request: ET.Element, page: int) -> None:
            sub(request, "paging", str(page))
            sub(request, "order_fnac_id" if kind == "ORDER" else "offer_fnac_id", referer_id)
            types = sub(request, "message_from_types")
            sub(types, "from_type", "SELLER")
            sub(request, "sort_by", "CREATED_AT", type="ASC")

        candidates: list[SentCandidate] = []
        for items in self._pages("messages_query", "message", build):
            for item in items:
                sender = item.find(q("message_from"))
                if sender is not None and sender.get("type") != "SELLER":
                    continue
                candidates.append(
                    SentCandidate(
                        external_id=text(item, "message_id"),
                        text=text(item, "message_description"),
                        created_at=dialect.parse_datetime(text(item, "created_at")),
                    )
                )
        return self.pick_sent(outbound, candidates)

    # -- orders -------------------------------------------------------------------------------

    # orders_query takes 50 `order_fnac_id` at most (OrdersQueryService.xsd).
    order_batch_size = ORDERS_PER_QUERY

    def fetch_orders(self, order_numbers: Sequence[str]) -> dict[str, OrderData]:
        # Not Fnac order ids are left out: Fnac's schema would refuse the whole query.
        numbers = list(dict.fromkeys(n.strip() for n in order_numbers))
        numbers = [n for n in numbers if len(n) == ORDER_ID_LENGTH]
        found: dict[str, OrderData] = {}
        for start in range(0, len(numbers), ORDERS_PER_QUERY):
            chunk = numbers[start : start + ORDERS_PER_QUERY]
            for order in self._orders(chunk):
                number = text(order, "order_id")
                if number in chunk:
                    found[number] = order_data(order)
        return found
