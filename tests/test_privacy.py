"""Data protection: a buyer's access request (everything held, as one archive) and erasure
request (nothing identifying left in the database or the files, the figures unchanged), and
the retention job. Owners and admins only; each request is in the audit log."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, models
from django.test import Client
from django.utils import timezone

from comptoir.accounts.models import Role, TokenScope, User
from comptoir.accounts.tokens import issue_token
from comptoir.analytics import facts
from comptoir.analytics.models import ConversationFact, ResponseFact
from comptoir.audit.models import AuditEvent
from comptoir.inbox import files
from comptoir.inbox.ingest import ingest
from comptoir.inbox.models import Channel, Conversation, Customer, Message
from comptoir.inbox.search import matching
from comptoir.orders.models import Order
from comptoir.privacy import access, actions
from comptoir.privacy.models import Anonymised, RetentionPolicy
from comptoir.surveys.models import Survey
from tests.conftest import ago

# Unique to each test: the file store is shared by the tests running at once, and a file
# left by another test naming the same buyer would be found by the search.
NAME = EMAIL = ORDER = TRACKING = ""


@pytest.fixture
def owner(db: None) -> User:
    return User.objects.create_user("olivia", "olivia@example.com", "pw", role=Role.OWNER)


def _buyer(
    make_inbound: Any,
    channel: Channel,
    agent: User,
    *,
    name: str,
    email: str,
    order: str,
    tracking: str,
) -> Customer:
    """A buyer with two messages (one with an attachment and its raw mail), an answer and a
    note naming them, an order, a survey comment and a case."""
    eml = files.store_bytes(f"From: {name} <{email}>\n\nCommande {order}\n".encode())
    thread = f"t-{uuid.uuid4()}"
    first = ingest(
        make_inbound(
            thread_id=thread,
            order_number=order,
            source_sha256=eml,
            sender={
                "identity_kind": "email",
                "identity_value": email,
                "email": email,
                "name": name,
            },
            subject=f"Commande {order}",
            text=f"Bonjour, {name} ici, ma commande {order}.",
            attachments=[{"filename": f"{name}.pdf", "data": f"facture {email}".encode()}],
            sent_at=ago(days=3),
        )
    )
    conv = Conversation.objects.get(pk=first.conversation_id)
    ingest(
        make_inbound(
            thread_id=thread,
            sender={
                "identity_kind": "email",
                "identity_value": email,
                "email": email,
                "name": name,
            },
            text=f"Relance de {name}",
            sent_at=ago(days=2),
        )
    )
    Message.objects.create(
        conversation=conv,
        channel=channel,
        direction="out",
        author=agent,
        author_name="Marie",
        text=f"Bonjour {name}, colis {tracking}.",
        created_at=ago(days=2, hours=-1),
        sent_at=ago(days=2, hours=-1),
    )
    Message.objects.create(
        conversation=conv,
        channel=channel,
        direction="note",
        author=agent,
        author_name="Marie",
        text=f"{email} rappelle souvent",
        created_at=ago(days=1),
    )
    customer = Customer.objects.get(pk=conv.customer_id)
    order_row = Order.objects.create(
        shop=channel.shop,
        channel=channel,
        customer=customer,
        external_id=order,
        tracking_number=tracking,
        items=[{"title": "Lampe", "buyer": name}],
    )
    Conversation.objects.filter(pk=conv.pk).update(order=order_row)
    Survey.objects.create(
        conversation=conv,
        customer=customer,
        kind="csat",
        token=uuid.uuid4().hex,
        channel="email",
        score=4,
        comment=f"Merci, {name}",
        answered_at=ago(days=1),
    )
    return customer


@pytest.fixture(autouse=True)
def _unique_buyer() -> None:
    global NAME, EMAIL, ORDER, TRACKING
    n = uuid.uuid4().int
    NAME = f"Jeanne Martin{n % 10**6:06d}"
    EMAIL = f"jeanne.martin.{n % 10**8}@example.com"
    ORDER = f"407-{n % 10**7:07d}-7654321"
    TRACKING = f"6A{n % 10**11:011d}"


@pytest.fixture
def buyer(make_inbound: Any, channel: Channel, agent: User) -> Customer:
    return _buyer(
        make_inbound, channel, agent, name=NAME, email=EMAIL, order=ORDER, tracking=TRACKING
    )


@pytest.fixture
def other(make_inbound: Any, channel: Channel, agent: User) -> Customer:
    return _buyer(
        make_inbound,
        channel,
        agent,
        name="Paul Durand",
        email="paul@example.org",
        order="171-0000000-1111111",
        tracking="6A99999999999",
    )


def _values(model: type[models.Model]) -> Iterator[str]:
    names = [f.attname for f in model._meta.concrete_fields]
    for row in model._default_manager.values_list(*names).iterator():
        for value in row:
            if isinstance(value, bytes | memoryview):
                yield bytes(value).decode("utf-8", "replace")
            elif value is not None:
                yield json.dumps(value, default=str, ensure_ascii=False)


def found_in_database(needles: list[str]) -> list[str]:
    """Every value of every row of every table (JSON and raw bytes decoded), and on SQLite the
    whole dump (search tables included)."""
    hits = []
    for model in apps.get_models():
        for value in _values(model):
            hits += [f"{model._meta.label}: {n}" for n in needles if n.lower() in value.lower()]
    if connection.vendor == "sqlite":
        dump = "\n".join(connection.connection.iterdump())
        hits += [f"sqlite dump: {n}" for n in needles if n.lower() in dump.lower()]
    return hits


def found_in_files(needles: list[str]) -> list[str]:
    hits = []
    for path in Path(settings.FILES_DIR).rglob("*"):
        if path.is_file():
            data = path.read_bytes().decode("utf-8", "replace").lower()
            hits += [f"{path.name}: {n}" for n in needles if n.lower() in data]
    return hits


def figures() -> tuple[list[Any], list[Any]]:
    facts.rebuild()
    keep = ("pk", "shop_id")
    convs = sorted(
        tuple(v for k, v in facts.fact_values(f).items() if k not in keep)
        for f in ConversationFact.objects.all()
    )
    waits = sorted(
        tuple(v for k, v in f.__dict__.items() if not k.startswith("_") and k != "id")
        for f in ResponseFact.objects.all()
    )
    return convs, waits


def test_an_access_request_downloads_everything_held_about_the_buyer(
    owner: User, buyer: Customer, other: Customer
) -> None:
    assert [c.pk for c in access.find_customers(EMAIL)] == [buyer.pk]
    assert [c.pk for c in access.find_customers(ORDER)] == [buyer.pk]
    assert [c.pk for c in access.find_customers(f"#{buyer.pk}")] == [buyer.pk]
    client = Client()
    client.force_login(owner)
    response = client.post("/settings/privacy/export", {"customer": buyer.pk})
    assert response["Content-Type"] == "application/zip"
    zf = zipfile.ZipFile(io.BytesIO(response.content))
    data = json.loads(zf.read("data.json"))
    (customer,) = data["customers"]
    assert customer["email"] == EMAIL
    assert customer["identities"][0]["value"] == EMAIL
    (conv,) = data["conversations"]
    texts = [m["text"] for m in conv["messages"]]
    assert len(texts) == 4
    assert any(TRACKING in t for t in texts)
    assert conv["survey"]["comment"] == f"Merci, {NAME}"
    assert data["orders"][0]["external_id"] == ORDER
    (attachment,) = [n for n in zf.namelist() if n.startswith("attachments/")]
    assert zf.read(attachment) == f"facture {EMAIL}".encode()
    assert "paul@example.org" not in json.dumps(data)
    (entry,) = AuditEvent.objects.filter(action="gdpr.access_exported")
    assert entry.changes["customers"] == [buyer.pk]
    assert EMAIL not in json.dumps(entry.changes)


def test_an_erasure_leaves_nothing_identifying_and_the_figures_unchanged(
    owner: User, buyer: Customer, other: Customer
) -> None:
    needles = [NAME, EMAIL, ORDER, TRACKING]
    assert found_in_database(needles)  # the search below can find them
    assert found_in_files(needles)
    before = figures()
    with pytest.raises(ValidationError):
        actions.erase_subject([buyer.pk], actor=owner, confirm="")
    result = actions.erase_subject([buyer.pk], actor=owner, confirm=str(buyer.pk))
    assert result.files == 2
    assert found_in_database(needles) == []
    assert found_in_files(needles) == []
    assert not matching(Conversation.objects.all(), "Jeanne").exists()
    assert not matching(Conversation.objects.all(), ORDER).exists()
    assert figures() == before
    # The other buyer is whole.
    assert found_in_database(["Paul Durand", "paul@example.org", "171-0000000-1111111"])
    assert Survey.objects.get(customer=buyer).score == 4
    (entry,) = AuditEvent.objects.filter(action="gdpr.erased")
    assert entry.actor_label == "olivia"
    assert entry.changes["customers"] == [buyer.pk]


def test_only_owners_and_admins_answer_requests(
    agent: User, supervisor: User, buyer: Customer
) -> None:
    for user in (agent, supervisor):
        with pytest.raises(PermissionDenied):
            actions.erase_subject([buyer.pk], actor=user, confirm=str(buyer.pk))
        client = Client()
        client.force_login(user)
        assert client.get("/settings/privacy/").status_code == 403
        assert client.post("/settings/privacy/export", {"customer": buyer.pk}).status_code == 403
    assert Customer.objects.get(pk=buyer.pk).email == EMAIL


def test_the_api_erases_with_an_admin_token_and_a_confirmation(
    owner: User, buyer: Customer
) -> None:
    _, raw = issue_token(owner, name="dpo", scope=TokenScope.ADMIN, actor=owner)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    client = Client()
    found = client.get("/api/v1/privacy/buyers", {"q": EMAIL}, **auth).json()
    assert [b["id"] for b in found] == [buyer.pk]
    body = {"customer_ids": [buyer.pk], "confirm": "nope"}
    refused = client.post("/api/v1/privacy/erase", body, content_type="application/json", **auth)
    assert refused.status_code == 422
    body["confirm"] = str(buyer.pk)
    done = client.post("/api/v1/privacy/erase", body, content_type="application/json", **auth)
    assert done.status_code == 200
    assert done.json()["conversations"] == 1
    assert Customer.objects.get(pk=buyer.pk).email == ""
    assert AuditEvent.objects.get(action="gdpr.erased").via == "api"


def test_retention_anonymises_old_conversations_per_shop_with_a_dry_run(
    owner: User, buyer: Customer, other: Customer
) -> None:
    actions.save_retention(buyer.conversations.first().shop, actor=owner, days=30, mode="anonymise")
    assert actions.apply_retention(dry_run=True) == {"anonymised": 0, "deleted": 0}
    old = Conversation.objects.get(customer=buyer)
    Conversation.objects.filter(pk=old.pk).update(last_message_at=ago(days=40))
    assert actions.apply_retention(dry_run=True) == {"anonymised": 1, "deleted": 0}
    assert Message.objects.filter(conversation=old).exclude(text="").exists()
    assert actions.apply_retention() == {"anonymised": 1, "deleted": 0}
    assert not Message.objects.filter(conversation=old).exclude(text="").exists()
    assert Anonymised.objects.filter(conversation=old, reason="retention").exists()
    # Nothing of the buyer was left un-anonymised: they are erased too; the other stays.
    assert Customer.objects.get(pk=buyer.pk).email == ""
    assert Customer.objects.get(pk=other.pk).email == "paul@example.org"
    assert actions.apply_retention() == {"anonymised": 0, "deleted": 0}
    assert AuditEvent.objects.filter(action="retention.applied").count() == 1
    assert AuditEvent.objects.filter(action="retention.changed").count() == 1


def test_retention_can_delete_into_the_trash(owner: User, buyer: Customer) -> None:
    conv = Conversation.objects.get(customer=buyer)
    RetentionPolicy.objects.create(shop=conv.shop, days=10, mode="delete")
    Conversation.objects.filter(pk=conv.pk).update(last_message_at=ago(days=11))
    assert actions.apply_retention() == {"anonymised": 0, "deleted": 1}
    assert Conversation.objects.get(pk=conv.pk).deleted_at is not None
    assert timezone.now() > Conversation.objects.get(pk=conv.pk).deleted_at


def test_the_page_finds_a_buyer_and_erases_after_confirmation(owner: User, buyer: Customer) -> None:
    client = Client()
    client.force_login(owner)
    html = client.get("/settings/privacy/", {"q": ORDER}).content.decode()
    assert f'id="buyer-{buyer.pk}"' in html
    assert EMAIL in html
    client.post("/settings/privacy/erase", {"customer": buyer.pk, "confirm": "1234567"})
    assert Customer.objects.get(pk=buyer.pk).email == EMAIL
    client.post("/settings/privacy/erase", {"customer": buyer.pk, "confirm": str(buyer.pk)})
    assert Customer.objects.get(pk=buyer.pk).email == ""


def test_the_command_exports_and_erases_and_says_so_in_the_log(
    buyer: Customer, tmp_path: Path
) -> None:
    from io import StringIO

    from django.core.management import CommandError, call_command

    out = StringIO()
    call_command("privacy", "find", EMAIL, stdout=out)
    assert f"#{buyer.pk}" in out.getvalue()
    target = tmp_path / "buyer.zip"
    call_command("privacy", "export", str(buyer.pk), "--out", str(target), stdout=StringIO())
    assert "data.json" in zipfile.ZipFile(target).namelist()
    with pytest.raises(CommandError, match="--yes"):
        call_command("privacy", "erase", str(buyer.pk), stdout=StringIO())
    call_command("privacy", "erase", str(buyer.pk), "--yes", stdout=StringIO())
    assert Customer.objects.get(pk=buyer.pk).email == ""
    vias = list(AuditEvent.objects.order_by("pk").values_list("action", "via"))
    assert vias == [("gdpr.access_exported", "cli"), ("gdpr.erased", "cli")]
