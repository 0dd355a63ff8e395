"""Returns, item-not-received inquiries and cases of eBay's Post-Order API v2, as conversations.

Each return, inquiry or case is one conversation (`return:<returnId>`, `inquiry:<inquiryId>`,
`case:<caseId>`) whose messages are its history entries. Endpoints followed (eBay's call
reference, developer.ebay.com/Devzone/post-order):
- `GET /post-order/v2/return/search`, `/inquiry/search`, `/casemanagement/search`: `limit`,
  `offset`, and a creation date range (`creation_date_range_from`/`_to`,
  `inquiry_creation_date_range_from`/`_to`, `case_creation_date_range_from`/`_to`).
- `GET /post-order/v2/return/{returnId}?fieldgroups=FULL`, `/inquiry/{inquiryId}`,
  `/casemanagement/{caseId}`: the history (`detail.responseHistory`,
  `inquiryHistoryDetails.history`, `caseHistoryDetails.history`).
- `POST /post-order/v2/return/{returnId}/send_message` and `/inquiry/{inquiryId}/send_message`
  (`{"message": {"content": ...}}`). Cases have no such call: eBay's staff run them.

The searches filter on the creation date only, so each poll lists the claims opened in the
last `claims_lookback_days` and reads the history of those whose summary changed since the
last poll (the cursor keeps a fingerprint of each summary). eBay gives history entries no id:
a message's id is a hash of the claim, the entry's date, author, action and text, the same on
every read, so ingest drops what a re-read brings twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from comptoir.connectors.base import (
    ConnectorError,
    InboundMessage,
    OutboundMessage,
    Party,
    SendResult,
    SentCandidate,
)
from comptoir.connectors.ebay.calls import EbayCalls
from comptoir.lib import intents

logger = logging.getLogger("comptoir.ebay")

POST_ORDER = "/post-order/v2"
CLAIM_PAGE = 50
# kind -> (cursor key, search path, detail path, id field, date range parameters)
KINDS: dict[str, tuple[str, str, str, str, tuple[str, str]]] = {
    "return": (
        "RETURNS",
        "/return/search",
        "/return/",
        "returnId",
        ("creation_date_range_from", "creation_date_range_to"),
    ),
    "inquiry": (
        "INQUIRIES",
        "/inquiry/search",
        "/inquiry/",
        "inquiryId",
        ("inquiry_creation_date_range_from", "inquiry_creation_date_range_to"),
    ),
    "case": (
        "CASES",
        "/casemanagement/search",
        "/casemanagement/",
        "caseId",
        ("case_creation_date_range_from", "case_creation_date_range_to"),
    ),
}
# Statuses in which eBay waits for the seller: InquiryStatusEnum's OPEN ("the seller has been
# notified") and WAITING_SELLER_RESPONSE, CaseStatusEnum's OPEN (WAITING_CS, ON_HOLD and
# WAITING_DELIVERY wait on someone else). For returns eBay says so itself: `sellerResponseDue`
# is there only while the seller has something to do.
SELLER_TO_ACT = {
    "inquiry": {"OPEN", "WAITING_SELLER_RESPONSE"},
    "case": {"OPEN"},
}
SEARCH_ATTEMPT_LIMIT = 10_000  # claims read per kind and poll, a guard against a runaway walk


def _value_time(value: Any) -> datetime | None:
    """eBay's Post-Order dates are objects `{"value": "2015-05-15T03:52:39.000Z"}`."""
    raw = value.get("value") if isinstance(value, dict) else value
    if not raw:
        return None
    return datetime.fromisoformat(str(raw).replace("Z", "+00:00")).astimezone(UTC)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{value.microsecond // 1000:03d}Z"
    )


def entry_id(kind: str, claim_id: str, at: str, author: str, action: str, text: str) -> str:
    """A history entry's stable id: eBay gives none."""
    raw = "\n".join([kind, claim_id, at, author, action, " ".join(text.split())])
    return f"{kind}:{claim_id}:{hashlib.sha256(raw.encode()).hexdigest()[:32]}"


def split_thread(thread_id: str) -> tuple[str, str]:
    kind, _, claim_id = thread_id.partition(":")
    return (kind, claim_id) if kind in KINDS and claim_id else ("", "")


class ClaimsMixin(EbayCalls):
    """The Post-Order part of `EbayConnector`."""

    def _fetch_claims(self, since: dict[str, Any]) -> Iterator[InboundMessage]:
        for kind in KINDS:
            key = KINDS[kind][0]
            try:
                yield from self._fetch_kind(kind, dict(since.get(key) or {}))
            except ConnectorError as exc:
                if exc.status != 403:
                    raise
                # A consent given before Comptoir read claims may not cover the Post-Order
                # API: the buyers' messages must keep coming in all the same.
                logger.warning(
                    "eBay channel %s: no access to returns, inquiries and cases (%s); "
                    "connect the eBay account again to read them",
                    self.channel.pk,
                    exc,
                )
                return

    def _fetch_kind(self, kind: str, state: dict[str, Any]) -> Iterator[InboundMessage]:
        key, search, _, id_field, (start_name, end_name) = KINDS[kind]
        conf = self.conf()
        overlap = timedelta(minutes=conf.overlap_minutes)
        known: dict[str, list[str]] = dict(state.get("claims") or {})
        newest = _value_time(state.get("since"))
        now = datetime.now(UTC)
        params = {
            start_name: _iso(now - timedelta(days=conf.claims_lookback_days)),
            # Ahead of our clock: eBay's may run ahead of it.
            end_name: _iso(now + timedelta(days=1)),
            "limit": CLAIM_PAGE,
        }
        seen: set[str] = set()
        offset = 0
        while True:
            page = self._get(f"{POST_ORDER}{search}", {**params, "offset": offset}, "postorder")
            page = page or {}
            members = page.get("members") or []
            for summary in members:
                claim_id = str(summary.get(id_field) or "")
                if not claim_id or claim_id in seen:
                    continue
                seen.add(claim_id)
                fingerprint = hashlib.sha256(
                    json.dumps(summary, sort_keys=True).encode()
                ).hexdigest()[:32]
                remembered = known.get(claim_id)
                if remembered and remembered[0] == fingerprint:
                    continue  # nothing changed in it
                since_at = _value_time(remembered[1]) if remembered and remembered[1] else None
                latest: datetime | None = None
                for message in self._fetch_claim(kind, claim_id, summary, since_at, overlap):
                    latest = max(filter(None, [latest, message.sent_at]))
                    yield message
                last = max(filter(None, [latest, since_at]), default=None)
                known[claim_id] = [fingerprint, _iso(last) if last else ""]
                newest = max(filter(None, [newest, latest]), default=None)
            offset += CLAIM_PAGE
            total = int((page.get("paginationOutput") or {}).get("totalEntries") or 0)
            if offset >= SEARCH_ATTEMPT_LIMIT:
                break
            if not members or offset >= total:
                # The whole window was listed: what is not in it any more has aged out of the
                # search and is forgotten, so the cursor does not grow for ever.
                known = {cid: value for cid, value in known.items() if cid in seen}
                break
        self.cursor[key] = {"since": _iso(newest) if newest else "", "claims": known}

    def _claim_detail(self, kind: str, claim_id: str) -> dict[str, Any]:
        detail_path = KINDS[kind][2]
        params = {"fieldgroups": "FULL"} if kind == "return" else None
        return (
            self._get(f"{POST_ORDER}{detail_path}{quote(claim_id, safe='')}", params, "postorder")
            or {}
        )

    def _claim_entries(
        self, kind: str, detail: dict[str, Any]
    ) -> list[tuple[datetime, str, str, str, str]]:
        """(date, raw date, author, action, text) of each history entry, oldest first."""
        if kind == "return":
            raw = (detail.get("detail") or {}).get("responseHistory") or []
            rows = [
                (
                    e.get("creationDate"),
                    str(e.get("author") or ""),
                    str(e.get("activity") or ""),
                    str(e.get("notes") or ""),
                )
                for e in raw
            ]
        else:
            holder = "inquiryHistoryDetails" if kind == "inquiry" else "caseHistoryDetails"
            raw = (detail.get(holder) or {}).get("history") or []
            rows = [
                (
                    e.get("date"),
                    str(e.get("actor") or ""),
                    str(e.get("action") or ""),
                    str(e.get("description") or ""),
                )
                for e in raw
            ]
        entries = []
        for date, author, action, text in rows:
            at = _value_time(date)
            if at is None:
                continue
            raw_date = str(date.get("value") if isinstance(date, dict) else date)
            entries.append((at, raw_date, author, action, text))
        entries.sort(key=lambda e: (e[0], e[2], e[3], e[4]))
        return entries

    def _fetch_claim(
        self,
        kind: str,
        claim_id: str,
        summary: dict[str, Any],
        since_at: datetime | None,
        overlap: timedelta,
    ) -> Iterator[InboundMessage]:
        detail = self._claim_detail(kind, claim_id)
        info = {**summary, **(detail.get("summary") or {}), **detail}
        case = self._case_meta(kind, claim_id, info)
        buyer = str(info.get("buyerLoginName") or info.get("buyer") or "") or "unknown"
        party = Party(identity_kind="ebay_user", identity_value=buyer, name=buyer)
        ebay = Party(identity_kind="ebay_system", identity_value="ebay", name="eBay")
        order = str(info.get("orderId") or "")
        seller_must_act = self._seller_must_act(kind, info)
        entries = self._claim_entries(kind, detail)
        inbound_dates = [at for at, _, author, _, _ in entries if author.upper() != "SELLER"]
        newest_in = max(inbound_dates, default=None)
        threshold = since_at - overlap if since_at else None
        label = {"return": "Return", "inquiry": "Item not received", "case": "Case"}[kind]
        for at, raw_date, author, action, text in entries:
            if threshold is not None and at < threshold:
                continue
            who = author.upper()
            outgoing = who == "SELLER"
            by_ebay = who not in ("BUYER", "SELLER")
            yield InboundMessage(
                channel_id=self.channel.pk,
                external_id=entry_id(kind, claim_id, raw_date, author, action, text),
                direction="out" if outgoing else "in",
                sender=ebay if by_ebay else party,
                subject=f"{label} {claim_id}" + (f" - order {order}" if order else ""),
                # An entry without text is a step (opened, escalated, closed): say which.
                text=text or f"[{action or 'update'}]",
                sent_at=at,
                thread_id=f"{kind}:{claim_id}",
                order_number=order[:64],
                is_auto=by_ebay,
                # Only the newest of the buyer's entries carries eBay's verdict: the older
                # ones were answered or overtaken.
                needs_reply=None if outgoing else (seller_must_act and at == newest_in),
                reason=case["reason"][:64],
                intent="" if outgoing else _intent(kind, case["reason"]),
                meta={"ebay_case": case, "actor": author, "action": action},
                tags=[kind, "claim"],
            )

    def _seller_must_act(self, kind: str, info: dict[str, Any]) -> bool:
        if kind == "return":
            return bool(info.get("sellerResponseDue"))
        status = info.get("status") or info.get("inquiryStatusEnum") or info.get("caseStatusEnum")
        return str(status or "") in SELLER_TO_ACT[kind]

    def _case_meta(self, kind: str, claim_id: str, info: dict[str, Any]) -> dict[str, Any]:
        if kind == "return":
            creation = info.get("creationInfo") or {}
            refund = (info.get("sellerTotalRefund") or {}).get("estimatedRefundAmount") or {}
            due = (info.get("sellerResponseDue") or {}).get("respondByDate")
            status = info.get("status") or info.get("state")
            reason = creation.get("reason")
            opened = _value_time(creation.get("creationDate"))
        else:
            refund = info.get("claimAmount") or {}
            due = info.get("respondByDate")
            status = (
                info.get("status") or info.get("inquiryStatusEnum") or info.get("caseStatusEnum")
            )
            # InquiryDetailsResponse names its reason creationReason; an inquiry is always
            # about an item not received.
            reason = info.get("caseType") if kind == "case" else info.get("creationReason")
            reason = reason or ("" if kind == "case" else "ITEM_NOT_RECEIVED")
            opened = _value_time(
                info.get("creationDate") or (info.get("inquiryDetails") or {}).get("creationDate")
            )
        meta: dict[str, Any] = {
            "type": kind,
            "id": claim_id,
            "status": str(status or ""),
            "reason": str(reason or ""),
            "opened_at": _iso(opened) if opened else "",
            "amount": {
                "value": str(refund.get("value") if refund.get("value") is not None else ""),
                "currency": str(refund.get("currency") or ""),
            },
        }
        respond_by = _value_time(due)
        if respond_by:
            meta["respond_by"] = _iso(respond_by)
        return meta

    # -- replies ----------------------------------------------------------------------------------

    def _send_claim(self, outbound: OutboundMessage) -> SendResult:
        kind, claim_id = split_thread(outbound.conversation_thread_id)
        if kind == "case":
            raise ConnectorError(
                "eBay cases take no messages from the seller through the API: answer this "
                "case on eBay (Resolution Centre)",
                permanent=True,
                about_message=True,
            )
        text = outbound.text.strip()
        if not text:
            raise ConnectorError("eBay needs a message text", permanent=True, about_message=True)
        if outbound.attachments:
            raise ConnectorError(
                f"eBay's {kind} messages take text only: remove the attachments",
                permanent=True,
                about_message=True,
            )
        try:
            self._call(
                "POST",
                f"{POST_ORDER}/{kind}/{quote(claim_id, safe='')}/send_message",
                json_body={"message": {"content": text}},
                which="postorder",
            )
            # eBay answers without the message: it is read back from the history. It was
            # sent whatever happens now, so any failure here is "maybe sent".
            try:
                found = self._find_claim_message(outbound, kind, claim_id)
            except ConnectorError as exc:
                raise ConnectorError(
                    f"eBay took the {kind} message; reading it back failed: {exc}",
                    maybe_sent=True,
                ) from exc
        finally:
            self.close()
        if found is None:
            raise ConnectorError(
                f"eBay took the {kind} message but it is not in the {kind}'s history yet",
                maybe_sent=True,
            )
        return found

    def _find_claim_message(
        self, outbound: OutboundMessage, kind: str, claim_id: str
    ) -> SendResult | None:
        """The seller's entry in the claim's history that `Connector.pick_sent` recognises."""
        return self.pick_sent(
            outbound,
            [
                SentCandidate(
                    external_id=entry_id(kind, claim_id, raw_date, author, action, text),
                    text=text,
                    created_at=at,
                )
                for at, raw_date, author, action, text in self._claim_entries(
                    kind, self._claim_detail(kind, claim_id)
                )
                if author.upper() == "SELLER"
            ],
        )


def _intent(kind: str, reason: str) -> str:
    """eBay's reason (a return's reason code, a case's type) as an intent; an inquiry is
    always about an item not received, a return without a known reason is a return."""
    return intents.from_reason(reason) or {
        "inquiry": "not_received",
        "return": "return_request",
    }.get(kind, "")
