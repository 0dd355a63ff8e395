"""`incidents_update` in the Fnac simulator: the seller refunds a claim's order lines, as
`IncidentsUpdateService.xsd` describes it (an `order` with `incident_id`, `order_id` and
`action="refund"`, one `order_detail` per line with its `order_detail_id` and a
`refund_reason`; the request is checked against the XSD like every other).

Guessed where the schema says nothing: the refund is of the whole line (price and shipping),
an incident already refunded or closed answers the order `ERROR` with an `error` (nothing is
done), an unknown line answers `ERROR` too, and a refunded incident is closed (its detail then
shows the refund in `incidents_query`, `refunds/refund`).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from decimal import Decimal

from comptoir.connectors.fnac import dialect
from comptoir.connectors.fnac.dialect import q, sub, text
from comptoir.connectors.fnac.simulator.services import FnacServices
from comptoir.connectors.fnac.simulator.state import utc_now
from comptoir.connectors.simulator import Request

# The incident's one order detail, as `incidents_query` shows it.
DETAIL_ID = "1"


class FnacIncidentUpdates(FnacServices):
    """Refunds of claims; `incident_refunds` keeps each incident refunded, for tests."""

    def _incidents_update(self, root: ET.Element, request: Request) -> ET.Element:
        answer = dialect.element("incidents_update_response", {"status": "OK"})
        for order in root.findall(q("order")):
            self._refund_incident(answer, order)
        return answer

    def _refund_incident(self, answer: ET.Element, order: ET.Element) -> None:
        incident_id, order_id = order.get("incident_id", ""), order.get("order_id", "")
        incident = next((i for i in self.incidents if i.incident_id == incident_id), None)
        details = [text(d, "order_detail_id") for d in order.findall(q("order_detail"))]
        error = ""
        if incident is None or incident.order_id != order_id:
            error = f"Unknown incident {incident_id} on order {order_id}"
        elif incident.refunded_at is not None or incident.status == "CLOSED":
            error = "The incident is closed or was refunded already"
        elif order.get("action") != "refund" or any(d != DETAIL_ID for d in details):
            error = f"Unknown order detail in {details}"
        node = sub(answer, "order")
        sub(node, "status", "ERROR" if error else "OK")
        sub(node, "incident_id", incident_id)
        if incident is None or error:
            sub(node, "incident_status", incident.status if incident else "OPENED")
            sub(node, "order_id", order_id)
            sub(node, "error", error, severity="ERROR", code="ERR_118")
            return
        lines = self.orders[order_id].lines
        amount = sum((line.price + line.shipping_price for line in lines), Decimal(0))
        # Dated when it happens: the scripted backlog's clock (`now`) runs in the past.
        now = max(self.now(), utc_now())
        incident.refunded_at, incident.refunded_amount = now, str(amount)
        incident.status, incident.waiting, incident.closed_status = "CLOSED", False, 1
        incident.updated_at = now
        self.incident_refunds.append(incident_id)
        sub(node, "incident_status", incident.status)
        sub(node, "order_id", order_id)
        for detail in details:
            line = sub(node, "order_detail")
            sub(line, "order_detail_id", detail)
            sub(line, "status", "OK")
