"""Anonymising a buyer everywhere, keeping the figures.

What goes: the buyer's name, email and aliases, every text of their conversations (subjects,
bodies, HTML, the agents' replies and notes, which quote and name them), message headers,
attachments and raw mail (rows and files), the raw inbound records, order numbers and
tracking numbers, survey comments, drafts and suggestions. What stays: the rows themselves with
their timestamps, directions, channels, statuses, intents and amounts, so that every KPI
(counts, response times, SLA, CSAT scores, orders per channel) is the same after as before.

Then a sweep of every text column of every table for what identified the buyer (the
"needles": name, email, aliases, order and tracking numbers), in case a copy lives elsewhere
(a notification, an agent's note in another conversation, a template's example).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.db import connections, models, router, transaction
from django.db.models.functions import Cast
from django.utils import timezone

from comptoir.inbox import files
from comptoir.inbox.models import (
    Attachment,
    ComposerDraft,
    Conversation,
    Customer,
    CustomerIdentity,
    InboundRecord,
    Message,
    ThreadRef,
)
from comptoir.orders.models import Order
from comptoir.privacy.models import Anonymised

ERASED = "[erased]"
MIN_NEEDLE = 5  # shorter ones (a first name, a 4-digit number) would hit other buyers
# Never rewritten by the sweep: the log of what was done (it holds no buyer data) and the
# content-free bookkeeping of this app.
SKIP_LABELS = frozenset({"audit.auditevent", "privacy.anonymised", "privacy.retentionpolicy"})


@dataclass
class Erased:
    customers: int = 0
    conversations: int = 0
    messages: int = 0
    files: int = 0
    swept: int = 0
    needles: set[str] = field(default_factory=set)


def needles_of(customers: Iterable[Customer]) -> set[str]:
    """What identifies these buyers in text: names, emails, aliases, order and parcel numbers."""
    ids = [c.pk for c in customers]
    found: set[str] = set()
    for c in Customer.objects.filter(pk__in=ids):
        found |= {c.name, c.email}
    found |= set(
        CustomerIdentity.objects.filter(customer_id__in=ids).values_list("value", flat=True)
    )
    convs = Conversation.objects.filter(customer_id__in=ids)
    found |= set(convs.values_list("order_number", flat=True))
    orders = Order.objects.filter(
        models.Q(customer_id__in=ids) | models.Q(pk__in=convs.values("order_id"))
    )
    for number, tracking in orders.values_list("external_id", "tracking_number"):
        found |= {number, tracking}
    return {n.strip() for n in found if n and len(n.strip()) >= MIN_NEEDLE}


def erase_customers(customer_ids: list[int]) -> Erased:
    """Anonymise these buyers, their conversations and their orders; irreversible."""
    customers = list(Customer.objects.filter(pk__in=customer_ids))
    result = Erased(needles=needles_of(customers))
    conv_ids = list(
        Conversation.objects.filter(customer_id__in=customer_ids).values_list("pk", flat=True)
    )
    with transaction.atomic():
        digests = _wipe_conversations(conv_ids, result, reason="erasure")
        orders = Order.objects.filter(
            models.Q(customer_id__in=customer_ids)
            | models.Q(pk__in=Conversation.objects.filter(pk__in=conv_ids).values("order_id"))
        )
        for order in orders.only("pk"):
            Order.objects.filter(pk=order.pk).update(
                external_id=f"erased-{order.pk}", tracking_number=""
            )
        CustomerIdentity.objects.filter(customer_id__in=customer_ids).delete()
        result.customers = Customer.objects.filter(pk__in=customer_ids).update(name="", email="")
        result.swept = sweep(result.needles)
    result.files = remove_files(digests)
    return result


def anonymise_conversations(conv_ids: list[int], *, reason: str) -> Erased:
    """The content of these conversations (retention): their buyer stays unless nothing of
    theirs is left un-anonymised, then the buyer is erased too."""
    result = Erased()
    with transaction.atomic():
        digests = _wipe_conversations(conv_ids, result, reason=reason)
    result.files = remove_files(digests)
    customers = set(
        Conversation.objects.filter(pk__in=conv_ids)
        .exclude(customer=None)
        .values_list("customer_id", flat=True)
    )
    done = Anonymised.objects.values("conversation_id")
    still = set(
        Conversation.objects.filter(customer_id__in=customers)
        .exclude(pk__in=done)
        .values_list("customer_id", flat=True)
    )
    if customers - still:
        erased = erase_customers(sorted(customers - still))
        result.customers, result.files = erased.customers, result.files + erased.files
    return result


def _wipe_conversations(conv_ids: list[int], result: Erased, *, reason: str) -> set[str]:
    """Wipe the texts of these conversations; returns the files they named."""
    if not conv_ids:
        return set()
    messages = Message.objects.filter(conversation_id__in=conv_ids)
    digests = set(messages.exclude(source_sha256="").values_list("source_sha256", flat=True))
    attachments = Attachment.objects.filter(message__conversation_id__in=conv_ids)
    digests |= set(attachments.exclude(sha256="").values_list("sha256", flat=True))
    records = set(messages.exclude(inbound_record=None).values_list("inbound_record_id", flat=True))
    texts = set(messages.filter(direction="in").exclude(text="").values_list("text", flat=True))
    _wipe_copies(conv_ids, texts)
    attachments.delete()
    ThreadRef.objects.filter(message__conversation_id__in=conv_ids).delete()
    result.messages += messages.update(
        subject="",
        text="",
        new_text="",
        html="",
        author_name=models.Case(
            models.When(direction="in", then=models.Value("")),
            default=models.F("author_name"),
        ),
        message_id="",
        in_reply_to="",
        references="",
        entities=[],
        delivery_error="",
        source_sha256="",
        inbound_record=None,
    )
    InboundRecord.objects.filter(pk__in=records).delete()
    ComposerDraft.objects.filter(conversation_id__in=conv_ids).delete()
    for conv in Conversation.objects.filter(pk__in=conv_ids).only("pk", "external_thread_id"):
        thread = f"erased-{conv.pk}" if conv.external_thread_id else ""
        Conversation.objects.filter(pk=conv.pk).update(
            subject="", snippet="", order_number="", external_thread_id=thread
        )
    now = timezone.now()
    Anonymised.objects.bulk_create(
        [Anonymised(conversation_id=pk, at=now, reason=reason) for pk in conv_ids],
        ignore_conflicts=True,
    )
    result.conversations += len(conv_ids)
    return digests


def _wipe_copies(conv_ids: list[int], texts: set[str]) -> None:
    """Copies of the conversations' texts kept by the apps above the inbox (found by name:
    the inbox does not import them)."""
    blank = {
        "surveys.survey": ("conversation_id", {"comment": ""}),
        "automation.suggestion": ("conversation_id", {"rendered_text": ""}),
        "notifications.notification": ("conversation_id", {"text": ERASED}),
        "cases.case": ("conversation_id", {"rejection_reason": ""}),
    }
    for label, (key, values) in blank.items():
        model = _model(label)
        if model is not None:
            model._default_manager.filter(**{f"{key}__in": conv_ids}).update(**values)
    correction = _model("triage.correction")
    if correction is not None:
        correction._default_manager.filter(message__conversation_id__in=conv_ids).update(text="")
    answers = _model("automation.templateanswer")
    if answers is not None and texts:
        answers._default_manager.filter(buyer_text__in=list(texts)).update(buyer_text="")


def _model(label: str) -> type[models.Model] | None:
    try:
        return apps.get_model(label)
    except LookupError:
        return None


def _text_fields(model: type[models.Model]) -> list[models.Field[Any, Any]]:
    return [
        f
        for f in model._meta.concrete_fields
        if isinstance(f, models.CharField | models.TextField | models.JSONField)
        and not f.name.endswith("_encrypted")
    ]


def _scrub(value: Any, needles: set[str]) -> Any:
    if isinstance(value, str):
        for needle in needles:
            if needle.lower() in value.lower():
                value = _replace(value, needle)
        return value
    if isinstance(value, list):
        return [_scrub(v, needles) for v in value]
    if isinstance(value, dict):
        return {k: _scrub(v, needles) for k, v in value.items()}
    return value


def _replace(text: str, needle: str) -> str:
    low, n = text.lower(), needle.lower()
    out, i = [], 0
    while (j := low.find(n, i)) >= 0:
        out += [text[i:j], ERASED]
        i = j + len(n)
    return "".join([*out, text[i:]])


def sweep(needles: set[str]) -> int:
    """Every text and JSON column of every table, for each needle: matching values rewritten
    with the needle replaced. Returns how many rows changed. One scan per table (every column
    and needle in one condition), not one per column: a table is read once."""
    if not needles:
        return 0
    changed = 0
    for model in apps.get_models():
        if model._meta.label_lower in SKIP_LABELS or model._meta.managed is False:
            continue
        fields = _text_fields(model)
        if fields:
            changed += _sweep_model(model, fields, needles)
    return changed


def _sweep_model(
    model: type[models.Model], fields: list[models.Field[Any, Any]], needles: set[str]
) -> int:
    manager = model._default_manager
    qs = manager.all()
    q = models.Q()
    for f in fields:
        column, wanted = f.name, set(needles)
        if isinstance(f, models.JSONField):
            column = f"_sweep_{f.name}"
            qs = qs.annotate(**{column: Cast(f.name, models.TextField())})
            wanted |= {json.dumps(n)[1:-1] for n in needles}
        q |= _any_of(column, wanted, model)
    names = [f.name for f in fields]
    changed = 0
    for pk, *values in qs.filter(q).values_list("pk", *names).iterator():
        updates = {}
        for f, value in zip(fields, values, strict=True):
            new = _scrub(value, needles)
            if isinstance(f, models.CharField) and isinstance(new, str) and f.max_length:
                new = new[: f.max_length]
            if new != value:
                updates[f.name] = new
        if updates:
            manager.filter(pk=pk).update(**updates)
            changed += 1
    return changed


def _any_of(column: str, needles: set[str], model: type[models.Model]) -> models.Q:
    """`column` holds one of `needles`, case-insensitively. On PostgreSQL one regular
    expression (`~*`) reads each value once; `icontains` per needle would upper-case it once per
    needle. SQLite's regular expressions are Python callbacks, slower than its LIKE."""
    if connections[router.db_for_read(model)].vendor == "postgresql":
        pattern = "|".join(re.escape(n) for n in sorted(needles))
        return models.Q(**{f"{column}__iregex": pattern})
    q = models.Q()
    for needle in needles:
        q |= models.Q(**{f"{column}__icontains": needle})
    return q


def remove_files(digests: set[str]) -> int:
    """The files of `digests` that no row names any more, removed at once (an erasure does not
    wait for the purge's grace period)."""
    digests = {d for d in digests if d}
    if not digests:
        return 0
    used = set(
        Message.objects.filter(source_sha256__in=digests).values_list("source_sha256", flat=True)
    )
    used |= set(Attachment.objects.filter(sha256__in=digests).values_list("sha256", flat=True))
    removed = 0
    for digest in sorted(digests - used):
        if files.exists(digest):
            files.storage().delete(files.name_for(digest))
            removed += 1
    return removed
