"""`{% case_operations case can_write %}`: what the case panel offers to tell the marketplace
(answer, refund, close, accept or refuse a return, as its API allows) and the steps already
asked, with their state."""

from __future__ import annotations

from typing import Any

from django import template

from comptoir.cases.operations import PENDING_OR_DONE, RETURN_DECISIONS, supported

register = template.Library()


@register.inclusion_tag("cases/_operations.html")
def case_operations(case: Any, can_write: bool) -> dict[str, Any]:
    steps = supported(case)
    ops = list(case.operations.select_related("created_by").order_by("pk")) if steps else []
    return {
        "case": case,
        "steps": steps,
        "ops": ops,
        "can_write": can_write,
        # Accepted or refused already (or on its way): the buttons give way to the step.
        "return_decided": any(
            op.kind in RETURN_DECISIONS and op.delivery_state in PENDING_OR_DONE for op in ops
        ),
        "marketplace": case.channel.get_marketplace_display(),
        "currency": case.currency or (case.order.currency if case.order else "") or "EUR",
    }
