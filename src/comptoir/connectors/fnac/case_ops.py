"""A Fnac claim (incident) refunded through `incidents_update` (action `refund`), exactly once
(`Connector.send_case_operation`).

The contract (`IncidentsUpdateService.xsd`) refunds order lines (`order_detail_id`, with a
`refund_reason`), not an amount: only a refund of the whole claim is sent; a partial one is
refused, to be made in Fnac's back office. The lines are the incident's own
(`incidents_query` by `incident_id`), the reason is `other` (the agent's reason is in
Comptoir; Fnac's list is in `state.xsd`). The contract has no call to answer or close an
incident: answers go as messages on the order (a reply), closing is Fnac's.

Exactly once: `incidents_update` takes no idempotency key. Before a retry the incident is read
again: a refund on its lines dated after the first attempt began (less `CLOCK_SKEW`) is this
step.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import TYPE_CHECKING

from comptoir.connectors.base import CLOCK_SKEW, CaseOperationOut, ConnectorError, SendResult
from comptoir.connectors.fnac import dialect
from comptoir.connectors.fnac.dialect import q, sub, text

STEPS = frozenset({"refund"})


def incident_of(claim_id: str) -> str:
    kind, _, incident_id = claim_id.partition(":")
    return incident_id if kind == "incident" else ""


class FnacCaseOperations:
    """The refund step of `FnacConnector` (first in its bases, before `Connector`)."""

    if TYPE_CHECKING:

        def call(
            self,
            service: str,
            build: Callable[[ET.Element], object],
            *,
            idempotent: bool = True,
            results_count: int | None = None,
        ) -> ET.Element: ...

    @classmethod
    def case_operations(cls, claim_id: str) -> frozenset[str]:
        return STEPS if incident_of(claim_id) else frozenset()

    def send_case_operation(self, operation: CaseOperationOut) -> SendResult:
        incident_id = incident_of(operation.claim_id)
        if operation.kind != "refund" or not incident_id:
            raise ConnectorError(
                f"Fnac does not take this step ({operation.kind}) through its API",
                permanent=True,
                about_message=True,
            )
        if not operation.full:
            raise ConnectorError(
                "Fnac refunds a claim's whole order lines: record a full refund, or make a "
                "partial one in Fnac's back office",
                permanent=True,
                about_message=True,
            )
        incident = self._incident(incident_id)
        header = incident.find(q("header"))
        order_id = text(header, "order_id") if header is not None else ""
        details = [
            text(d, "order_detail_id")
            for d in incident.iter(q("order_detail_incident"))
            if text(d, "order_detail_id")
        ]

        def build(request: ET.Element) -> None:
            order = sub(request, "order", incident_id=incident_id, order_id=order_id)
            order.set("action", "refund")
            for detail in details:
                line = sub(order, "order_detail")
                sub(line, "order_detail_id", detail)
                sub(line, "refund_reason", "other")

        answer = self.call("incidents_update", build, idempotent=False)
        node = answer.find(q("order"))
        if node is None or text(node, "status") != "OK":
            words = "; ".join((e.text or "").strip() for e in answer.iter(q("error")))
            raise ConnectorError(
                f"Fnac did not refund: {words or 'no answer for the incident'}",
                permanent=True,
                about_message=True,
            )
        return SendResult(external_id=f"{operation.claim_id}:refund")

    def find_case_operation(self, operation: CaseOperationOut) -> SendResult | None:
        incident_id = incident_of(operation.claim_id)
        if operation.kind != "refund" or not incident_id:
            return None
        not_before = (
            operation.attempt_started_at - CLOCK_SKEW if operation.attempt_started_at else None
        )
        for refund in self._incident(incident_id).iter(q("refund")):
            at = dialect.parse_datetime(text(refund, "created_at"))
            if at is not None and (not_before is None or at >= not_before):
                return SendResult(external_id=f"{operation.claim_id}:refund", sent_at=at)
        return None

    def _incident(self, incident_id: str) -> ET.Element:
        def build(request: ET.Element) -> None:
            sub(request, "incident_id", incident_id)

        found = self.call("incidents_query", build).find(q("incident"))
        if found is None:
            raise ConnectorError(
                f"Fnac does not know incident {incident_id}", permanent=True, about_message=True
            )
        return found
