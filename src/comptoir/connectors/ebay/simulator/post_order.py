"""The Post-Order API v2 part of the eBay simulator: returns, item-not-received inquiries and
cases, with their searches, detail reads and the "send message" calls of returns and inquiries.

No OpenAPI description of the Post-Order API is published, so requests are checked by hand
against eBay's call reference (developer.ebay.com/Devzone/post-order):
- `GET /post-order/v2/return/search` (creation_date_range_from/_to, item_id, limit, offset,
  order_id, return_id, return_state, role, sort, states, transaction_id): `members`,
  `paginationOutput` {limit, offset, totalEntries, totalPages}.
- `GET /post-order/v2/inquiry/search` (fieldgroups, inquiry_creation_date_range_from/_to,
  inquiry_status, item_id, limit, offset, order_id, sort, transaction_id): `members`,
  `paginationOutput`, `totalNumberOfInquiries`.
- `GET /post-order/v2/casemanagement/search` (case_creation_date_range_from/_to,
  case_status_filter, fieldgroups, item_id, limit, offset, order_id, return_id, sort,
  transaction_id): `members`, `paginationOutput`, `totalNumberOfCases`.
- `GET /post-order/v2/return/{returnId}` (`summary`, `detail.responseHistory[]` with
  activity, author, creationDate, notes), `GET /post-order/v2/inquiry/{inquiryId}` and
  `GET /post-order/v2/casemanagement/{caseId}` (`inquiryHistoryDetails.history[]` and
  `caseHistoryDetails.history[]` with action, actor, date, description).
- `POST /post-order/v2/return/{returnId}/send_message` and
  `POST /post-order/v2/inquiry/{inquiryId}/send_message`, body `{"message": {"content"}}`.

Every call needs `Authorization: IAF <user access token>` (eBay's scheme for OAuth tokens on
its traditional APIs) and `X-EBAY-C-MARKETPLACE-ID`. eBay's dates here are objects
`{"value": "...Z"}`. Where the reference says nothing (the largest `limit`, the summaries'
exact change on a message), the simulator's choice is noted where it is made.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from comptoir.connectors.ebay.simulator.state import EbayMarketplace, iso, parse_iso
from comptoir.connectors.simulator import ContractViolation, HttpError, Request, Response

POST_ORDER = "/post-order/v2"
# Not stated in the reference: the simulator refuses more than this per page.
MAX_CLAIM_LIMIT = 200
DEFAULT_CLAIM_LIMIT = 10
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?Z")
# Seller action for a return is due for this long after the buyer's last move (eBay gives
# sellers three business days; the exact span does not matter to Comptoir).
SELLER_DAYS = 3

SEARCH_PARAMS = {
    "return": {
        "creation_date_range_from",
        "creation_date_range_to",
        "item_id",
        "limit",
        "offset",
        "order_id",
        "return_id",
        "return_state",
        "role",
        "sort",
        "states",
        "transaction_id",
    },
    "inquiry": {
        "fieldgroups",
        "inquiry_creation_date_range_from",
        "inquiry_creation_date_range_to",
        "inquiry_status",
        "item_id",
        "limit",
        "offset",
        "order_id",
        "sort",
        "transaction_id",
    },
    "case": {
        "case_creation_date_range_from",
        "case_creation_date_range_to",
        "case_status_filter",
        "fieldgroups",
        "item_id",
        "limit",
        "offset",
        "order_id",
        "return_id",
        "sort",
        "transaction_id",
    },
}
DATE_PARAMS = {
    "return": ("creation_date_range_from", "creation_date_range_to"),
    "inquiry": ("inquiry_creation_date_range_from", "inquiry_creation_date_range_to"),
    "case": ("case_creation_date_range_from", "case_creation_date_range_to"),
}
# How far back a date range may start (the reference: "not more than 18 months").
MAX_LOOKBACK = timedelta(days=548)


def _date(value: datetime) -> dict[str, str]:
    return {"value": iso(value)}


@dataclass
class SimEntry:
    """One history entry: the buyer's, the seller's or eBay's move, with its text."""

    author: str  # BUYER, SELLER or SYSTEM
    action: str
    text: str
    created: datetime


@dataclass
class SimClaim:
    kind: str  # return, inquiry, case
    claim_id: str
    order_id: str
    buyer: str
    reason: str
    status: str
    created: datetime
    amount: str
    currency: str = "EUR"
    respond_by: datetime | None = None
    modified: datetime | None = None
    entries: list[SimEntry] = field(default_factory=list)


class PostOrderApi(EbayMarketplace):
    """Returns, inquiries and cases; `_init_claims` keeps them and registers the routes."""

    claims: dict[str, SimClaim]
    _claim_ids: dict[str, itertools.count[int]]

    def _init_claims(self) -> None:
        self.claims = {}
        # The seller's consent does not cover the Post-Order API: 403 on its calls only.
        self.post_order_forbidden = False
        self._claim_ids = {
            "return": itertools.count(5_000_000_001),
            "inquiry": itertools.count(5_100_000_001),
            "case": itertools.count(5_200_000_001),
        }
        self.route("GET", f"{POST_ORDER}/return/search", self._claim_search("return"))
        self.route("GET", f"{POST_ORDER}/inquiry/search", self._claim_search("inquiry"))
        self.route("GET", f"{POST_ORDER}/casemanagement/search", self._claim_search("case"))
        self.route("GET", f"{POST_ORDER}/return/(?P<id>\\d+)", self._claim_detail("return"))
        self.route("GET", f"{POST_ORDER}/inquiry/(?P<id>\\d+)", self._claim_detail("inquiry"))
        self.route("GET", f"{POST_ORDER}/casemanagement/(?P<id>\\d+)", self._claim_detail("case"))
        self.route(
            "POST", f"{POST_ORDER}/return/(?P<id>\\d+)/send_message", self._claim_send("return")
        )
        self.route(
            "POST", f"{POST_ORDER}/inquiry/(?P<id>\\d+)/send_message", self._claim_send("inquiry")
        )

    # -- scripting --------------------------------------------------------------------------------

    def _open(
        self,
        kind: str,
        order_id: str,
        buyer: str,
        reason: str,
        status: str,
        text: str,
        action: str,
        amount: str,
    ) -> str:
        with self.lock:
            at = self.tick()
            claim = SimClaim(
                kind=kind,
                claim_id=str(next(self._claim_ids[kind])),
                order_id=order_id,
                buyer=buyer,
                reason=reason,
                status=status,
                created=at,
                amount=amount,
                respond_by=at + timedelta(days=SELLER_DAYS),
                modified=at,
            )
            claim.entries.append(SimEntry("BUYER", action, text, at))
            self.claims[claim.claim_id] = claim
            return claim.claim_id

    def buyer_opens_return(
        self,
        order_id: str,
        reason: str,
        text: str,
        *,
        buyer: str = "jeanne_m75",
        amount: str = "49.90",
    ) -> str:
        """A buyer asks to return an item of an order; returns eBay's returnId."""
        return self._open(
            "return",
            order_id,
            buyer,
            reason,
            "RETURN_REQUESTED",
            text,
            "BUYER_CREATE_RETURN",
            amount,
        )

    def buyer_opens_inquiry(
        self, order_id: str, text: str, *, buyer: str = "jeanne_m75", amount: str = "49.90"
    ) -> str:
        """A buyer says an item did not arrive; returns eBay's inquiryId."""
        return self._open(
            "inquiry", order_id, buyer, "INR", "WAITING_SELLER_RESPONSE", text, "OPEN", amount
        )

    def case_escalated(
        self,
        order_id: str,
        text: str,
        *,
        buyer: str = "jeanne_m75",
        case_type: str = "ITEM_NOT_RECEIVED",
        amount: str = "49.90",
        from_id: str = "",
    ) -> str:
        """A buyer asks eBay to step in (an inquiry or return escalated to a case); returns
        eBay's caseId. The escalated inquiry or return, if given, is closed."""
        with self.lock:
            if from_id and from_id in self.claims:
                old = self.claims[from_id]
                old.status = "CLOSED_WITH_ESCALATION" if old.kind == "inquiry" else "CLOSED"
                old.respond_by = None
                at = self.tick()
                old.modified = at
                old.entries.append(SimEntry("BUYER", "ESCALATE", "", at))
            return self._open("case", order_id, buyer, case_type, "OPEN", text, "ESCALATE", amount)

    def buyer_follows_up(self, claim_id: str, text: str) -> None:
        """The buyer writes again on a return, inquiry or case: the seller must act again."""
        with self.lock:
            claim = self.claims[claim_id]
            at = self.tick()
            claim.entries.append(SimEntry("BUYER", "BUYER_SEND_MESSAGE", text, at))
            claim.modified = at
            claim.respond_by = at + timedelta(days=SELLER_DAYS)
            # InquiryStatusEnum and CaseStatusEnum: the open states where the seller is due.
            if claim.kind == "inquiry":
                claim.status = "WAITING_SELLER_RESPONSE"
            elif claim.kind == "case":
                claim.status = "OPEN"

    def close_claim(self, claim_id: str) -> None:
        with self.lock:
            claim = self.claims[claim_id]
            at = self.tick()
            claim.status = "CLOSED"
            claim.respond_by = None
            claim.modified = at
            claim.entries.append(SimEntry("SYSTEM", "CLOSED", "", at))

    def claim_entries(self) -> list[tuple[str, str, str, str]]:
        """Every history entry as (thread, author, action, text), for comparisons."""
        with self.lock:
            return [
                (f"{c.kind}:{c.claim_id}", e.author, e.action, e.text)
                for c in self.claims.values()
                for e in c.entries
            ]

    def seller_claim_messages(self) -> list[str]:
        with self.lock:
            return [e.text for c in self.claims.values() for e in c.entries if e.author == "SELLER"]

    # -- contract -------------------------------------------------------------------------------

    def _check_claims(self, request: Request, kind: str, search: bool) -> None:
        if self.post_order_forbidden:
            raise HttpError(403, {"error": [{"errorId": 1100, "message": "Access denied"}]})
        if not request.headers.get("x-ebay-c-marketplace-id"):
            raise ContractViolation("the X-EBAY-C-MARKETPLACE-ID header is required")
        self._check_claim_query(request, kind, search)
        if not search:
            if request.arg("fieldgroups") not in (None, "FULL", "SUMMARY"):
                raise ContractViolation("fieldgroups is FULL or SUMMARY")
            return
        self._check_claim_dates(request, kind)

    def _check_claim_query(self, request: Request, kind: str, search: bool) -> None:
        """The call's own query parameters only, and paging by non-negative integers."""
        allowed = (
            SEARCH_PARAMS[kind] if search else ({"fieldgroups"} if kind == "return" else set())
        )
        for name in request.query:
            if name not in allowed:
                raise ContractViolation(f"query parameter {name!r} is not one of {kind}'s")
        for name in ("limit", "offset"):
            value = request.arg(name)
            if value is not None and not re.fullmatch(r"\d+", value):
                raise ContractViolation(f"{name}={value!r} is not a non-negative integer")
        if int(request.arg("limit") or DEFAULT_CLAIM_LIMIT) > MAX_CLAIM_LIMIT:
            raise ContractViolation(f"limit is over {MAX_CLAIM_LIMIT}")

    def _check_claim_dates(self, request: Request, kind: str) -> None:
        """A search's creation date range: ISO 8601 UTC, in order, at most 18 months back."""
        start_name, end_name = DATE_PARAMS[kind]
        start, end = request.arg(start_name), request.arg(end_name)
        for name, value in ((start_name, start), (end_name, end)):
            if value is not None and not ISO.fullmatch(value):
                raise ContractViolation(f"{name}={value!r} is not an ISO 8601 UTC date")
        if start and end and start >= end:
            raise ContractViolation(f"{start_name} must be older than {end_name}")
        if start and self.now() - parse_iso(start) > MAX_LOOKBACK:
            raise ContractViolation(f"{start_name} is more than 18 months back")

    # -- answers --------------------------------------------------------------------------------

    def _summary(self, claim: SimClaim) -> dict[str, Any]:
        amount = {"value": float(claim.amount), "currency": claim.currency}
        if claim.kind == "return":
            data: dict[str, Any] = {
                "returnId": claim.claim_id,
                "orderId": claim.order_id,
                "buyerLoginName": claim.buyer,
                "sellerLoginName": self.seller,
                "currentType": "MONEY_BACK",
                "state": claim.status,
                "status": claim.status,
                "creationInfo": {
                    "item": {"itemId": "110012345678", "transactionId": "0"},
                    "type": "MONEY_BACK",
                    "reason": claim.reason,
                    "comments": {"content": claim.entries[0].text},
                    "creationDate": _date(claim.created),
                },
                "sellerTotalRefund": {"estimatedRefundAmount": amount},
            }
            # Present only while the seller has something to do, as the reference says of
            # buyerResponseDue/sellerResponseDue; a buyer's message renews it.
            if claim.respond_by is not None:
                data["sellerResponseDue"] = {
                    "activityDue": "SELLER_APPROVE_REQUEST",
                    "respondByDate": _date(claim.respond_by),
                }
            return data
        key = "inquiryId" if claim.kind == "inquiry" else "caseId"
        data = {
            # CaseSummaryType gives caseId as an integer.
            key: claim.claim_id if claim.kind == "inquiry" else int(claim.claim_id),
            "orderId": claim.order_id,
            "buyer": claim.buyer,
            "seller": self.seller,
            "itemId": "110012345678",
            "transactionId": "0",
            "claimAmount": amount,
            "creationDate": _date(claim.created),
            "lastModifiedDate": _date(claim.modified or claim.created),
        }
        if claim.kind == "inquiry":
            data["inquiryStatusEnum"] = claim.status
        else:
            data["caseType"] = claim.reason
            data["caseStatusEnum"] = claim.status
        if claim.respond_by is not None:
            data["respondByDate"] = _date(claim.respond_by)
        return data

    def _claim_search(self, kind: str) -> Any:
        def handler(request: Request) -> Response:
            self._check_claims(request, kind, search=True)
            start_name, end_name = DATE_PARAMS[kind]
            start, end = request.arg(start_name), request.arg(end_name)
            with self.lock:
                found = [
                    c
                    for c in self.claims.values()
                    if c.kind == kind
                    and (start is None or c.created >= parse_iso(start))
                    and (end is None or c.created <= parse_iso(end))
                    and request.arg("order_id") in (None, c.order_id)
                ]
                # Newest first, eBay's default order for these searches.
                found.sort(key=lambda c: (c.created, int(c.claim_id)), reverse=True)
                limit = int(request.arg("limit") or DEFAULT_CLAIM_LIMIT)
                offset = int(request.arg("offset") or 0)
                page = self._paged(request, found, limit, offset)
                body: dict[str, Any] = {
                    "members": [self._summary(c) for c in page],
                    "paginationOutput": {
                        "limit": limit,
                        "offset": offset,
                        "totalEntries": len(found),
                        "totalPages": -(-len(found) // limit) if limit else 0,
                    },
                }
                if kind == "inquiry":
                    body["totalNumberOfInquiries"] = len(found)
                elif kind == "case":
                    body["totalNumberOfCases"] = len(found)
            return Response(200, body)

        return handler

    def _claim_detail(self, kind: str) -> Any:
        def handler(request: Request) -> Response:
            self._check_claims(request, kind, search=False)
            with self.lock:
                claim = self.claims.get(request.params["id"])
                if claim is None or claim.kind != kind:
                    raise HttpError(404, {"error": [{"errorId": 1002, "message": "not found"}]})
                summary = self._summary(claim)
                if kind == "return":
                    history = [
                        {
                            "activity": e.action,
                            "author": e.author,
                            "creationDate": _date(e.created),
                            "notes": e.text,
                        }
                        for e in claim.entries
                    ]
                    return Response(
                        200, {"summary": summary, "detail": {"responseHistory": history}}
                    )
                history = [
                    {
                        "action": e.action,
                        "actor": e.author,
                        "date": _date(e.created),
                        "description": e.text,
                    }
                    for e in claim.entries
                ]
                details_key = "inquiryHistoryDetails" if kind == "inquiry" else "caseHistoryDetails"
                body = {**summary, "status": claim.status, details_key: {"history": history}}
                body.pop("inquiryStatusEnum", None)
                body.pop("caseStatusEnum", None)
                if kind == "inquiry":
                    # InquiryDetailsResponse keeps its dates in the inquiryDetails container.
                    body["inquiryDetails"] = {"creationDate": body.pop("creationDate")}
            return Response(200, body)

        return handler

    def _claim_send(self, kind: str) -> Any:
        def handler(request: Request) -> Response:
            body = request.json()
            self._check_claims(request, kind, search=False)
            if request.headers.get("content-type", "").split(";")[0] != "application/json":
                raise ContractViolation("the Content-Type header must be application/json")
            if not isinstance(body, dict) or set(body) != {"message"}:
                raise ContractViolation("the body is a SendMessageRequest: {'message': {...}}")
            message = body["message"]
            known = {"content", "language", "translatedFromContent", "translatedFromLanguage"}
            if not isinstance(message, dict) or set(message) - known:
                raise ContractViolation(f"message fields are {sorted(known)}")
            text = message.get("content")
            if not isinstance(text, str) or not text.strip():
                raise ContractViolation("message.content is required")
            with self.lock:
                claim = self.claims.get(request.params["id"])
                if claim is None or claim.kind != kind:
                    raise HttpError(404, {"error": [{"errorId": 1002, "message": "not found"}]})
                at = self.tick()
                claim.entries.append(SimEntry("SELLER", "SELLER_SEND_MESSAGE", text, at))
                claim.modified = at
                # The seller has answered: nothing is due from them until the buyer moves.
                claim.respond_by = None
                if kind == "inquiry" and claim.status == "WAITING_SELLER_RESPONSE":
                    claim.status = "WAITING_BUYER_RESPONSE"
            # The reference documents no response payload for these calls.
            return Response(200, b"")

        return handler
