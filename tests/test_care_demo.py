"""The demo's proactive care: orders at risk in each situation, and proactive messages sent on
several marketplaces (loaded small: `--scale`)."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command

from comptoir.care.models import AtRisk, Reason
from comptoir.inbox.models import DeliveryState, Message

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def test_the_demo_has_orders_at_risk_in_each_situation_and_messages_sent() -> None:
    out = StringIO()
    call_command(
        "demo", "--seed", "4", "--conversations", "80", "--days", "30", "--scale", "0.2",
        stdout=out,
    )  # fmt: skip
    still = AtRisk.objects.filter(resolved_at__isnull=True)
    assert set(still.values_list("reason", flat=True)) == set(Reason.values)
    contacted = still.exclude(contacted_at=None)
    assert contacted.exists()
    assert still.filter(contacted_at=None).exists()
    sent = Message.objects.filter(pk__in=contacted.values("message_id"))
    assert set(sent.values_list("delivery_state", flat=True)) == {DeliveryState.SENT}
    marketplaces = set(contacted.values_list("channel__marketplace", flat=True))
    assert len(marketplaces) >= 3, marketplaces
    # Amazon's go through its Messaging API as `unexpectedProblem`, on its SP-API channel.
    amazon = sent.filter(channel__kind="amazon")
    assert amazon.exists()
    assert set(amazon.values_list("marketplace_reason", flat=True)) == {"unexpectedProblem"}
