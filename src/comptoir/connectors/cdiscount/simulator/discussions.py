"""The discussion calls of the Octopia Seller API v2 in the Cdiscount simulator: list, read,
reply (multipart, with attachments), open, close and reopen, and attachment downloads."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from comptoir.connectors.cdiscount.simulator.state import (
    ACCEPTED_EXTENSIONS,
    API,
    LIST_PARAMS,
    MAX_ATTACHMENTS,
    MAX_ATTACHMENTS_BYTES,
    MAX_PAGE_SIZE,
    MAX_SEARCH_WINDOW,
    CdiscountMarketplace,
    SimDiscussion,
    SimMessage,
    iso,
    problem,
)
from comptoir.connectors.simulator import ContractViolation, Part, Request, Response


class DiscussionsApi(CdiscountMarketplace):
    """`/seller/v2/discussions` and what hangs under it."""

    def _discussion(self, request: Request) -> SimDiscussion:
        discussion = self.discussions.get(request.params["did"])
        if discussion is None:
            raise problem(404, "Not Found", f"discussion {request.params['did']} does not exist")
        return discussion

    def _list(self, request: Request) -> Response:
        self._only(request, LIST_PARAMS)
        page_index = self._int(request, "pageIndex", 1)
        page_size = self._int(request, "pageSize", 50)
        if page_index < 1:
            raise ContractViolation(f"pageIndex={page_index} must be 1 or more")
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ContractViolation(f"pageSize={page_size} must be between 1 and {MAX_PAGE_SIZE}")
        low = self._date(request, "updatedAtMin")
        high = self._date(request, "updatedAtMax")
        if low is not None and (high or datetime.now(UTC)) - low > MAX_SEARCH_WINDOW:
            raise problem(400, "Bad Request", "the search period may not exceed 6 months")
        is_open = request.arg("isOpen")
        if is_open not in (None, "true", "false"):
            raise ContractViolation(f"isOpen={is_open!r} is not true or false")
        with self.lock:
            found = [
                d
                for d in self.discussions.values()
                if (low is None or d.updated_at >= low)
                and (high is None or d.updated_at <= high)
                and (is_open is None or d.is_open == (is_open == "true"))
                and (request.arg("orderId") in (None, d.order_id))
                and (request.arg("salesChannel") in (None, d.sales_channel))
                and (request.arg("graduationCode") in (None, d.graduation))
                and (request.arg("processStatus") in (None, d.process_status))
            ]
            found.sort(key=lambda d: (d.updated_at, d.discussion_id))
            start = (page_index - 1) * page_size
            page = [self._summary(d) for d in found[start : start + page_size]]
            fault = self.page_fault(request)
            if fault == "duplicate_page" and start > 0:
                page = [self._summary(d) for d in found[max(0, start - 3) : start]] + page
            elif fault == "reorder_page":
                self.faults.random.shuffle(page)
        links: dict[str, Any] = {"self": {"href": self._href(request, page_index)}}
        if start + page_size < len(found):
            links["next"] = {"href": self._href(request, page_index + 1)}
        return Response(200, {"itemsPerPage": page_size, "items": page, "_links": links})

    def _href(self, request: Request, page_index: int) -> str:
        query = {k: v[-1] for k, v in request.query.items()}
        query["pageIndex"] = str(page_index)
        return f"{API}/discussions?{urlencode(query)}"

    def _summary(self, d: SimDiscussion) -> dict[str, Any]:
        return {
            "discussionId": d.discussion_id,
            "orderId": d.order_id,
            "salesChannel": d.sales_channel,
            "subject": d.subject,
            "typologyCode": d.typology_code,
            "subTypologyCode": d.sub_typology_code,
            "graduation": d.graduation,
            "claimType": d.claim_type or None,
            "isOpen": d.is_open,
            "processStatus": d.process_status,
            "createdAt": iso(d.created_at),
            "updatedAt": iso(d.updated_at),
            "customer": {
                "customerId": d.customer_id,
                "firstName": d.first_name,
                "lastName": d.last_name,
            },
        }

    def _message_json(self, m: SimMessage) -> dict[str, Any]:
        return {
            "messageId": m.message_id,
            "body": m.body,
            "sender": {"userType": m.sender_type, "userId": m.sender_id},
            "receivers": [{"userType": r} for r in m.receivers],
            "createdAt": iso(m.created_at),
            "hasRead": m.has_read,
            "attachments": [
                {
                    "attachmentId": a.attachment_id,
                    "fileName": a.file_name,
                    "contentType": a.content_type,
                    "size": len(a.data),
                }
                for a in m.attachments
            ],
        }

    def _get(self, request: Request) -> Response:
        self._only(request, set())
        with self.lock:
            d = self._discussion(request)
            body = {
                **self._summary(d),
                "messages": [self._message_json(m) for m in d.messages],
                "eligibleReceivers": ["Customer", "GrcOperator"]
                if d.graduation != "Discussion"
                else ["Customer"],
            }
        return Response(200, body)

    def _reply(self, request: Request) -> Response:
        self._only(request, set())
        text, receivers, files = _reply_parts(request)
        with self.lock:
            d = self._discussion(request)
            eligible = ["Customer", "GrcOperator"] if d.graduation != "Discussion" else ["Customer"]
            for receiver in receivers:
                if receiver not in eligible:
                    raise problem(400, "Bad Request", f"{receiver} may not receive this reply")
            if not d.is_open:
                raise problem(409, "Conflict", "the discussion is closed")
            message = self._add_message(
                d,
                "Seller",
                self.seller_id,
                text,
                receivers,
                [(f.filename, f.content_type, f.data) for f in files],
            )
            return Response(201, self._message_json(message))

    def _file(self, request: Request) -> Response:
        self._only(request, set())
        with self.lock:
            d = self._discussion(request)
            for m in d.messages:
                for a in m.attachments:
                    if a.attachment_id == request.params["aid"]:
                        return Response(200, a.data, content_type=a.content_type)
        raise problem(404, "Not Found", f"attachment {request.params['aid']} does not exist")

    def _open_new(self, request: Request) -> Response:
        self._only(request, set())
        body = request.json()
        if not isinstance(body, dict):
            raise ContractViolation("the body must be a JSON object")
        allowed = {"orderId", "subject", "subTypologyCode", "salesChannel", "message"}
        unknown = set(body) - allowed
        if unknown:
            raise ContractViolation(f"unknown fields {sorted(unknown)}")
        for name in ("orderId", "subTypologyCode", "message"):
            if not body.get(name):
                raise ContractViolation(f"{name} is required")
        message = body["message"]
        if not isinstance(message, dict) or set(message) - {"body", "receiver"}:
            raise ContractViolation("message takes body and receiver")
        if not message.get("body") or message.get("receiver") not in ("Customer", "GrcOperator"):
            raise ContractViolation("message.body and message.receiver are required")
        with self.lock:
            if body["orderId"] not in self.orders:
                raise problem(404, "Not Found", f"order {body['orderId']} does not exist")
            d = self._new_discussion(
                body["orderId"],
                subject=body.get("subject", ""),
                customer_id="",
                claim_type="",
                sub_typology_code=body["subTypologyCode"],
            )
            self._add_message(
                d, "Seller", self.seller_id, message["body"], [message["receiver"]], None
            )
            return Response(201, self._summary(d))

    def _close(self, request: Request) -> Response:
        return self._set_open(request, False)

    def _reopen(self, request: Request) -> Response:
        return self._set_open(request, True)

    def _set_open(self, request: Request, is_open: bool) -> Response:
        self._only(request, set())
        if request.body and json.loads(request.body or b"null") not in (None, {}):
            raise ContractViolation("close and open take no body")
        with self.lock:
            d = self._discussion(request)
            if d.is_open and not is_open:
                self.closed_by_seller.append(d.discussion_id)
            d.is_open = is_open
            d.updated_at = self.now()
            return Response(200, self._summary(d))


def _reply_parts(request: Request) -> tuple[str, list[str], list[Part]]:
    """A reply's multipart body (its text, receivers and attachments), checked before the
    discussion is looked at."""
    fields: dict[str, list[str]] = {}
    files = []
    for part in request.multipart():
        if part.name == "attachments":
            if not part.filename:
                raise ContractViolation("an attachments part needs a filename")
            files.append(part)
        elif part.name in ("body", "receivers"):
            fields.setdefault(part.name, []).append(part.data.decode("utf-8"))
        else:
            raise ContractViolation(f"unknown multipart field {part.name!r}")
    if len(fields.get("body", [])) != 1 or not fields["body"][0].strip():
        raise ContractViolation("exactly one non-empty body part is required")
    receivers = fields.get("receivers", [])
    if not receivers:
        raise ContractViolation("receivers is required (Customer, GrcOperator)")
    for receiver in receivers:
        if receiver not in ("Customer", "GrcOperator"):
            raise ContractViolation(f"receivers value {receiver!r} is not known")
    _check_attachments(files)
    return fields["body"][0], receivers, files


def _check_attachments(files: list[Part]) -> None:
    """At most 3 files of 4 MB in all, of the accepted types."""
    if len(files) > MAX_ATTACHMENTS:
        raise problem(400, "Bad Request", f"a message has at most {MAX_ATTACHMENTS} files")
    if sum(len(f.data) for f in files) > MAX_ATTACHMENTS_BYTES:
        raise problem(400, "Bad Request", "the attachments of a message exceed 4 MB")
    for f in files:
        if f.filename.rsplit(".", 1)[-1].lower() not in ACCEPTED_EXTENSIONS:
            raise problem(400, "Bad Request", f"file type of {f.filename!r} is not accepted")
