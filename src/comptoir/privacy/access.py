"""Subject access: finding a buyer by any identity, and everything held about them as one
archive (JSON, and the attachments' files)."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import datetime
from typing import Any

from django.apps import apps
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Count, Q
from django.utils import timezone

from comptoir.inbox import files
from comptoir.inbox.models import (
    Attachment,
    Conversation,
    Customer,
    CustomerIdentity,
    Message,
)
from comptoir.orders.models import Order

MAX_MATCHES = 50
# Never in an archive: secrets and internal keys that say nothing about the buyer.
HIDDEN = frozenset({"token", "settings_encrypted", "cursor"})


def find_customers(query: str) -> list[Customer]:
    """The buyers `query` names: a customer id (`#12` or `12`), an email, a marketplace alias,
    a name or an order number (exact, case aside)."""
    q = query.strip()
    if not q:
        return []
    match = (
        Q(email__iexact=q)
        | Q(name__iexact=q)
        | Q(pk__in=CustomerIdentity.objects.filter(value__iexact=q).values("customer_id"))
        | Q(pk__in=Conversation.objects.filter(order_number=q).values("customer_id"))
        | Q(pk__in=Order.objects.filter(external_id=q).values("customer_id"))
    )
    number = q.removeprefix("#")
    if number.isdigit() and len(number) < 19:
        match |= Q(pk=int(number))
    return list(
        Customer.objects.filter(match)
        .annotate(conversation_count=Count("conversations", distinct=True))
        .order_by("pk")[:MAX_MATCHES]
    )


def _row(obj: models.Model, *, skip: frozenset[str] = frozenset()) -> dict[str, Any]:
    return {
        f.attname: getattr(obj, f.attname)
        for f in obj._meta.concrete_fields
        if f.name not in HIDDEN | skip and not isinstance(f, models.BinaryField)
    }


def collect(customer_ids: list[int]) -> dict[str, Any]:
    """Everything held about these buyers, as plain data."""
    customers = Customer.objects.filter(pk__in=customer_ids).order_by("pk")
    convs = Conversation.objects.filter(customer_id__in=customer_ids).order_by("pk")
    conv_ids = list(convs.values_list("pk", flat=True))
    messages = Message.objects.filter(conversation_id__in=conv_ids).order_by("created_at", "pk")
    by_conv: dict[int, list[dict[str, Any]]] = {}
    attachments: dict[int, list[dict[str, Any]]] = {}
    for a in Attachment.objects.filter(message__conversation_id__in=conv_ids).order_by("pk"):
        attachments.setdefault(a.message_id, []).append(_row(a))
    for m in messages:
        row = _row(m)
        row["attachments"] = attachments.get(m.pk, [])
        by_conv.setdefault(m.conversation_id, []).append(row)
    extra = {
        label: _rows_by_conversation(label, conv_ids) for label in ("cases.case", "surveys.survey")
    }
    orders = Order.objects.filter(
        Q(customer_id__in=customer_ids) | Q(pk__in=convs.values("order_id"))
    ).order_by("pk")
    return {
        "generated_at": timezone.now(),
        "customers": [
            {
                **_row(c),
                "identities": [
                    _row(i) for i in CustomerIdentity.objects.filter(customer=c).order_by("pk")
                ],
            }
            for c in customers
        ],
        "conversations": [
            {
                **_row(c),
                "channel": c.channel.name,
                "messages": by_conv.get(c.pk, []),
                "cases": extra["cases.case"].get(c.pk, []),
                "survey": next(iter(extra["surveys.survey"].get(c.pk, [])), None),
            }
            for c in convs.select_related("channel")
        ],
        "orders": [_row(o) for o in orders],
    }


def _rows_by_conversation(label: str, conv_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    try:
        model = apps.get_model(label)
    except LookupError:
        return {}
    out: dict[int, list[dict[str, Any]]] = {}
    for row in model._default_manager.filter(conversation_id__in=conv_ids).order_by("pk"):
        out.setdefault(row.conversation_id, []).append(_row(row))  # type: ignore[attr-defined]
    return out


def archive(customer_ids: list[int]) -> bytes:
    """A ZIP: `data.json` (everything held) and `attachments/` (the files, by message)."""
    data = collect(customer_ids)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(
            "data.json", json.dumps(data, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False)
        )
        for conv in data["conversations"]:
            for message in conv["messages"]:
                for a in message["attachments"]:
                    _add_file(zf, f"attachments/{message['id']}-{a['id']}-{a['filename']}", a)
    return buffer.getvalue()


def _add_file(zf: zipfile.ZipFile, name: str, attachment: dict[str, Any]) -> None:
    digest = attachment.get("sha256") or ""
    if not digest:
        return
    try:
        zf.writestr(name.replace("..", "_"), files.read_bytes(digest))
    except FileNotFoundError:
        return


def filename(customer_ids: list[int], now: datetime | None = None) -> str:
    ids = "-".join(str(i) for i in customer_ids[:5])
    return f"comptoir-buyer-{ids}-{(now or timezone.now()):%Y%m%d}.zip"
