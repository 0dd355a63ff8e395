"""Does writing first help? Per order at risk in a period (docs/care.md):
- contacted first: the proactive message left before the buyer wrote about the order (any
  message from the buyer on the order's conversations after the risk was detected);
- still wrote: contacted buyers who wrote after the message;
- claims: orders with a case opened after the risk was detected, contacted vs not."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Min, QuerySet

from comptoir.care.models import AtRisk
from comptoir.cases.models import Case
from comptoir.inbox.models import Direction, Message

CHUNK = 500


@dataclass(frozen=True)
class CareFigures:
    at_risk: int  # orders at risk detected in the period
    contacted: int
    contacted_first: int  # contacted before the buyer wrote
    still_wrote: int  # contacted, and the buyer wrote afterwards all the same
    claims_contacted: int  # contacted orders with a claim (case) after detection
    claims_not_contacted: int
    not_contacted: int

    @staticmethod
    def share(part: int, whole: int) -> float | None:
        return round(100 * part / whole, 1) if whole else None

    @property
    def contacted_first_share(self) -> float | None:
        return self.share(self.contacted_first, self.at_risk)

    @property
    def still_wrote_share(self) -> float | None:
        return self.share(self.still_wrote, self.contacted)

    @property
    def claims_contacted_share(self) -> float | None:
        return self.share(self.claims_contacted, self.contacted)

    @property
    def claims_not_contacted_share(self) -> float | None:
        return self.share(self.claims_not_contacted, self.not_contacted)


def figures(risks: QuerySet[AtRisk], start: datetime, end: datetime) -> CareFigures:
    """The figures for the orders of `risks` (already narrowed to what the viewer may see)
    detected in [start, end)."""
    per_order = (
        risks.filter(detected_at__gte=start, detected_at__lt=end)
        .values("order_id")
        .annotate(detected=Min("detected_at"), contacted=Min("contacted_at"))
    )
    orders = {r["order_id"]: (r["detected"], r["contacted"]) for r in per_order}
    wrote: dict[int, list[datetime]] = defaultdict(list)
    claimed: dict[int, list[datetime]] = defaultdict(list)
    ids = list(orders)
    for i in range(0, len(ids), CHUNK):
        chunk = ids[i : i + CHUNK]
        for order_id, at in Message.objects.filter(
            conversation__order_id__in=chunk, direction=Direction.IN, received_at__gte=start
        ).values_list("conversation__order_id", "received_at"):
            wrote[order_id].append(at)
        for order_id, at in Case.objects.filter(
            order_id__in=chunk, opened_at__gte=start
        ).values_list("order_id", "opened_at"):
            claimed[order_id].append(at)
    counts = dict.fromkeys(["contacted", "first", "still", "claims_c", "claims_n"], 0)
    for order_id, (detected, contacted) in orders.items():
        claim = any(at >= detected for at in claimed[order_id])
        if contacted is None:
            counts["claims_n"] += claim
            continue
        counts["contacted"] += 1
        messages = [at for at in wrote[order_id] if at >= detected]
        counts["first"] += not any(at < contacted for at in messages)
        counts["still"] += any(at > contacted for at in messages)
        counts["claims_c"] += claim
    return CareFigures(
        at_risk=len(orders),
        contacted=counts["contacted"],
        contacted_first=counts["first"],
        still_wrote=counts["still"],
        claims_contacted=counts["claims_c"],
        claims_not_contacted=counts["claims_n"],
        not_contacted=len(orders) - counts["contacted"],
    )
