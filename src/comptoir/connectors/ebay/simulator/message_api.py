"""eBay's Message API in the simulator: list conversations, read one, send a message, update a
conversation; each request checked against the published OpenAPI description and, by hand,
against what it says only in prose."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from comptoir.connectors.ebay.simulator.state import (
    CONVERSATION_TYPES,
    DEFAULT_LIMIT,
    MAX_LIMIT,
    MAX_MEDIA,
    MAX_TEXT,
    MEDIA_TYPES,
    MESSAGE_BASE,
    EbayMarketplace,
    SimConversation,
    SimMessage,
    ebay_error,
    iso,
    parse_iso,
)
from comptoir.connectors.simulator import ContractViolation, Request, Response

TIME_FORMAT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


class MessageApi(EbayMarketplace):
    """`/commerce/message/v1`: conversation, conversation/{id}, send_message,
    update_conversation."""

    # -- contract -------------------------------------------------------------------------------

    def _check(self, request: Request, body: Any = None) -> None:
        """The published contract first, then what the spec says only in words."""
        if self.message_contract is not None:
            problems = self.message_contract.check_request(
                request.method, request.path, request.query, body, base_path=MESSAGE_BASE
            )
            if problems:
                raise ContractViolation("; ".join(problems))
        self._check_query(request)
        self._check_window(request)
        if request.method == "POST":
            self._check_post_body(request, body)

    def _check_query(self, request: Request) -> None:
        """`conversation_type` on reads, and the paging parameters."""
        ctype = request.arg("conversation_type")
        if request.method == "GET" and ctype not in CONVERSATION_TYPES:
            raise ContractViolation(
                f"conversation_type={ctype!r} is not one of FROM_MEMBERS|FROM_EBAY"
            )
        for name in ("limit", "offset"):
            value = request.arg(name)
            if value is not None and not re.fullmatch(r"\d+", value):
                raise ContractViolation(f"{name}={value!r} is not a non-negative integer")
        if int(request.arg("limit") or DEFAULT_LIMIT) > MAX_LIMIT:
            raise ContractViolation(f"limit={request.arg('limit')} is over the maximum {MAX_LIMIT}")

    def _check_window(self, request: Request) -> None:
        """`start_time` and `end_time`: FROM_MEMBERS only, in eBay's millisecond format."""
        for name in ("start_time", "end_time"):
            value = request.arg(name)
            if value is None:
                continue
            if request.arg("conversation_type") != "FROM_MEMBERS":
                raise ContractViolation(f"{name} is only available for FROM_MEMBERS")
            if not TIME_FORMAT.fullmatch(value):
                raise ContractViolation(f"{name}={value!r} is not yyyy-MM-ddThh:mm:ss.sssZ")

    def _check_post_body(self, request: Request, body: Any) -> None:
        if request.headers.get("content-type", "").split(";")[0] != "application/json":
            raise ContractViolation("the Content-Type header must be application/json")
        if self.message_contract is not None:
            operation = self.message_contract.operation(
                "POST", request.path.removeprefix(MESSAGE_BASE)
            )
            schema = (operation or {}).get("requestBody", {}).get("content", {})
            ref = schema.get("application/json", {}).get("schema", {}).get("$ref", "")
            self._no_unknown_fields(body, ref.rsplit("/", 1)[-1], "body")

    def _no_unknown_fields(self, value: Any, schema_name: str, where: str) -> None:
        """eBay's schemas do not say `additionalProperties: false`, but eBay ignores a field it
        does not know, which for a misspelt one means silently losing it: flag it."""
        if self.message_contract is None or not isinstance(value, dict) or not schema_name:
            return
        schema = self.message_contract.spec["components"]["schemas"][schema_name]
        props = schema.get("properties", {})
        for key, item in value.items():
            if key not in props:
                raise ContractViolation(f"{where}[{key!r}] is not a field of {schema_name}")
            ref = props[key].get("$ref") or props[key].get("items", {}).get("$ref", "")
            if ref:
                children = item if isinstance(item, list) else [item]
                for n, child in enumerate(children):
                    self._no_unknown_fields(child, ref.rsplit("/", 1)[-1], f"{where}[{key!r}][{n}]")

    # -- paging ---------------------------------------------------------------------------------

    def _page(self, request: Request) -> tuple[int, int]:
        return int(request.arg("limit") or DEFAULT_LIMIT), int(request.arg("offset") or 0)

    def _links(self, request: Request, limit: int, offset: int, total: int) -> dict[str, Any]:
        query = {k: v[-1] for k, v in request.query.items()}

        def href(at: int) -> str:
            return f"{self.url}{request.path}?{urlencode({**query, 'limit': limit, 'offset': at})}"

        links: dict[str, Any] = {"href": href(offset), "limit": limit, "offset": offset}
        links["total"] = total
        if offset + limit < total:
            links["next"] = href(offset + limit)
        if offset > 0:
            links["prev"] = href(max(0, offset - limit))
        return links

    # -- the calls ------------------------------------------------------------------------------

    def _conversations(self, request: Request) -> Response:
        self._check(request)
        ctype = request.arg("conversation_type")
        start = request.arg("start_time")
        end = request.arg("end_time")
        status = request.arg("conversation_status")
        with self.lock:
            convs = [
                c
                for c in self.conversations.values()
                if c.conversation_type == ctype
                and (status is None or c.status == status)
                and (start is None or c.latest.created >= parse_iso(start))
                and (end is None or c.latest.created <= parse_iso(end))
                and (request.arg("other_party_username") in (None, c.other_party))
                and (request.arg("reference_id") in (None, c.reference_id))
            ]
            convs.sort(key=lambda c: (c.latest.created, int(c.latest.message_id)), reverse=True)
            limit, offset = self._page(request)
            page = self._paged(request, convs, limit, offset)
            body = {
                "conversations": [c.detail(self.seller) for c in page],
                **self._links(request, limit, offset, len(convs)),
            }
        self._check_answer(self.message_contract, body, "GetAllMyConversationsResponse")
        return Response(200, body)

    def _conversation(self, request: Request) -> Response:
        self._check(request)
        with self.lock:
            conv = self.conversations.get(request.params["cid"])
            if conv is None or conv.conversation_type != request.arg("conversation_type"):
                raise ebay_error(404, 355002, "The conversation was not found.")
            messages = sorted(
                conv.messages, key=lambda m: (m.created, int(m.message_id)), reverse=True
            )
            limit, offset = self._page(request)
            page = self._paged(request, messages, limit, offset)
            body = {
                "conversationStatus": conv.status,
                "conversationTitle": conv.title,
                "conversationType": conv.conversation_type,
                "messages": [m.detail() for m in page],
                **self._links(request, limit, offset, len(messages)),
            }
        self._check_answer(self.message_contract, body, "GetMessagesByConversationIdResponse")
        return Response(200, body)

    def _send_message(self, request: Request) -> Response:
        body = request.json()
        self._check(request, body)
        text, media = _message_to_send(body)
        with self.lock:
            conv = self._conversation_to_answer(body)
            message_id = self._add_message(
                conv, self.seller, conv.other_party, text, conv.title, [dict(m) for m in media]
            )
            sent = next(m for m in conv.messages if m.message_id == message_id)
        answer = _sent_answer(sent)
        self._check_answer(self.message_contract, answer, "SendMessageResponse")
        return Response(201, answer)

    def _conversation_to_answer(self, body: dict[str, Any]) -> SimConversation:
        """The conversation a SendMessageRequest names, or a new one with the buyer it names."""
        if "conversationId" not in body:
            return self._new_conversation(
                "FROM_MEMBERS",
                "A message from the seller",
                self._member(body["otherPartyUsername"]),
                self._listing(body.get("reference")),
            )
        conv = self.conversations.get(body["conversationId"])
        if conv is None:
            raise ebay_error(404, 355002, "The conversation was not found.")
        if conv.conversation_type != "FROM_MEMBERS":
            raise ebay_error(400, 355010, "eBay's own messages cannot be answered.")
        return conv

    def _member(self, username: Any) -> str:
        """A member the seller may write to: a buyer of one of its orders, or one who wrote."""
        known = {str((o.get("buyer") or {}).get("username")) for o in self.orders.values()}
        known |= {c.other_party for c in self.conversations.values()}
        if not isinstance(username, str) or username not in known:
            raise ebay_error(400, 355006, "Invalid or unrecognized otherPartyUsername value.")
        return username

    def _listing(self, reference: Any) -> str:
        """The listing a new conversation is about: the seller writes first only about one
        (here a listing of one of its orders)."""
        if not isinstance(reference, dict) or not all(
            reference.get(k) for k in ("referenceType", "referenceId")
        ):
            raise ebay_error(
                400, 355021, "All fields under reference are required. Please add missing field(s)."
            )
        if reference["referenceType"] != "LISTING":
            raise ebay_error(400, 355003, "Invalid referenceType value.")
        listing = str(reference["referenceId"])
        if not listing.isdigit() or int(listing) <= 0:
            raise ebay_error(400, 355016, "The referenceId value must be a positive integer value.")
        listings = {
            str(i.get("legacyItemId")) for o in self.orders.values() for i in o["lineItems"]
        }
        if listing not in listings:
            raise ebay_error(400, 355020, "No listing can be found by this referenceId.")
        return listing

    def _update_conversation(self, request: Request) -> Response:
        body = request.json()
        self._check(request, body)
        if not isinstance(body, dict) or not body.get("conversationId"):
            raise ContractViolation("conversationId is required")
        if body.get("conversationType") not in CONVERSATION_TYPES:
            raise ContractViolation("conversationType (the existing type) is required")
        if "read" not in body and "conversationStatus" not in body:
            raise ContractViolation("give read or conversationStatus")
        with self.lock:
            conv = self.conversations.get(body["conversationId"])
            if conv is None or conv.conversation_type != body["conversationType"]:
                raise ebay_error(404, 355002, "The conversation was not found.")
            if "read" in body:
                for m in conv.messages:
                    if m.sender != self.seller:
                        m.read = bool(body["read"])
            elif body["conversationStatus"] in ("ACTIVE", "ARCHIVE", "DELETE"):
                conv.status = body["conversationStatus"]
            else:
                raise ContractViolation("conversationStatus is not ACTIVE, ARCHIVE or DELETE")
        return Response(204, b"")


def _message_to_send(body: Any) -> tuple[str, list[dict[str, Any]]]:
    """The text and media of a SendMessageRequest, checked against eBay's stated limits."""
    if not isinstance(body, dict):
        raise ContractViolation("the body must be a SendMessageRequest object")
    if ("conversationId" in body) == ("otherPartyUsername" in body):
        raise ContractViolation("give exactly one of conversationId and otherPartyUsername")
    text = body.get("messageText")
    if not isinstance(text, str) or not text.strip():
        raise ContractViolation("messageText is required")
    if len(text) > MAX_TEXT:
        raise ebay_error(400, 355013, f"messageText is longer than {MAX_TEXT} characters")
    media = body.get("messageMedia") or []
    if len(media) > MAX_MEDIA:
        raise ebay_error(400, 355014, f"at most {MAX_MEDIA} messageMedia per message")
    for n, item in enumerate(media):
        if not str(item.get("mediaUrl", "")).startswith("https://"):
            raise ContractViolation(f"messageMedia[{n}].mediaUrl must be an HTTPS URL")
        if item.get("mediaType") not in MEDIA_TYPES:
            raise ContractViolation(f"messageMedia[{n}].mediaType is not one of {MEDIA_TYPES}")
        if not item.get("mediaName"):
            raise ContractViolation(f"messageMedia[{n}].mediaName is required")
    return text, media


def _sent_answer(sent: SimMessage) -> dict[str, Any]:
    """SendMessageResponse (which spells `recipientUserName` and `senderUserName` so)."""
    answer: dict[str, Any] = {
        "createdDate": iso(sent.created),
        "messageBody": sent.body,
        "messageId": sent.message_id,
        "readStatus": False,
        "recipientUserName": sent.recipient,
        "senderUserName": sent.sender,
        "subject": sent.subject,
    }
    if sent.media:
        answer["messageMedia"] = sent.media
    return answer
