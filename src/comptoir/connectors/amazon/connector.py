"""The Amazon Selling Partner API channel: orders, and Amazon's proactive order messages.

Buyers write through Buyer-Seller Messaging, which relays mail between an anonymised buyer alias
and the seller's mailbox: reading and answering them is the email channel's work. The SP-API
cannot answer a buyer message; this channel reads orders and sends the fixed, order-scoped
message types Amazon allows. So it fetches nothing, and `send` refuses.

Endpoints followed (Amazon's published models):
- Login with Amazon `POST /auth/o2/token` (grant_type=refresh_token): an access token sent as
  `x-amz-access-token`, refreshed when it expires (a 401, or Amazon's 403 "The access token you
  provided has expired."). Requests are not SigV4-signed: SP-API no longer asks for it.
- Orders v0: getOrders `GET /orders/v0/orders` with `AmazonOrderIds` (up to 50 ids, NextToken)
  for `fetch_orders`, getOrder `GET /orders/v0/orders/{orderId}` for a single `fetch_order`,
  and getOrderItems `GET /orders/v0/orders/{orderId}/orderItems` (NextToken) for each order's
  items, which no list call returns; getOrders (a one-day window, one result) also serves
  `test_connection`.
- Messaging v1: getMessagingActionsForOrder `GET /messaging/v1/orders/{amazonOrderId}` for
  `allowed_messages`, and `POST /messaging/v1/orders/{amazonOrderId}/messages/{type}` for
  `send_proactive`, with the order's `marketplaceIds`.
- Uploads 2020-11-01: createUploadDestinationForResource
  `POST /uploads/2020-11-01/uploadDestinations/{resource}`, then a PUT of the file to the
  destination's URL, for attachments.

Rate limits follow Amazon's default usage plans, one bucket per seller shared by every worker
thread of the process (Messaging: 1 request/s, burst 5).

Exactly once: Amazon's message calls have no idempotency key, and nothing reads back the
messages a seller sent. A proactive message whose answer was lost (a timeout, a dropped
connection, a 5xx) may have reached the buyer, so it is never sent again automatically: the
caller gets `ConnectorError(maybe_sent=True, permanent=True)` and a human checks Seller Central.
A duplicate message to a buyer is worse than one that needs a look. That error is about the
message (`about_message`): the channel stays healthy. (This connector has no `find_sent`, so the
send task's settle time does not apply: "unknown: check" is the answer.)
"""

from __future__ import annotations

import base64
import hashlib
import re
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from pydantic import BaseModel, Field

from comptoir.connectors.amazon.orders import order_data
from comptoir.connectors.base import (
    Connector,
    ConnectorError,
    HttpClient,
    OrderData,
    OutboundAttachment,
    OutboundMessage,
    SendResult,
    channel_store,
    parse_json,
)
from comptoir.lib import http
from comptoir.lib.http import RateLimit, shared_rate_limit

if TYPE_CHECKING:
    from comptoir.connectors.base import ChannelInfo

NAME = "Amazon SP-API"
ORDER_ID = re.compile(r"^\d{3}-\d{7}-\d{7}$")
EXPIRED = "access token you provided has expired"
TEMPLATE_REFUSED = "Invalid amazonOrderId and template combination"
MAX_ATTACHMENTS = 5

ORDER_IDS_PER_REQUEST = 50
# getOrders needs CreatedAfter or LastUpdatedAfter even when it names the orders.
ORDERS_EPOCH = "2000-01-01T00:00:00Z"

# Default usage plans (requests per second, burst) of the operations used.
PLANS: dict[str, tuple[float, int]] = {
    "messaging": (1.0, 5),
    "orders": (0.5, 30),
    "getOrders": (0.0167, 20),
    "uploads": (10.0, 10),
}


class MessageType(BaseModel):
    text_max: int = 0  # 0: the type takes no text
    attachments: bool = False
    needs_attachment: bool = False


# The proactive message types of Messaging v1 and what their bodies take.
MESSAGE_TYPES: dict[str, MessageType] = {
    "confirmCustomizationDetails": MessageType(text_max=800, attachments=True),
    "confirmDeliveryDetails": MessageType(text_max=2000),
    "confirmOrderDetails": MessageType(text_max=2000),
    "confirmServiceDetails": MessageType(text_max=2000),
    "unexpectedProblem": MessageType(text_max=2000),
    "digitalAccessKey": MessageType(text_max=400, attachments=True),
    "legalDisclosure": MessageType(attachments=True, needs_attachment=True),
    "invoice": MessageType(attachments=True, needs_attachment=True),
    "warranty": MessageType(attachments=True, needs_attachment=True),
}


class AmazonSettings(BaseModel):
    # Login with Amazon: the app's client and the seller's authorisation of it.
    client_id: str
    client_secret: str
    refresh_token: str
    seller_id: str  # the selling partner id: one rate budget per seller
    marketplace_id: str = "A13V1IB3VIYZZH"  # Amazon.fr
    shop_name: str = ""
    endpoint: str = "https://sellingpartnerapi-eu.amazon.com"
    token_url: str = "https://api.amazon.com/auth/o2/token"
    timeout_seconds: float = 30.0
    max_attempts: int = Field(default=5, ge=1)
    # Per attachment file, checked before uploading so that the agent reads why it was refused.
    max_attachment_bytes: int = Field(default=10_000_000, ge=0)


# Access tokens last an hour: every connector of the process for the same authorisation uses
# the same one rather than asking Login with Amazon per task.
_tokens: dict[str, tuple[str, float]] = {}
_tokens_lock = threading.Lock()


class AuthError(ConnectorError):
    """Amazon refused the credentials: the channel needs a human."""


class AmazonConnector(Connector):
    """Amazon SP-API: `fetch_order`, `allowed_messages`, `send_proactive`, `test_connection`."""

    kind: ClassVar[str] = "amazon"
    settings_model = AmazonSettings

    def __init__(self, channel: ChannelInfo) -> None:
        super().__init__(channel)
        self._clients: dict[str, HttpClient] = {}

    # -- configuration ------------------------------------------------------------------------

    def conf(self) -> AmazonSettings:
        conf = self.settings()
        assert isinstance(conf, AmazonSettings)
        return conf

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()

    def _client(self, plan: str) -> HttpClient:
        client = self._clients.get(plan)
        if client is None:
            conf = self.conf()
            rate, burst = PLANS[plan]
            bucket: RateLimit = shared_rate_limit(
                f"amazon-{plan}:{conf.seller_id}", rate=rate, burst=burst
            )
            client = self._clients[plan] = HttpClient(
                conf.endpoint,
                name=NAME,
                timeout=conf.timeout_seconds,
                max_attempts=conf.max_attempts,
                headers=self._auth_headers,
                refresh_auth=self._renew,
                rate_limit=bucket,
            )
        return client

    def _plain_client(self, name: str, base_url: str) -> HttpClient:
        """For Login with Amazon and the upload store: no SP-API token goes there."""
        client = self._clients.get(name)
        if client is None:
            conf = self.conf()
            client = self._clients[name] = HttpClient(
                base_url,
                name=name,
                timeout=conf.timeout_seconds,
                max_attempts=conf.max_attempts,
            )
        return client

    # -- Login with Amazon --------------------------------------------------------------------

    def _token_key(self) -> str:
        conf = self.conf()
        raw = f"{conf.token_url}\n{conf.client_id}\n{conf.refresh_token}"
        return hashlib.sha256(raw.encode()).hexdigest()

    def _auth_headers(self) -> dict[str, str]:
        key = self._token_key()
        with _tokens_lock:
            cached = _tokens.get(key)
        fresh = cached is not None and cached[1] > http.monotonic()
        token = cached[0] if cached is not None and fresh else self._refresh()
        return {"x-amz-access-token": token, "user-agent": "Comptoir/1.0 (Language=Python)"}

    def _renew(self) -> None:
        self._refresh()

    def _refresh(self) -> str:
        conf = self.conf()
        url = urlsplit(conf.token_url)
        client = self._plain_client("Login with Amazon", f"{url.scheme}://{url.netloc}")
        try:
            response = client.request(
                "POST",
                url.path,
                data={
                    "grant_type": "refresh_token",
                    "refresh_token": conf.refresh_token,
                    "client_id": conf.client_id,
                    "client_secret": conf.client_secret,
                },
                # Asking for a token twice only gives two tokens.
                idempotent=True,
            )
        except ConnectorError as exc:
            if not exc.permanent:
                raise
            raise AuthError(
                f"Login with Amazon refused the channel's credentials ({exc}). Authorise the "
                "app again in Seller Central and update the refresh token, client id and secret.",
                permanent=True,
                status=exc.status,
            ) from exc
        body = parse_json(response, "Login with Amazon")
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise ConnectorError(f"Login with Amazon answered without an access token: {body}")
        lifetime = float(body.get("expires_in") or 3600)
        # Renew a little early rather than send a token that expires on the way.
        expires_at = http.monotonic() + lifetime - min(60.0, lifetime / 10)
        with _tokens_lock:
            _tokens[self._token_key()] = (token, expires_at)
        return token

    # -- calls --------------------------------------------------------------------------------

    def _call(self, plan: str, method: str, path: str, **kwargs: Any) -> http.Response:
        """One SP-API request; an expired token (Amazon says so with a 403) is renewed once,
        and a refusal of the credentials marks the channel unhealthy."""
        client = self._client(plan)
        try:
            try:
                return client.request(method, path, **kwargs)
            except ConnectorError as exc:
                if exc.status != 403 or EXPIRED not in str(exc):
                    raise
            # A 403 for an expired token: Amazon did nothing, so sending again is safe.
            self._refresh()
            return client.request(method, path, **kwargs)
        except AuthError as exc:
            self._mark_unhealthy(exc)
            raise
        except ConnectorError as exc:
            if exc.status not in (401, 403) or TEMPLATE_REFUSED in str(exc):
                raise
            error = AuthError(
                f"Amazon refused access ({exc}). Check in Seller Central that the app is still "
                "authorised for this seller and has the Orders and Buyer Communication roles.",
                permanent=True,
                status=exc.status,
            )
            self._mark_unhealthy(error)
            raise error from exc

    def _mark_unhealthy(self, error: ConnectorError) -> None:
        channel_store().mark_unhealthy(self.channel, str(error))

    def _marketplace(self) -> dict[str, str]:
        return {"marketplaceIds": self.conf().marketplace_id}

    # -- the Connector contract ---------------------------------------------------------------

    def test_connection(self) -> str:
        conf = self.conf()
        since = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        response = self._call(
            "getOrders",
            "GET",
            "/orders/v0/orders",
            params={
                "MarketplaceIds": conf.marketplace_id,
                "CreatedAfter": since,
                "MaxResultsPerPage": 1,
            },
        )
        payload = _payload(response)
        count = len(payload.get("Orders") or [])
        more = " or more" if payload.get("NextToken") else ""
        who = conf.shop_name or conf.seller_id
        return (
            f"connected as shop {who} on marketplace {conf.marketplace_id}: "
            f"{count}{more} order(s) in the last 24 hours"
        )

    # Those that take text: what a first message about an order may be (care, docs/care.md).
    order_message_types = tuple(k for k, t in MESSAGE_TYPES.items() if t.text_max)

    def send(self, outbound: OutboundMessage) -> SendResult:
        if outbound.message_type and outbound.order_number:
            # A proactive message queued on the order (care): one of Amazon's typed messages.
            return self.send_proactive(
                outbound.order_number.strip(),
                outbound.message_type,
                outbound.text,
                outbound.attachments,
            )
        raise ConnectorError(
            "Amazon buyer messages are answered from the email channel: Amazon relays them by "
            "email, and its API cannot reply to a buyer. This channel only sends Amazon's "
            "proactive order messages.",
            permanent=True,
            about_message=True,  # the channel is fine: the reply went to the wrong one
        )

    # getOrders' `AmazonOrderIds` takes at most 50 ids (maxItems in the Orders v0 model).
    order_batch_size = ORDER_IDS_PER_REQUEST

    def fetch_orders(self, order_numbers: Sequence[str]) -> dict[str, OrderData]:
        ids = {n: n.strip() for n in order_numbers if ORDER_ID.match(n.strip())}
        wanted = list(dict.fromkeys(ids.values()))
        if len(wanted) == 1:
            # One order: getOrder's budget (0.5/s) is far wider than getOrders' (one a minute).
            found = self.fetch_order(wanted[0])
            return {n: found for n in ids if found is not None}
        orders: dict[str, dict[str, Any]] = {}
        for start in range(0, len(wanted), ORDER_IDS_PER_REQUEST):
            orders.update(self._list_orders(wanted[start : start + ORDER_IDS_PER_REQUEST]))
        # Items are not in getOrders' answer: getOrderItems is the only way to them.
        data = {oid: order_data(order, self._order_items(oid)) for oid, order in orders.items()}
        return {n: data[oid] for n, oid in ids.items() if oid in data}

    def _list_orders(self, chunk: list[str]) -> dict[str, dict[str, Any]]:
        """getOrders for these ids, every page; by id, only the ones asked for."""
        params: dict[str, Any] = {
            "MarketplaceIds": self.conf().marketplace_id,
            "AmazonOrderIds": ",".join(chunk),
            # The model requires a date filter even with ids: one before any order.
            "CreatedAfter": ORDERS_EPOCH,
            "MaxResultsPerPage": ORDER_IDS_PER_REQUEST,
        }
        found: dict[str, dict[str, Any]] = {}
        seen_tokens: set[str] = set()
        while True:
            page = _payload(self._call("getOrders", "GET", "/orders/v0/orders", params=params))
            for order in page.get("Orders") or []:
                if order.get("AmazonOrderId") in chunk:
                    found[str(order["AmazonOrderId"])] = order
            token = page.get("NextToken") or None
            if token is None:
                return found
            if token in seen_tokens:
                raise ConnectorError(f"{NAME}: getOrders loops on a page")
            seen_tokens.add(token)
            # NextToken keeps the filters, which go with it (the model says so).
            params = {**params, "NextToken": token}

    def fetch_order(self, order_number: str) -> OrderData | None:
        order_id = order_number.strip()
        if not ORDER_ID.match(order_id):
            return None  # not an Amazon order id (3-7-7 digits)
        try:
            order = _payload(self._call("orders", "GET", f"/orders/v0/orders/{order_id}"))
        except ConnectorError as exc:
            if exc.status == 404:
                return None
            raise
        return order_data(order, self._order_items(order_id))

    def _order_items(self, order_id: str) -> list[dict[str, Any]]:
        items: dict[str, dict[str, Any]] = {}
        token: str | None = None
        seen_tokens: set[str] = set()
        while True:
            params = {"NextToken": token} if token else None
            page = _payload(
                self._call(
                    "orders", "GET", f"/orders/v0/orders/{order_id}/orderItems", params=params
                )
            )
            for item in page.get("OrderItems") or []:
                # A page may repeat items of the one before: the item id says which.
                items.setdefault(str(item.get("OrderItemId")), item)
            token = page.get("NextToken") or None
            if token is None:
                break
            if token in seen_tokens:
                raise ConnectorError(f"{NAME}: getOrderItems of {order_id} loops on a page")
            seen_tokens.add(token)
        return list(items.values())

    # -- proactive messages -------------------------------------------------------------------

    def allowed_messages(self, order_id: str) -> list[str]:
        """The message types Amazon allows on this order now (they change with its status)."""
        body = parse_json(
            self._call(
                "messaging",
                "GET",
                f"/messaging/v1/orders/{order_id}",
                params=self._marketplace(),
            ),
            NAME,
        )
        actions = (body.get("_links") or {}).get("actions") or []
        return [str(a["name"]) for a in actions if isinstance(a, dict) and a.get("name")]

    def send_proactive(
        self,
        order_id: str,
        kind: str,
        text: str,
        attachments: list[OutboundAttachment] | None = None,
    ) -> SendResult:
        """Send one of Amazon's order messages (`kind`: confirmDeliveryDetails,
        unexpectedProblem...). Refused before sending when the message breaks the type's
        limits; `ConnectorError(maybe_sent=True)` when its answer was lost (never resent)."""
        files = list(attachments or [])
        self._check_message(kind, text, files)
        body: dict[str, Any] = {}
        if text:
            body["text"] = text
        if files:
            body["attachments"] = [
                {"uploadDestinationId": self._upload(order_id, kind, f), "fileName": f.filename}
                for f in files
            ]
        path = f"/messaging/v1/orders/{order_id}/messages/{kind}"
        try:
            response = self._call(
                "messaging", "POST", path, params=self._marketplace(), json_body=body
            )
        except ConnectorError as exc:
            if exc.maybe_sent:
                raise ConnectorError(
                    f"Amazon may have delivered the {kind} message on order {order_id}: its "
                    f"answer was lost ({exc}). Amazon offers no way to read sent messages, so it "
                    "was not sent again; check the order in Seller Central before resending.",
                    maybe_sent=True,
                    permanent=True,
                    about_message=True,
                    status=exc.status,
                ) from exc
            if TEMPLATE_REFUSED in str(exc):
                raise self._refused(order_id, kind) from exc
            raise
        # Amazon gives no message id: ours names the order, the type and the answer's request.
        request_id = response.headers.get("x-amzn-RequestId", "")
        stamp = datetime.now(UTC)
        external = f"{order_id}/{kind}/{request_id or stamp.strftime('%Y%m%dT%H%M%S.%f')}"
        return SendResult(external_id=external, sent_at=stamp)

    def _refused(self, order_id: str, kind: str) -> ConnectorError:
        try:
            allowed = ", ".join(self.allowed_messages(order_id)) or "none"
        except ConnectorError:
            allowed = "unknown (Amazon did not answer)"
        return ConnectorError(
            f"Amazon does not allow a {kind} message on order {order_id} now (allowed: {allowed}).",
            permanent=True,
            about_message=True,
            status=403,
        )

    def _check_message(self, kind: str, text: str, files: list[OutboundAttachment]) -> None:
        spec = MESSAGE_TYPES.get(kind)
        if spec is None:
            raise ConnectorError(
                f"{kind!r} is not an Amazon message type; one of {', '.join(MESSAGE_TYPES)}",
                permanent=True,
                about_message=True,
            )
        if text and not spec.text_max:
            raise ConnectorError(
                f"an Amazon {kind} message carries attachments only, no text",
                permanent=True,
                about_message=True,
            )
        if spec.text_max and not text and not files:
            raise ConnectorError(
                f"an Amazon {kind} message needs a text", permanent=True, about_message=True
            )
        if len(text) > spec.text_max and spec.text_max:
            raise ConnectorError(
                f"the text has {len(text)} characters; Amazon takes at most {spec.text_max} "
                f"in a {kind} message",
                permanent=True,
                about_message=True,
            )
        if files and not spec.attachments:
            raise ConnectorError(
                f"an Amazon {kind} message cannot carry attachments",
                permanent=True,
                about_message=True,
            )
        if spec.needs_attachment and not files:
            raise ConnectorError(
                f"an Amazon {kind} message needs an attachment", permanent=True, about_message=True
            )
        if len(files) > MAX_ATTACHMENTS:
            raise ConnectorError(
                f"{len(files)} attachments; Amazon takes at most {MAX_ATTACHMENTS}",
                permanent=True,
                about_message=True,
            )
        cap = self.conf().max_attachment_bytes
        for f in files:
            if len(f.data) > cap:
                raise ConnectorError(
                    f"{f.filename} is {len(f.data)} bytes; this channel sends at most {cap} "
                    "bytes per file to Amazon",
                    permanent=True,
                    about_message=True,
                )
            if not f.data:
                raise ConnectorError(f"{f.filename} is empty", permanent=True, about_message=True)

    def _upload(self, order_id: str, kind: str, file: OutboundAttachment) -> str:
        md5 = base64.b64encode(hashlib.md5(file.data).digest()).decode()
        resource = f"messaging/v1/orders/{order_id}/messages/{kind}"
        destination = _payload(
            self._call(
                "uploads",
                "POST",
                f"/uploads/2020-11-01/uploadDestinations/{resource}",
                params={
                    **self._marketplace(),
                    "contentMD5": md5,
                    "contentType": file.content_type,
                },
                # A destination not used is harmless: asking again is safe.
                idempotent=True,
            )
        )
        url = urlsplit(str(destination.get("url") or ""))
        upload_id = str(destination.get("uploadDestinationId") or "")
        if not url.scheme or not upload_id:
            raise ConnectorError(f"{NAME}: the upload destination is incomplete: {destination}")
        store = self._plain_client("Amazon upload store", f"{url.scheme}://{url.netloc}")
        headers = {str(k): str(v) for k, v in (destination.get("headers") or {}).items()}
        headers.setdefault("Content-MD5", md5)
        headers.setdefault("Content-Type", file.content_type)
        target = url.path + (f"?{url.query}" if url.query else "")
        store.request("PUT", target, content=file.data, headers=headers)
        return upload_id


def _payload(response: http.Response) -> dict[str, Any]:
    body = parse_json(response, NAME)
    payload = body.get("payload") if isinstance(body, dict) else None
    if not isinstance(payload, dict):
        raise ConnectorError(f"{NAME}: no payload in the answer: {str(body)[:200]}")
    return payload
