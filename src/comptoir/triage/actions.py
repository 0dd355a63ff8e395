"""Changes to triage's own data: a trained model stored and activated, a model rolled back,
the weekly retraining, the seller's triage settings, an agent's correction of a message's
reading."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils.translation import gettext as _

from comptoir.accounts.permissions import can_manage_channels
from comptoir.inbox.actions import set_language, set_reading
from comptoir.inbox.models import Conversation, Direction, Message, TriageSource
from comptoir.lib import http, intents
from comptoir.triage import dataset, registry, training
from comptoir.triage.models import Correction, IntentModel, TriageSettings

if TYPE_CHECKING:
    from comptoir.accounts.models import User

# The seller's own examples on top of the shipped ones: corrections first, then messages whose
# intent a marketplace gave, at most this many per intent (so one busy claim type does not
# drown the rest).
MAX_MARKETPLACE_PER_INTENT = 300
# A retrained model replaces the active one unless its held-out macro F1 is lower by more than
# this: the seller's corrections are worth a hair of the shipped figures, not more.
F1_TOLERANCE = 0.01


def seller_examples() -> list[dataset.Example]:
    """The seller's corrections (the latest per message) and the marketplace-labelled messages."""
    examples: list[dataset.Example] = []
    corrected: set[int] = set()
    corrections = Correction.objects.filter(field=Correction.Field.INTENT).order_by("-created_at")
    for c in corrections.values("message_id", "value", "text", "language"):
        if c["message_id"] in corrected or c["value"] not in intents.LABELS or not c["text"]:
            continue
        corrected.add(c["message_id"])
        examples.append(dataset.Example(c["text"], c["value"], c["language"], source="correction"))
    for intent in intents.INTENTS:
        rows = (
            Message.objects.filter(
                direction=Direction.IN, intent=intent, intent_source=TriageSource.MARKETPLACE
            )
            .exclude(pk__in=corrected)
            .order_by("-pk")
            .values("new_text", "text", "language")[:MAX_MARKETPLACE_PER_INTENT]
        )
        for m in rows:
            text = m["new_text"] or m["text"]
            if text.strip():
                examples.append(dataset.Example(text, intent, m["language"], source="marketplace"))
    return examples


def train_model(*, actor: User | None = None, activate: bool = True) -> IntentModel:
    """Train on the shipped data and the seller's, store it as the next version."""
    if actor is not None and not can_manage_channels(actor):
        raise PermissionDenied("only admins train triage's models")
    trained = training.train(seller_examples())
    with transaction.atomic():
        top = IntentModel.objects.aggregate(top=Max("version"))["top"] or 0
        stored = IntentModel.objects.create(
            version=top + 1,
            source=IntentModel.Source.SELLER,
            artifact=trained.model.to_bytes(),
            data_hash=trained.data_hash,
            metrics=trained.metrics,
            trained_on=trained.trained_on,
            trained_by=actor,
        )
        if activate:
            activate_model(stored.version, actor=actor)
            stored.is_active = True
    return stored


@transaction.atomic
def activate_model(version: int, *, actor: User | None = None) -> None:
    """Read new messages with this version (0: the base model): a rollback is an activation."""
    if actor is not None and not can_manage_channels(actor):
        raise PermissionDenied("only admins choose triage's model")
    if version != 0 and not IntentModel.objects.filter(version=version).exists():
        raise ValidationError(f"there is no intent model version {version}")
    IntentModel.objects.filter(is_active=True).update(is_active=False)
    if version:
        IntentModel.objects.filter(version=version).update(is_active=True)


def retrain_if_corrected() -> IntentModel | None:
    """The weekly retraining: nothing unless agents corrected an intent since the last stored
    model (the first one: since ever). The new model is stored, and activated only if its
    held-out macro F1 is not lower than the active model's by more than `F1_TOLERANCE`;
    otherwise the active one stays and the new one waits in the list for an admin."""
    last = IntentModel.objects.order_by("-version").values_list("created_at", flat=True).first()
    corrections = Correction.objects.filter(field=Correction.Field.INTENT)
    if last is not None:
        corrections = corrections.filter(created_at__gt=last)
    if not corrections.exists():
        return None
    active = registry.active_version()
    if active == registry.BASE_VERSION:
        active_f1 = float(registry.base_figures()[0].get("macro_f1", 0.0))
    else:
        active_metrics = IntentModel.objects.values_list("metrics", flat=True).get(version=active)
        active_f1 = float(active_metrics.get("macro_f1", 0.0))
    stored = train_model(activate=False)
    if float(stored.metrics.get("macro_f1", 0.0)) >= active_f1 - F1_TOLERANCE:
        activate_model(stored.version)
        stored.is_active = True
    return stored


def save_settings(*, actor: User, no_reply_for_thanks: bool) -> TriageSettings:
    """The seller's triage settings (owners and admins)."""
    if not can_manage_channels(actor):
        raise PermissionDenied("triage settings are for owners and admins")
    found = TriageSettings.get()
    found.no_reply_for_thanks = no_reply_for_thanks
    found.save(update_fields=["no_reply_for_thanks", "updated_at"])
    return found


# Bounds of the drafting request's timeout (seconds): a draft is waited for in the composer.
LLM_TIMEOUT_RANGE = (1, 120)


def save_llm_settings(
    *,
    actor: User,
    enabled: bool,
    url: str,
    model: str,
    timeout_seconds: int,
    local: bool,
    api_key: str | None = None,
) -> TriageSettings:
    """The optional AI drafting's endpoint (owners and admins). `api_key`: None keeps the saved
    key, "" removes it. The URL is checked now with the rule every request follows (lib.http):
    a private address only when the admin says the endpoint is a local server."""
    if not can_manage_channels(actor):
        raise PermissionDenied("triage settings are for owners and admins")
    url = url.strip().rstrip("/")
    model = model.strip()
    if enabled and not (url and model):
        raise ValidationError(_("AI drafting needs the endpoint's URL and a model name."))
    if url:
        try:
            http.check_url(url, allow_private=local)
        except (http.AddressNotAllowed, ValueError) as exc:
            raise ValidationError(_("AI endpoint URL: %(why)s") % {"why": exc}) from None
    low, high = LLM_TIMEOUT_RANGE
    if not low <= timeout_seconds <= high:
        raise ValidationError(
            _("The timeout is between %(low)s and %(high)s seconds.") % {"low": low, "high": high}
        )
    found = TriageSettings.get()
    found.llm_enabled, found.llm_url, found.llm_model = enabled, url, model
    found.llm_timeout_seconds, found.llm_local = timeout_seconds, local
    if api_key is not None:
        found.set_llm_api_key(api_key.strip())
    found.save()
    return found


FIELDS = {
    Correction.Field.INTENT: tuple(intents.INTENTS),
    Correction.Field.URGENCY: tuple(intents.URGENCIES),
    Correction.Field.SENTIMENT: tuple(intents.SENTIMENTS),
}


@transaction.atomic
def correct(message: Message, *, field: str, value: str, actor: User) -> Correction:
    """An agent's one-click correction of what triage read in a buyer's message: the message
    and (when it is the conversation's latest reading) the conversation take it, and it is
    kept to train on."""
    if not actor.can_write:
        raise PermissionDenied(f"{actor.username} may not change conversations")
    if message.direction != Direction.IN:
        raise ValidationError("only a buyer's message has a reading to correct")
    if field == Correction.Field.LANGUAGE:
        allowed: tuple[str, ...] = ()
    else:
        allowed = FIELDS.get(field, ())  # type: ignore[call-overload]
        if value not in allowed:
            raise ValidationError(f"{value!r} is not a {field}")
    previous = str(getattr(message, field))
    conv = Conversation.objects.get(pk=message.conversation_id)
    if field == Correction.Field.LANGUAGE:
        set_language(conv, language=value, actor=actor, via="")
        message.language = value
        message.save(update_fields=["language"])
    else:
        setattr(message, field, value)
        updates = [field]
        if field == Correction.Field.INTENT:
            message.intent_source, message.intent_confidence = TriageSource.AGENT, 1.0
            updates += ["intent_source", "intent_confidence"]
        message.save(update_fields=updates)
        set_reading(conv, source=TriageSource.AGENT, actor=actor, **{field: value})
    return Correction.objects.create(
        message=message,
        field=field,
        previous=previous,
        value=value,
        text=message.new_text or message.text,
        language=message.language,
        user=actor,
    )
