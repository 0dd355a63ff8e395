"""Fnac's query and update services in the simulator: `messages_query`, `messages_update`,
`incidents_query` and `orders_query`, each answering the XML its XSD describes."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable

from comptoir.connectors.fnac import dialect
from comptoir.connectors.fnac.dialect import q, sub, text
from comptoir.connectors.fnac.simulator.state import FnacMarketplace, SimMessage
from comptoir.connectors.simulator import Request

# The messages_query filters that keep the messages whose field equals the element's text.
MESSAGE_FILTERS: dict[str, Callable[[SimMessage, str], bool]] = {
    "message_type": lambda m, value: m.referer_type == value,
    "message_state": lambda m, value: m.state == value,
    "message_archived": lambda m, value: m.archived == (value == "TRUE"),
    "message_id": lambda m, value: m.message_id == value,
    "order_fnac_id": lambda m, value: m.referer_type == "ORDER" and m.referer == value,
    "offer_fnac_id": lambda m, value: m.referer_type == "OFFER" and m.referer == value,
}


class FnacServices(FnacMarketplace):
    """One method per service, `_<service>(root, request)`, called under the lock."""

    def _paged[T](
        self, root: ET.Element, request: Request, items: list[T]
    ) -> tuple[list[T], int, int]:
        """The page asked for, its number and the page count; page faults applied."""
        size = int(root.get("results_count") or 100)
        page = max(1, int(text(root, "paging") or 1))
        total = max(1, -(-len(items) // size))
        chosen = items[(page - 1) * size : page * size]
        fault = self.page_fault(request)
        if fault == "duplicate_page" and page > 1:
            # Items of the previous page come again, as when something moved during paging.
            chosen = items[(page - 1) * size - 3 : (page - 1) * size] + chosen
        elif fault == "reorder_page":
            chosen = list(chosen)
            self._shuffle.shuffle(chosen)
        return chosen, page, total

    def _messages_query(self, root: ET.Element, request: Request) -> ET.Element:
        found = _matching_messages(self.messages, root)
        page_items, page, total = self._paged(root, request, found)
        answer = dialect.element("messages_query_response", {"status": "OK"})
        unread = sum(1 for m in self.messages if m.state == "UNREAD")
        sub(answer, "messages_unread_result", str(unread))
        sub(answer, "messages_read_result", str(len(self.messages) - unread))
        sub(answer, "page", str(page))
        sub(answer, "total_paging", str(total))
        sub(answer, "nb_total_result", str(len(found)))
        for m in page_items:
            self._message_element(answer, m)
        return answer

    def _message_element(self, answer: ET.Element, m: SimMessage) -> None:
        item = sub(answer, "message", state=m.state, archived="TRUE" if m.archived else "FALSE")
        sub(item, "message_id", m.message_id)
        sub(item, "message_referer", m.referer, type=m.referer_type)
        sub(item, "message_from", m.from_name, type=m.from_type)
        if m.offer_title:
            sub(item, "message_offer_title", m.offer_title)
        sub(item, "message_subject", m.subject)
        sub(item, "message_description", m.description)
        sub(item, "created_at", dialect.xs_datetime(m.created_at))
        sub(item, "updated_at", dialect.xs_datetime(m.updated_at))
        for file in m.files:
            node = sub(item, "message_file")
            sub(node, "name", file.name)
            sub(node, "url", f"{self.base_url}/files/{file.file_id}")
            sub(node, "filetype", file.content_type)

    def _messages_update(self, root: ET.Element, request: Request) -> ET.Element:
        answer = dialect.element("messages_update_response", {"status": "OK"})
        for node in root.findall(q("message")):
            action, target_id = node.get("action", ""), node.get("id", "")
            result = sub(answer, "message", status="OK")
            error = self._update(action, target_id, node, result)
            if error:
                result.set("status", "ERROR")
                result.set("id", target_id)
                sub(result, "error", error, severity="ERROR", code="ERR_MESSAGE")
                answer.set("status", "WARNING")
        return answer

    def _update(self, action: str, target_id: str, node: ET.Element, result: ET.Element) -> str:
        if action in ("reply", "create"):
            # Fnac dates a seller's message when it stores it, not on the backlog's clock.
            self.catch_up()
        now = self.now()
        if action in ("reply", "create"):
            description = text(node, "message_description")
            if not description:
                return "message_description is required to reply"
            if action == "reply":
                target = next((m for m in self.messages if m.message_id == target_id), None)
                if target is None:
                    return f"unknown message {target_id}"
                kind, referer = target.referer_type, target.referer
                target.state, target.updated_at = "READ", now
            else:
                if target_id not in self.orders or text(node, "message_type") != "ORDER":
                    return f"unknown order {target_id}"
                kind, referer = "ORDER", target_id
            message = SimMessage(
                message_id=self.new_id(),
                referer_type=kind,
                referer=referer,
                from_type="SELLER",
                from_name="Maison Lumière",
                subject=text(node, "message_subject") or "other_question",
                description=description,
                created_at=now,
                updated_at=now,
                state="READ",
                to=text(node, "message_to") or "CLIENT",
            )
            self.messages.append(message)
            result.set("id", message.message_id)
            return ""
        target = next((m for m in self.messages if m.message_id == target_id), None)
        if target is None:
            return f"unknown message {target_id}"
        result.set("id", target_id)
        if action in ("mark_as_read", "mark_as_read_and_archive"):
            target.state = "READ"
        if action == "mark_as_unread":
            target.state = "UNREAD"
        if action in ("archive", "mark_as_read_and_archive"):
            target.archived = True
        if action == "unarchive":
            target.archived = False
        target.updated_at = now
        return ""

    def _incidents_query(self, root: ET.Element, request: Request) -> ET.Element:
        found = list(self.incidents)
        for child in root:
            name, value = dialect.local(child.tag), (child.text or "").strip()
            if name == "date":
                attr = {"CreatedAt": "created_at", "UpdatedAt": "updated_at"}.get(
                    child.get("type", ""), "updated_at"
                )
                found = _between(found, child, attr)
            elif name == "status":
                found = [i for i in found if i.status == value]
            elif name == "order":
                found = [i for i in found if i.order_id == value]
            elif name == "incident_id":
                found = [i for i in found if i.incident_id == value]
            elif name == "sort_by":
                found.sort(key=lambda i: i.updated_at, reverse=value == "DESC")
        page_items, page, total = self._paged(root, request, found)
        answer = dialect.element("incidents_query_response", {"status": "OK"})
        sub(answer, "page", str(page))
        sub(answer, "total_paging", str(total))
        sub(answer, "nb_total_per_page", root.get("results_count") or "100")
        sub(answer, "nb_total_result", str(len(found)))
        for i in page_items:
            node = sub(answer, "incident", id=i.incident_id)
            header = sub(node, "header")
            sub(header, "status", i.status)
            sub(header, "waiting_for_seller_answer", "TRUE" if i.waiting else "FALSE")
            sub(header, "message", i.message)
            sub(header, "opened_by", i.opened_by)
            if i.closed_status is not None:
                sub(header, "closed_by", "call-center")
                sub(header, "closed_status", str(i.closed_status))
            sub(header, "created_at", dialect.xs_datetime(i.created_at))
            sub(header, "updated_at", dialect.xs_datetime(i.updated_at))
            if i.closed_status is not None:
                sub(header, "closed_at", dialect.xs_datetime(i.updated_at))
            sub(header, "order_id", i.order_id)
            details = sub(sub(node, "order_details_incident"), "order_detail_incident")
            sub(details, "order_detail_id", "1")
            sub(details, "type", str(i.claim_type))
            sub(details, "status", i.status)
            sub(details, "created_at", dialect.xs_datetime(i.created_at))
            sub(details, "updated_at", dialect.xs_datetime(i.updated_at))
            if i.refunded_at is not None:
                refund = sub(sub(details, "refunds"), "refund")
                sub(refund, "product_amount", i.refunded_amount)
                sub(refund, "shipping_amount", "0")
                sub(refund, "fee_ht_amount", "0")
                sub(refund, "created_at", dialect.xs_datetime(i.refunded_at))
        return answer

    def _orders_query(self, root: ET.Element, request: Request) -> ET.Element:
        wanted: set[str] | None = None
        for child in root:
            name = dialect.local(child.tag)
            if name == "order_fnac_id":
                wanted = (wanted or set()) | {(child.text or "").strip()}
            elif name == "orders_fnac_id":
                wanted = (wanted or set()) | {(c.text or "").strip() for c in child}
        found = [o for o in self.orders.values() if wanted is None or o.order_id in wanted]
        found.sort(key=lambda o: o.created_at)
        page_items, page, total = self._paged(root, request, found)
        answer = dialect.element("orders_query_response", {"status": "OK"})
        sub(answer, "page", str(page))
        sub(answer, "total_paging", str(total))
        sub(answer, "nb_total_per_page", root.get("results_count") or "100")
        sub(answer, "nb_total_result", str(len(found)))
        for o in page_items:
            node = sub(answer, "order")
            sub(node, "shop_id", self.shop_id)
            sub(node, "client_id", o.client_id)
            sub(node, "client_firstname", o.firstname)
            sub(node, "client_lastname", o.lastname)
            sub(node, "client_email", o.email)
            sub(node, "order_id", o.order_id)
            sub(node, "client_culture", "fr-FR")
            sub(node, "state", o.state)
            sub(node, "created_at", dialect.xs_datetime(o.created_at))
            sub(node, "nb_messages", str(sum(1 for m in self.messages if m.referer == o.order_id)))
            for line in o.lines:
                detail = sub(node, "order_detail")
                sub(detail, "order_detail_id", str(line.detail_id))
                sub(detail, "state", o.state if o.state != "Created" else "ToAccept")
                sub(detail, "product_fnac_id", f"P{line.detail_id:06d}")
                sub(detail, "product_name", line.product_name)
                sub(detail, "offer_fnac_id", f"{o.order_id}-{line.detail_id}")
                sub(detail, "offer_seller_id", line.offer_seller_id)
                sub(detail, "price", str(line.price))
                sub(detail, "fees", "1.50")
                sub(detail, "product_state", "11")
                sub(detail, "quantity", str(line.quantity))
                if line.tracking_number:
                    sub(detail, "tracking_number", line.tracking_number)
                sub(detail, "shipping_price", str(line.shipping_price))
        return answer


def _matching_messages(messages: list[SimMessage], root: ET.Element) -> list[SimMessage]:
    """The messages a messages_query asks for: its filters and its sort, in document order."""
    found = list(messages)
    for child in root:
        name, value = dialect.local(child.tag), (child.text or "").strip()
        if name == "date":
            attr = "updated_at" if child.get("type") == "UpdatedAt" else "created_at"
            found = _between(found, child, attr)
        elif name in MESSAGE_FILTERS:
            keep = MESSAGE_FILTERS[name]
            found = [m for m in found if keep(m, value)]
        elif name == "message_from_types":
            kinds = {(t.text or "").strip() for t in child}
            found = [m for m in found if m.from_type in kinds]
        elif name == "sort_by":
            attr = "updated_at" if value == "UPDATED_AT" else "created_at"
            found.sort(key=lambda m: getattr(m, attr), reverse=child.get("type") == "DESC")
    return found


def _between[T](items: list[T], date: ET.Element, attr: str) -> list[T]:
    """The items whose `attr` falls within a `date` filter's `min` and `max` (either optional)."""
    low = dialect.parse_datetime(text(date, "min"))
    high = dialect.parse_datetime(text(date, "max"))
    return [
        i
        for i in items
        if (low is None or getattr(i, attr) >= low) and (high is None or getattr(i, attr) <= high)
    ]
