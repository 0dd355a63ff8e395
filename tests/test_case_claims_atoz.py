"""Amazon A-to-z Guarantee claims, known from Amazon's mail: sample mails in English and French
(`tests/fixtures/atoz/`, written for the tests) go through the email parser, ingest, the
after-ingest hook and the claims task, and open one case with the order and the deadline."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django_tasks_db.models import DBTaskResult

from comptoir.cases import atoz
from comptoir.cases.models import Case
from comptoir.cases.tasks import sync_claims
from comptoir.connectors.email import mime
from comptoir.inbox.ingest import ingest
from comptoir.inbox.models import Channel, Shop

FIXTURES = Path(__file__).parent / "fixtures" / "atoz"
SYNC = "comptoir.cases.tasks.sync_claims"
pytestmark = pytest.mark.django_db


@pytest.fixture
def mailbox(shop: Shop, team: Any) -> Channel:
    return Channel.objects.create(
        shop=shop, kind="email", marketplace="amazon", name="Seller mailbox", team=team
    )


def receive(mailbox: Channel, name: str, capture: Any) -> list[int]:
    """The mail read from its file, ingested with its after-commit hooks, the claims synced."""
    raw = (FIXTURES / name).read_bytes()
    with capture(execute=True):
        ingest(mime.parse(raw, channel_id=mailbox.pk))
    done = []
    for row in DBTaskResult.objects.filter(task_path=SYNC):
        done.append(sync_claims.call(*row.args_kwargs["args"]))
        row.delete()
    return done


def test_an_english_claim_mail_opens_a_case_with_its_order_deadline_and_amount(
    mailbox: Channel, django_capture_on_commit_callbacks: Any
) -> None:
    assert receive(mailbox, "claim_en.eml", django_capture_on_commit_callbacks) == [1]
    case = Case.objects.get()
    assert (case.claim_kind, case.kind, case.external_id) == (
        "amazon_atoz",
        "not_received",
        "atoz:114-3941689-8772232",
    )
    assert case.conversation.order_number == "114-3941689-8772232"
    # December 9, 2026 11:59 PM PST.
    assert case.deadline == datetime(2026, 12, 10, 7, 59, tzinfo=UTC)
    assert (case.claimed_amount, case.currency) == (Decimal("89.50"), "USD")
    assert (case.opened_by, case.reason) == ("marketplace", "Item not received")

    # The same mail again opens nothing; the closing mail resolves the case.
    assert receive(mailbox, "claim_en.eml", django_capture_on_commit_callbacks) == []
    assert receive(mailbox, "closed_en.eml", django_capture_on_commit_callbacks) == [0]
    assert Case.objects.count() == 1
    case.refresh_from_db()
    assert (case.stage, case.marketplace_status) == ("resolved", "CLOSED")


def test_a_french_claim_mail_opens_its_case_with_the_end_of_the_day_in_paris(
    mailbox: Channel, django_capture_on_commit_callbacks: Any
) -> None:
    assert receive(mailbox, "claim_fr.eml", django_capture_on_commit_callbacks) == [1]
    case = Case.objects.get()
    assert (case.claim_kind, case.kind, case.external_id) == (
        "amazon_atoz",
        "damaged",
        "atoz:402-7731452-1903566",
    )
    # "au plus tard le 10 décembre 2026": the end of that day, Paris time (UTC+1 in winter).
    assert case.deadline == datetime(2026, 12, 10, 22, 59, tzinfo=UTC)
    assert (case.claimed_amount, case.currency) == (Decimal("89.50"), "EUR")


def test_a_mail_giving_days_counts_them_from_the_mail(
    mailbox: Channel, django_capture_on_commit_callbacks: Any
) -> None:
    receive(mailbox, "claim_uk_days.eml", django_capture_on_commit_callbacks)
    case = Case.objects.get()
    assert case.external_id == "atoz:205-5512340-6677881"
    assert case.kind == "wrong_item"  # "Item not as described"
    assert case.deadline == datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def test_a_buyer_naming_the_guarantee_through_the_relay_opens_nothing(
    mailbox: Channel, django_capture_on_commit_callbacks: Any
) -> None:
    receive(mailbox, "buyer_fr.eml", django_capture_on_commit_callbacks)
    assert not Case.objects.exists()
    # Even with the words in its subject, a relay address is a buyer, not Amazon.
    assert not atoz.is_notification(
        "abc@marketplace.amazon.fr", "Réclamation A à Z", "je vais ouvrir une réclamation"
    )
    assert atoz.is_notification("atoz-guarantee-no-reply@amazon.de", "A-bis-z-Garantie", "")
    assert not atoz.is_notification("atoz@amazon.evil.example", "A-to-z claim", "")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Respond by Dec 9, 2026 at 5:30 p.m. PST.", datetime(2026, 12, 10, 1, 30, tzinfo=UTC)),
        ("Répondez avant le 1er mars 2027 à 12h00.", datetime(2027, 3, 1, 11, 0, tzinfo=UTC)),
        ("Répondez d'ici le 03/02/2027.", datetime(2027, 2, 3, 22, 59, tzinfo=UTC)),
        ("Respond no later than 2027-01-15.", datetime(2027, 1, 15, 22, 59, tzinfo=UTC)),
        ("Merci de répondre sous 48 heures.", datetime(2026, 12, 8, 12, 0, tzinfo=UTC)),
        ("Nothing about a date.", None),
    ],
)
def test_deadlines_written_in_several_ways(text: str, expected: datetime | None) -> None:
    sent = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    assert atoz.deadline_in(text, sent, "atoz-guarantee-no-reply@amazon.fr") == expected
