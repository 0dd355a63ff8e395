"""Cases in the demo: the marketplaces' claims (eBay returns, inquiries and cases, Amazon A-to-z,
Cdiscount claims, Fnac and Darty (Mirakl) incidents) and the cases agents opened, over the year.

A share of each marketplace's orders is disputed (figures a seller of lamps and small appliances
might see: 0.6 to 2 per 100 orders), on the conversations about those orders, those whose buyer
wrote of a damaged, missing or wrong item first. The past ones are resolved with an outcome
(refunds with their amount, replacements, return labels, rejections with a reason); those of
the last two weeks on conversations still open stay open, their marketplace deadline near (a few
already missed). Written in bulk with their timeline lines, as `demo.year` writes the past:
the actions stamp the real time, and a demo needs cases closed last spring.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import count
from typing import Any

from django.db import transaction
from django.db.models import F

from comptoir.cases import operations
from comptoir.cases.models import Case, OpenedBy, OperationKind, Stage
from comptoir.inbox.models import Channel, Conversation, Event, EventKind, Status
from comptoir.lib import cases as words
from comptoir.orders.models import Order


@dataclass(frozen=True)
class Claims:
    procedures: tuple[tuple[str, int], ...]  # claim kind, weight
    window_hours: int  # the marketplace's time to answer
    per_100_orders: float


CLAIMS = {
    "ebay": Claims((("ebay_return", 5), ("ebay_inquiry", 3), ("ebay_case", 1)), 72, 2.0),
    "amazon": Claims((("amazon_atoz", 1),), 72, 0.6),
    "cdiscount": Claims((("cdiscount_claim", 1),), 48, 1.6),
    "fnac": Claims((("fnac_incident", 1),), 48, 1.4),
    "darty": Claims((("mirakl_incident", 1),), 72, 1.2),
}
AGENT_CASES_PER_100_ORDERS = 0.5  # returns and refunds the agents followed by hand
OUTCOMES = (
    ("full_refund", 34),
    ("partial_refund", 18),
    ("replacement", 14),
    ("return_label", 16),
    ("rejected", 18),
)
REJECTIONS = (
    "Tracking shows the parcel delivered and signed for",
    "The returned item never came back",
    "The photos show no damage",
    "Asked after the return window",
)
# The marketplace's own reason word for a kind (as its API or mail gives it).
REASONS = {
    "damaged": ("DEFECTIVE_ITEM", "Defective item", "Produit défectueux"),
    "not_received": ("ITEM_NOT_RECEIVED", "Item not received", "Colis non reçu"),
    "wrong_item": ("NOT_AS_DESCRIBED", "Item not as ordered", "Produit non conforme"),
    "return": ("NO_LONGER_NEED_ITEM", "Right to retract order", "Rétractation"),
    "refund": ("OTHER", "Refund requested", "Demande de remboursement"),
    "cancellation": ("OTHER", "Order cancelled", "Annulation"),
}
OPEN_STAGES = (
    ("open", 4),
    ("waiting_buyer", 2),
    ("waiting_marketplace", 2),
    ("waiting_carrier", 1),
)


def _pick[T](rng: random.Random, table: tuple[tuple[T, int], ...]) -> T:
    return rng.choices([v for v, _w in table], weights=[w for _v, w in table])[0]


def _candidates(rng: random.Random, channels: list[Channel]) -> list[Conversation]:
    """Conversations about an order: those the agents tagged "A-to-z" first (the demo's
    Amazon buyers who threatened one), then those whose buyer wrote of a claim."""
    qs = Conversation.objects.filter(channel__in=channels, order__isnull=False, deleted_at=None)
    convs = list(qs.select_related("order", "channel", "assignee").order_by("pk"))
    tagged = set(qs.filter(tags__name="A-to-z").values_list("pk", flat=True))
    rng.shuffle(convs)
    convs.sort(key=lambda c: (c.pk not in tagged, c.intent not in words.KIND_OF_INTENT))
    return convs


# Claims still running on each marketplace: the live part of the demo leaves few conversations
# open, and picked at random none of them might carry one.
OPEN_CLAIMS_PER_MARKETPLACE = 3


def _with_some_open(convs: list[Conversation]) -> list[Conversation]:
    """The candidates with a few still-open conversations moved to the front."""
    first = [c for c in convs if c.status != Status.RESOLVED][:OPEN_CLAIMS_PER_MARKETPLACE]
    chosen = {c.pk for c in first}
    return first + [c for c in convs if c.pk not in chosen]


@dataclass
class _Made:
    case: Case
    events: list[Event]


class _Writer:
    def __init__(self, rng: random.Random, now: datetime) -> None:
        self.rng, self.now = rng, now
        self.ids = count(5001)

    def external_id(self, claim_kind: str, conv: Conversation) -> str:
        order = conv.order.external_id if conv.order else conv.order_number
        n = next(self.ids)
        return {
            "amazon_atoz": f"atoz:{order}",
            "ebay_return": f"return:{n}",
            "ebay_inquiry": f"inquiry:{n}",
            "ebay_case": f"case:{n}",
            "cdiscount_claim": f"discussion:D-{n}",
            "fnac_incident": f"incident:I-{n}",
            "mirakl_incident": f"incident:{order}:{order}-1",
        }.get(claim_kind, "")

    def kind(self, conv: Conversation, claim_kind: str) -> str:
        if claim_kind == "ebay_inquiry":  # eBay's inquiries are all "item not received"
            return "not_received"
        if conv.intent in words.KIND_OF_INTENT:
            return words.KIND_OF_INTENT[conv.intent]
        return _pick(
            self.rng, (("damaged", 4), ("not_received", 3), ("wrong_item", 2), ("return", 2))
        )

    def make(self, conv: Conversation, claim_kind: str, window: int) -> _Made:
        rng, now = self.rng, self.now
        began = conv.first_inbound_at or conv.created_at
        opened_at = min(began + timedelta(hours=rng.uniform(1, 30)), now - timedelta(hours=2))
        kind = self.kind(conv, claim_kind)
        order: Order | None = conv.order
        total = order.total if order and order.total else Decimal("49.90")
        currency = order.currency if order else "EUR"
        marketplace = conv.channel.marketplace
        reason_words = REASONS.get(kind, REASONS["refund"])
        reason = reason_words[0] if marketplace == "ebay" else reason_words[1]
        if marketplace in ("cdiscount", "fnac"):
            reason = reason_words[2]
        case = Case(
            conversation=conv,
            channel_id=conv.channel_id,
            order=order,
            kind=kind,
            claim_kind=claim_kind,
            reason=reason[:64] if claim_kind else "",
            external_id=self.external_id(claim_kind, conv) if claim_kind else "",
            opened_by=OpenedBy.MARKETPLACE if claim_kind else OpenedBy.AGENT,
            opened_by_user=None if claim_kind else conv.assignee,
            opened_at=opened_at,
            updated_at=opened_at,
            claimed_amount=total if claim_kind else None,
            currency=currency,
            deadline=opened_at + timedelta(hours=window) if window else None,
        )
        label = f"connector:{conv.channel.kind}" if claim_kind else ""
        events = [
            Event(
                conversation=conv,
                kind=EventKind.CASE_OPENED,
                actor=case.opened_by_user,
                actor_label=label or ("" if case.opened_by_user else "system"),
                data={"case_kind": kind, "claim_kind": claim_kind},
                created_at=opened_at,
            )
        ]
        live = conv.status != Status.RESOLVED and opened_at > now - timedelta(days=14)
        if live:
            self._keep_open(case, window)
        else:
            events += self._resolve(case, total, currency, label)
        return _Made(case, events)

    def _keep_open(self, case: Case, window: int) -> None:
        rng = self.rng
        case.stage = _pick(rng, OPEN_STAGES)
        case.marketplace_status = "OPEN" if case.claim_kind else ""
        if window or case.claim_kind:
            # Near: most due in the coming days, a few already missed.
            case.deadline = self.now + timedelta(
                hours=rng.choice([-5, 20, 30, 40, 52, 60, 76, 90, 120])
            )

    def _resolve(self, case: Case, total: Decimal, currency: str, label: str) -> list[Event]:
        rng = self.rng
        resolved = case.opened_at + timedelta(hours=rng.uniform(5, 24 * 12))
        resolved = min(resolved, self.now - timedelta(hours=1))
        outcome = _pick(rng, OUTCOMES)
        case.stage, case.outcome = Stage.RESOLVED, outcome
        case.outcome_at = resolved - timedelta(minutes=rng.randint(1, 90))
        case.resolved_at = case.updated_at = resolved
        case.marketplace_status = "CLOSED" if case.claim_kind else ""
        data: dict[str, Any] = {"change": "outcome", "outcome": outcome}
        if outcome == "full_refund":
            case.refund_amount = total
        elif outcome == "partial_refund":
            share = Decimal(str(round(rng.uniform(0.15, 0.5), 2)))
            case.refund_amount = (total * share).quantize(Decimal("0.01"))
        if case.refund_amount is not None:
            data.update(amount=str(case.refund_amount), currency=currency)
        if outcome == "rejected":
            case.rejection_reason = rng.choice(REJECTIONS)
            data["reason"] = case.rejection_reason
        conv = case.conversation
        actor = conv.assignee
        who = {"actor": actor, "actor_label": "" if actor else (label or "system")}
        return [
            Event(conversation=conv, kind=EventKind.CASE_CHANGED, data=data,
                  created_at=case.outcome_at, **who),
            Event(conversation=conv, kind=EventKind.CASE_CHANGED, data={"change": "closed"},
                  created_at=resolved, **who),
        ]  # fmt: skip


def seed(*, seed: int, now: datetime) -> int:
    """Open the demo's cases; returns how many."""
    rng = random.Random(seed * 31 + 15)
    writer = _Writer(rng, now)
    made: list[_Made] = []
    taken: set[int] = set()
    claimed: set[tuple[int, str]] = set()  # a claim's id is unique on its channel
    channels = list(Channel.objects.all())
    for marketplace, claims in CLAIMS.items():
        on = [c for c in channels if c.marketplace == marketplace]
        orders = Order.objects.filter(channel__marketplace=marketplace).count()
        want = round(orders * claims.per_100_orders / 100)
        for conv in _with_some_open(_candidates(rng, on))[:want]:
            one = writer.make(conv, _pick(rng, claims.procedures), claims.window_hours)
            if (conv.channel_id, one.case.external_id) in claimed:
                continue  # two conversations about one order: its claim once
            claimed.add((conv.channel_id, one.case.external_id))
            made.append(one)
            taken.add(conv.pk)
    # The agents' own cases: any channel, no marketplace deadline (an agent's, sometimes).
    orders = Order.objects.count()
    want = round(orders * AGENT_CASES_PER_100_ORDERS / 100)
    for conv in [c for c in _candidates(rng, channels) if c.pk not in taken][:want]:
        made.append(writer.make(conv, "", rng.choice([0, 0, 72])))
    with transaction.atomic():
        cases = Case.objects.bulk_create([m.case for m in made], batch_size=500)
        events = []
        for case, m in zip(cases, made, strict=True):
            for event in m.events:
                event.data = {"case": case.pk, **event.data}
                events.append(event)
        Event.objects.bulk_create(events, batch_size=1000)
    return len(cases)


REFUNDS_SYNCED = 2  # open claims refunded by an agent, the refund taken by the marketplace


def refund_some(actor: Any, *, now: datetime) -> int:
    """A few open claims refunded from the case panel, the refund sent to the marketplace and
    taken (as the send task records it; the demo's history calls no marketplace): the case
    panel shows the step as received. The case stays open, its outcome recorded, until the
    marketplace closes the claim."""
    done: set[str] = set()
    claims = (
        Case.objects.exclude(claim_kind="")
        .exclude(stage=Stage.RESOLVED)
        .select_related("channel", "conversation", "order")
        .order_by(F("deadline").desc(nulls_last=True), "pk")
    )
    for case in claims:
        market = case.channel.marketplace
        if len(done) >= REFUNDS_SYNCED or market in done:
            continue
        if OperationKind.REFUND not in operations.supported(case):
            continue
        with transaction.atomic():
            op = operations.refund_claim(case, amount=None, actor=actor, via="demo")
            operations.record_operation_sent(
                op, external_id=f"R-{case.external_id or case.pk}", sent_at=now
            )
        done.add(market)
    return len(done)
