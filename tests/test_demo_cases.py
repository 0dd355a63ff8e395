"""The demo's cases: claims on every marketplace over the year, the recent ones open with their
deadline near, the past ones resolved with outcomes and refunds, so that the disputes KPIs show
plausible figures (loaded small here: `--scale`)."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db.models import F

from comptoir.analytics import kpis
from comptoir.analytics.period import Filters, Period
from comptoir.cases.models import Case, CaseOperation, OperationKind, Stage
from comptoir.demo.generate import reference_now
from comptoir.inbox.models import Event, EventKind

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def test_the_demo_has_claims_on_every_marketplace_with_deadlines_and_outcomes() -> None:
    out = StringIO()
    call_command(
        "demo", "--seed", "4", "--conversations", "80", "--days", "30", "--scale", "0.2",
        stdout=out,
    )  # fmt: skip
    assert "Demo loaded" in out.getvalue()
    claims = Case.objects.exclude(claim_kind="")
    assert set(claims.values_list("channel__marketplace", flat=True)) == {
        "amazon", "ebay", "cdiscount", "fnac", "darty",
    }  # fmt: skip
    assert {"amazon_atoz", "mirakl_incident", "ebay_return"} <= set(
        claims.values_list("claim_kind", flat=True)
    )
    now = reference_now()
    open_ones = claims.exclude(stage=Stage.RESOLVED)
    assert open_ones.filter(deadline__gt=now).count() >= 3
    assert len(set(open_ones.values_list("channel__marketplace", flat=True))) >= 2
    resolved = Case.objects.filter(stage=Stage.RESOLVED)
    assert resolved.filter(refund_amount__gt=0).exists()
    # Refunds made from the case panel and taken by the marketplace: the step shows as sent.
    synced = CaseOperation.objects.filter(kind=OperationKind.REFUND, delivery_state="sent")
    assert synced.exists()
    assert all(op.case.refund_amount for op in synced)
    assert resolved.filter(outcome="rejected").exclude(rejection_reason="").exists()
    assert not resolved.filter(outcome="").exists()
    assert not resolved.filter(resolved_at__lt=F("opened_at")).exists()
    # Over the year: cases every quarter, and the disputes KPI a seller's (0.5 to 3 per 100).
    first = min(Case.objects.values_list("opened_at", flat=True))
    assert now - first > timedelta(days=270)
    year = Period(start=now - timedelta(days=365), end=now)
    per_100 = kpis.disputes_per_100_orders(year, Filters())
    assert per_100 is not None
    assert 0.5 <= per_100 <= 3, per_100
    # Each case is on its conversation's timeline.
    opened = Event.objects.filter(kind=EventKind.CASE_OPENED).count()
    assert opened == Case.objects.count()
