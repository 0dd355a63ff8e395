"""The eBay channel: buyers' messages and eBay's notices through the Message API, orders through
the Fulfillment API, with a user refresh token exchanged for short-lived access tokens.

Endpoints followed:
- `POST /identity/v1/oauth2/token` (grant_type=refresh_token, HTTP Basic client id and secret):
  an access token, cached with its expiry and renewed on a 401.
- `GET https://apiz.ebay.com/commerce/identity/v1/user/`: the seller's username, unless the
  settings give it (it tells the seller's own messages from the buyer's).
- `GET /commerce/message/v1/conversation` (`conversation_type` FROM_MEMBERS and FROM_EBAY,
  `limit` 50, `offset`), `GET /commerce/message/v1/conversation/{conversation_id}` (messages),
  `POST .../send_message`, `POST .../update_conversation` (mark read once stored).
- `GET /sell/fulfillment/v1/order` (getOrders) with `orderIds`, 50 at a time, for
  `fetch_orders`; `.../order/{orderId}/shipping_fulfillment` only for an order whose
  `fulfillmentHrefs` say it has shipments (tracking is not in the Order itself).
- Post-Order API v2 (returns, inquiries, cases): `claims.py`, `case_ops.py`; a first message
  to an order's buyer (proactive care), in a new conversation: `first_message.py`.

The cursor keeps, per conversation type, the newest message time seen and, per conversation,
the id and time of its newest message. FROM_MEMBERS lists are asked from that time (minus an
overlap) with `start_time`; FROM_EBAY has no date filter, so its list, most recent first, is
walked until a page holds nothing newer. Only conversations whose latest message changed are
read, and only their messages from the conversation's own time (minus the overlap) are
yielded; ingest drops what the overlap brings twice.

Exactly once: eBay's Message and Post-Order APIs have no idempotency key. A send whose outcome
is unknown is looked up in the conversation or the claim's history (`find_sent`, by
`Connector.pick_sent`) before it is sent again, and while the unanswered request may still be
stored (5 minutes from its start, `send_settle_seconds`) a retry that does not find it looks
again later rather than posting a second copy.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import mimetypes
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from pydantic import BaseModel, Field, field_validator

from comptoir.connectors.base import (
    CLOCK_SKEW,
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
    parse_json,
)
from comptoir.connectors.ebay.case_ops import EbayCaseOperations
from comptoir.connectors.ebay.claims import ClaimsMixin, split_thread
from comptoir.connectors.ebay.first_message import FirstMessageMixin
from comptoir.connectors.ebay.orders import order_data
from comptoir.connectors.ebay.sending import send_body
from comptoir.connectors.ebay.values import ebay_time, parse_time
from comptoir.lib.filetypes import OCTET_STREAM, sniff
from comptoir.lib.http import shared_rate_limit
from comptoir.lib.order_numbers import EBAY_ORDER

if TYPE_CHECKING:
    from comptoir.connectors.base import ChannelInfo

logger = logging.getLogger("comptoir.ebay")

MESSAGE_API = "/commerce/message/v1"
FULFILLMENT_API = "/sell/fulfillment/v1"
ORDER_IDS_PER_REQUEST = 50
TOKEN_PATH = "/identity/v1/oauth2/token"
USER_PATH = "/commerce/identity/v1/user/"
CONVERSATION_TYPES = ("FROM_MEMBERS", "FROM_EBAY")
PAGE_LIMIT = 50  # eBay's maximum for both list calls
# Conversations remembered in the cursor; older ones are forgotten (then read whole, once,
# if they come back: ingest drops what is already stored).
MAX_REMEMBERED = 20_000
TOKEN_MARGIN = 120.0  # renew this long before eBay's stated expiry

INBOUND_TYPES = {"PDF": "application/pdf", "DOC": "application/msword", "TXT": "text/plain"}


class EbaySettings(BaseModel):
    client_id: str = Field(min_length=1)
    client_secret: str = Field(min_length=1)
    # The user refresh token from the seller's consent (valid about 18 months).
    refresh_token: str = Field(min_length=1)
    api_url: str = "https://api.ebay.com"
    # The Identity API lives on its own host.
    apiz_url: str = "https://apiz.ebay.com"
    # The seller's eBay username; read from the Identity API when empty.
    seller_username: str = ""
    timeout_seconds: float = Field(default=30.0, gt=0)
    # eBay publishes daily call quotas, not a rate: this keeps a burst of polls and sends from
    # eating the day's quota in one go.
    requests_per_second: float = Field(default=5.0, ge=0)
    overlap_minutes: float = Field(default=10.0, ge=0)
    max_attachment_bytes: int = Field(default=15_000_000, ge=0)
    # eBay takes attachments by HTTPS link only. When the shop serves Comptoir's stored files
    # publicly, the link of one: "{sha256}" and "{filename}" are filled in.
    media_url_template: str = ""
    mark_read: bool = True
    # Returns, item-not-received inquiries and cases (Post-Order API): off for an account
    # whose token lacks that access.
    claims: bool = True
    # eBay's searches filter on the opening date only: claims opened this long ago are still
    # looked at (eBay allows up to 18 months back).
    claims_lookback_days: int = Field(default=90, ge=1, le=540)
    # The X-EBAY-C-MARKETPLACE-ID header the Post-Order API requires.
    marketplace_id: str = Field(default="EBAY_FR", min_length=1)

    @field_validator("media_url_template")
    @classmethod
    def _https_template(cls, value: str) -> str:
        if value and (not value.startswith("https://") or "{sha256}" not in value):
            raise ValueError("must be an https:// link containing {sha256}")
        return value


# Access tokens, shared by the connector instances of a process (one per task run): the key
# is the account (API, client and refresh token), the value the token and when it expires.
_tokens: dict[str, tuple[str, float]] = {}
_tokens_lock = threading.Lock()


class EbayConnector(FirstMessageMixin, EbayCaseOperations, Connector, ClaimsMixin):
    """Reads and answers eBay messages; see the module docstring for the endpoints."""

    kind = "ebay"
    send_settle_seconds = 300.0
    settings_model = EbaySettings

    def __init__(self, channel: ChannelInfo) -> None:
        super().__init__(channel)
        self._conf: EbaySettings | None = None
        self._clients: dict[str, HttpClient] = {}
        self._username = ""
        self._to_mark_read: dict[str, str] = {}

    # -- plumbing -------------------------------------------------------------------------------

    def conf(self) -> EbaySettings:
        if self._conf is None:
            conf = self.settings()
            assert isinstance(conf, EbaySettings)
            self._conf = conf
        return self._conf

    def _client(self, which: str = "api") -> HttpClient:
        client = self._clients.get(which)
        if client is None:
            conf = self.conf()
            if which == "media":
                # Buyers' pictures are public: no token goes to whatever host serves them.
                client = HttpClient("", name="eBay media", timeout=conf.timeout_seconds)
            else:
                rate = None
                if conf.requests_per_second:
                    rate = shared_rate_limit(
                        f"ebay:{conf.client_id}:{self._token_key()[:12]}",
                        conf.requests_per_second,
                        burst=max(1, int(conf.requests_per_second * 2)),
                    )
                url = conf.apiz_url if which == "apiz" else conf.api_url
                client = HttpClient(
                    url,
                    name="eBay",
                    timeout=conf.timeout_seconds,
                    headers=(
                        self._post_order_headers if which == "postorder" else self._auth_headers
                    ),
                    refresh_auth=self.refresh_auth,
                    rate_limit=rate,
                )
            self._clients[which] = client
        return client

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()

    def _token_key(self) -> str:
        conf = self.conf()
        raw = f"{conf.api_url}\n{conf.client_id}\n{conf.refresh_token}"
        return hashlib.sha256(raw.encode()).hexdigest()

    def _auth_headers(self) -> dict[str, str]:
        key = self._token_key()
        with _tokens_lock:
            cached = _tokens.get(key)
        if cached is None or cached[1] <= time.time():
            self.refresh_auth()
            with _tokens_lock:
                cached = _tokens[key]
        return {"Authorization": f"Bearer {cached[0]}"}

    def _post_order_headers(self) -> dict[str, str]:
        # Post-Order is one of eBay's traditional APIs: the same OAuth user token goes as
        # "IAF <token>", and the marketplace header is required.
        token = self._auth_headers()["Authorization"].removeprefix("Bearer ")
        return {
            "Authorization": f"IAF {token}",
            "X-EBAY-C-MARKETPLACE-ID": self.conf().marketplace_id,
        }

    def refresh_auth(self) -> None:
        """Exchange the refresh token for a new access token (also after a 401)."""
        conf = self.conf()
        basic = base64.b64encode(f"{conf.client_id}:{conf.client_secret}".encode()).decode()
        with HttpClient(conf.api_url, name="eBay", timeout=conf.timeout_seconds) as client:
            try:
                response = client.request(
                    "POST",
                    TOKEN_PATH,
                    data={"grant_type": "refresh_token", "refresh_token": conf.refresh_token},
                    headers={"Authorization": f"Basic {basic}"},
                    idempotent=True,  # a second token costs nothing
                )
            except ConnectorError as exc:
                if exc.permanent:
                    raise ConnectorError(
                        "eBay refused the channel's authorisation (the refresh token is revoked, "
                        "expired or belongs to another application): connect the eBay account "
                        f"again. eBay said: {exc}",
                        permanent=True,
                        status=exc.status,
                    ) from exc
                raise
            data = parse_json(response, "eBay")
        token = data.get("access_token") if isinstance(data, dict) else None
        if not token:
            raise ConnectorError("eBay's token answer has no access_token")
        lifetime = float(data.get("expires_in") or 7200)
        with _tokens_lock:
            _tokens[self._token_key()] = (token, time.time() + max(0.0, lifetime - TOKEN_MARGIN))

    def _get(self, path: str, params: dict[str, Any] | None = None, which: str = "api") -> Any:
        return self._call("GET", path, params=params, which=which)

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        idempotent: bool | None = None,
        which: str = "api",
    ) -> Any:
        try:
            response = self._client(which).request(
                method, path, params=params, json_body=json_body, idempotent=idempotent
            )
        except ConnectorError as exc:
            if exc.status in (401, 403):
                raise ConnectorError(
                    f"eBay refused access ({exc.status}): the account's authorisation was "
                    "withdrawn or lacks the Message API scope; connect the eBay account again. "
                    f"eBay said: {exc}",
                    permanent=True,
                    status=exc.status,
                ) from exc
            raise
        if response.status_code == 204 or not response.content:
            return None
        return parse_json(response, "eBay")

    def username(self) -> str:
        if not self._username:
            self._username = self.conf().seller_username
        if not self._username:
            user = self._get(USER_PATH, which="apiz")
            self._username = str((user or {}).get("username") or "")
            if not self._username:
                raise ConnectorError("eBay's Identity API did not give the seller's username")
        return self._username

    def test_connection(self) -> str:
        try:
            name = self.username()
            listing = self._get(
                f"{MESSAGE_API}/conversation",
                {"conversation_type": "FROM_MEMBERS", "limit": 1},
            )
        finally:
            self.close()
        total = int((listing or {}).get("total") or 0)
        return f"connected as eBay seller {name}; conversations with members: {total}"

    # -- fetch ----------------------------------------------------------------------------------

    def fetch(self, since: dict[str, Any]) -> Iterator[InboundMessage]:
        self._to_mark_read = {}
        try:
            me = self.username()
            for ctype in CONVERSATION_TYPES:
                yield from self._fetch_type(ctype, dict(since.get(ctype) or {}), me)
            if self.conf().claims:
                yield from self._fetch_claims(since)
        finally:
            self.close()

    def _fetch_type(self, ctype: str, state: dict[str, Any], me: str) -> Iterator[InboundMessage]:
        overlap = timedelta(minutes=self.conf().overlap_minutes)
        known: dict[str, list[str]] = dict(state.get("conversations") or {})
        newest = parse_time(state["since"]) if state.get("since") else None
        threshold = newest - overlap if newest else None
        params: dict[str, Any] = {"conversation_type": ctype, "limit": PAGE_LIMIT}
        if threshold is not None and ctype == "FROM_MEMBERS":
            params["start_time"] = ebay_time(threshold)
        seen: set[str] = set()
        offset = 0
        while True:
            page = self._get(f"{MESSAGE_API}/conversation", {**params, "offset": offset}) or {}
            conversations = page.get("conversations") or []
            anything_recent = False
            for conv in conversations:
                cid = str(conv.get("conversationId") or "")
                latest = conv.get("latestMessage") or {}
                if not cid or cid in seen or not latest.get("createdDate"):
                    continue
                seen.add(cid)
                latest_at = parse_time(latest["createdDate"])
                if threshold is None or latest_at >= threshold:
                    anything_recent = True
                remembered = known.get(cid)
                if remembered and remembered[0] == latest.get("messageId"):
                    continue  # nothing new in it
                since_at = parse_time(remembered[1]) - overlap if remembered else None
                yield from self._fetch_conversation(conv, ctype, since_at, me)
                known[cid] = [str(latest.get("messageId") or ""), latest["createdDate"]]
                newest = max(filter(None, [newest, latest_at]))
                if conv.get("unreadCount"):
                    self._to_mark_read[cid] = ctype
            offset += PAGE_LIMIT
            total = int(page.get("total") or 0)
            # Most recent first: a page with nothing at or after the cursor ends the walk.
            if not conversations or offset >= total or not page.get("next"):
                break
            if threshold is not None and not anything_recent:
                break
        if len(known) > MAX_REMEMBERED:
            keep = sorted(known.items(), key=lambda kv: kv[1][1], reverse=True)[:MAX_REMEMBERED]
            known = dict(keep)
        self.cursor[ctype] = {
            "since": ebay_time(newest) if newest else "",
            "conversations": known,
        }

    def _fetch_conversation(
        self, conv: dict[str, Any], ctype: str, since_at: datetime | None, me: str
    ) -> Iterator[InboundMessage]:
        cid = str(conv["conversationId"])
        found: dict[str, dict[str, Any]] = {}
        offset = 0
        while True:
            page = (
                self._get(
                    f"{MESSAGE_API}/conversation/{quote(cid, safe='')}",
                    {"conversation_type": ctype, "limit": PAGE_LIMIT, "offset": offset},
                )
                or {}
            )
            messages = page.get("messages") or []
            dates = []
            for message in messages:
                if not message.get("messageId") or not message.get("createdDate"):
                    continue
                at = parse_time(message["createdDate"])
                dates.append(at)
                if since_at is None or at >= since_at:
                    found.setdefault(str(message["messageId"]), message)
            offset += PAGE_LIMIT
            if not messages or offset >= int(page.get("total") or 0) or not page.get("next"):
                break
            # Newest first (eBay's order): once a page reaches back past the cursor, the rest
            # is older still. A page in another order is read to the end.
            newest_first = dates == sorted(dates, reverse=True)
            if since_at is not None and newest_first and dates and dates[-1] < since_at:
                break
        ordered = sorted(found.values(), key=lambda m: (m["createdDate"], str(m["messageId"])))
        # The overlap before the cursor brings stored messages again: not their files.
        stored = self.stored_external_ids(list(found))
        for message in ordered:
            if str(message["messageId"]) in stored:
                message = {**message, "messageMedia": []}
            yield self._inbound(message, conv, ctype, me)

    def _inbound(
        self, message: dict[str, Any], conv: dict[str, Any], ctype: str, me: str
    ) -> InboundMessage:
        sender = str(message.get("senderUsername") or "")
        outgoing = bool(sender) and sender.casefold() == me.casefold()
        if ctype == "FROM_EBAY":
            party = Party(identity_kind="ebay_system", identity_value="ebay", name="eBay")
        else:
            other = str(message.get("recipientUsername") or "") if outgoing else sender
            other = other or "unknown"
            party = Party(identity_kind="ebay_user", identity_value=other, name=other)
        subject = str(message.get("subject") or conv.get("conversationTitle") or "")
        text = str(message.get("messageBody") or "")
        meta: dict[str, Any] = {"conversation_type": ctype}
        if conv.get("referenceType"):
            meta["reference_type"] = conv["referenceType"]
            meta["reference_id"] = str(conv.get("referenceId") or "")
            if conv["referenceType"] == "LISTING":
                meta["listing_id"] = meta["reference_id"]
        # The Message API has no order field: eBay names the order in the subject of messages
        # sent from an order's page, and in its own notices.
        order = EBAY_ORDER.search(f"{subject}\n{conv.get('conversationTitle') or ''}\n{text}")
        return InboundMessage(
            channel_id=self.channel.pk,
            external_id=str(message["messageId"]),
            direction="out" if outgoing else "in",
            sender=party,
            subject=subject[:500],
            text=text,
            sent_at=parse_time(message["createdDate"]),
            thread_id=str(conv["conversationId"]),
            order_number=order.group(1) if order else "",
            is_auto=ctype == "FROM_EBAY",
            needs_reply=False if ctype == "FROM_EBAY" else None,
            attachments=[self._download(m) for m in message.get("messageMedia") or []],
            meta=meta,
        )

    def _download(self, media: dict[str, Any]) -> InboundAttachment:
        name = str(media.get("mediaName") or "attachment")[:255]
        kind = str(media.get("mediaType") or "")
        guessed = mimetypes.guess_type(name)[0]
        content_type = INBOUND_TYPES.get(kind) or guessed or "application/octet-stream"
        if kind == "IMAGE" and not content_type.startswith("image/"):
            content_type = "image/jpeg"
        url = str(media.get("mediaUrl") or "")
        limit = self.conf().max_attachment_bytes
        try:
            response = self._client("media").request("GET", url)
        except ConnectorError as exc:
            if not exc.permanent:
                raise  # the poll is retried, the message with it
            return InboundAttachment(
                filename=name, content_type=content_type, data=b"", dropped_reason=str(exc)[:255]
            )
        data = response.content
        if len(data) > limit:
            return InboundAttachment(
                filename=name,
                content_type=content_type,
                data=b"",
                size=len(data),
                dropped_reason=f"larger than the channel's limit of {limit} bytes",
            )
        if content_type == OCTET_STREAM:  # neither eBay nor the name says: the content does
            content_type = sniff(data)
        return InboundAttachment(filename=name, content_type=content_type, data=data)

    def acknowledge(self) -> None:
        """Mark read on eBay the conversations whose messages are now stored."""
        if not self.conf().mark_read:
            return
        try:
            for cid, ctype in self._to_mark_read.items():
                try:
                    self._call(
                        "POST",
                        f"{MESSAGE_API}/update_conversation",
                        json_body={"conversationId": cid, "conversationType": ctype, "read": True},
                        idempotent=True,  # setting "read" twice is harmless
                    )
                except ConnectorError as exc:
                    # Unread on eBay is only cosmetic: the next poll's fetch tries again.
                    logger.warning("eBay: cannot mark conversation %s read: %s", cid, exc)
            self._to_mark_read = {}
        finally:
            self.close()

    # -- send -----------------------------------------------------------------------------------

    def send(self, outbound: OutboundMessage) -> SendResult:
        if split_thread(outbound.conversation_thread_id)[0]:
            return self._send_claim(outbound)
        if not outbound.conversation_thread_id:
            return self._open_conversation(outbound)
        body = send_body(outbound, lambda: self.conf().media_url_template)
        try:
            answer = self._call("POST", f"{MESSAGE_API}/send_message", json_body=body) or {}
        finally:
            self.close()
        message_id = str(answer.get("messageId") or "")
        if not message_id:
            # Delivered, but without its id the copy a poll brings back would show twice.
            raise ConnectorError(
                "eBay accepted the message but returned no messageId", maybe_sent=True
            )
        created = answer.get("createdDate")
        return SendResult(external_id=message_id, sent_at=parse_time(created) if created else None)

    def find_sent(self, outbound: OutboundMessage) -> SendResult | None:
        """The seller's message in the conversation that `Connector.pick_sent` recognises."""
        kind, claim_id = split_thread(outbound.conversation_thread_id)
        if kind:
            if kind == "case":
                return None  # nothing is ever sent to a case
            try:
                return self._find_claim_message(outbound, kind, claim_id)
            finally:
                self.close()
        if not outbound.conversation_thread_id:
            return self._find_opened(outbound)
        started = outbound.attempt_started_at
        not_before = started - CLOCK_SKEW if started else None
        try:
            me = self.username()
            candidates: list[SentCandidate] = []
            offset = 0
            while True:
                page = (
                    self._get(
                        f"{MESSAGE_API}/conversation/"
                        f"{quote(outbound.conversation_thread_id, safe='')}",
                        {
                            "conversation_type": "FROM_MEMBERS",
                            "limit": PAGE_LIMIT,
                            "offset": offset,
                        },
                    )
                    or {}
                )
                messages = page.get("messages") or []
                dates = []
                for message in messages:
                    if not message.get("createdDate") or not message.get("messageId"):
                        continue
                    at = parse_time(message["createdDate"])
                    dates.append(at)
                    if str(message.get("senderUsername") or "").casefold() == me.casefold():
                        candidates.append(
                            SentCandidate(
                                external_id=str(message["messageId"]),
                                text=str(message.get("messageBody") or ""),
                                created_at=at,
                            )
                        )
                offset += PAGE_LIMIT
                if not messages or offset >= int(page.get("total") or 0) or not page.get("next"):
                    break
                # Newest first: the rest of the pages is older than the attempt.
                if not_before and dates == sorted(dates, reverse=True) and dates[-1] < not_before:
                    break
        finally:
            self.close()
        return self.pick_sent(outbound, candidates)

    # -- orders ---------------------------------------------------------------------------------

    # getOrders' `orderIds` takes at most 50 ids, and then ignores paging: one request each.
    order_batch_size = ORDER_IDS_PER_REQUEST

    def fetch_orders(self, order_numbers: Sequence[str]) -> dict[str, OrderData]:
        wanted = list(dict.fromkeys(n.strip() for n in order_numbers if n.strip()))
        found: dict[str, OrderData] = {}
        try:
            for start in range(0, len(wanted), ORDER_IDS_PER_REQUEST):
                self._read_orders(wanted[start : start + ORDER_IDS_PER_REQUEST], found)
        finally:
            self.close()
        return {n: found[n.strip()] for n in order_numbers if n.strip() in found}

    def _read_orders(self, chunk: list[str], found: dict[str, OrderData]) -> None:
        try:
            page = self._get(f"{FULFILLMENT_API}/order", params={"orderIds": ",".join(chunk)})
        except ConnectorError as exc:
            if exc.status != 400:
                raise
            if len(chunk) > 1:
                # One id eBay finds malformed refuses the whole list: ask for each alone, so
                # that the others are still read.
                for order_id in chunk:
                    self._read_orders([order_id], found)
            return  # a single refused id is not an order of this seller
        # Unknown ids come back as warnings, not errors: they are simply left out.
        for order in (page or {}).get("orders") or []:
            order_id = str(order.get("orderId") or "")
            if order_id not in chunk:
                continue
            shipments: list[dict[str, Any]] = []
            if order.get("fulfillmentHrefs"):
                # Tracking is only in the shipments, which the order lists when it has any.
                path = f"{FULFILLMENT_API}/order/{quote(order_id, safe='')}/shipping_fulfillment"
                shipments = (self._get(path) or {}).get("fulfillments") or []
            found[order_id] = order_data(order, shipments)
