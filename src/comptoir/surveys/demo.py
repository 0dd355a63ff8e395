"""The demo's surveys: the history's resolved conversations got theirs, and some answered.

Demo only, like the demo's backdating: rows are written as the sender and the page would have
written them, dated after each resolution, without sending anything. About a quarter answered,
scores skewed positive, the low ones with a comment in the buyer's language. The own shop asked
NPS until the spring (`NPS_UNTIL`) and CSAT since, so that both figures have their history.
"""

from __future__ import annotations

import random
import secrets
from datetime import datetime, timedelta

from comptoir.inbox.models import Conversation, Event, EventKind, Status
from comptoir.surveys import policy, texts
from comptoir.surveys.models import Survey, SurveyKind, SurveySettings

ANSWERED_SHARE = 0.25
SCORES = (5, 4, 3, 2, 1)
WEIGHTS = (50, 25, 10, 8, 7)
NPS_SCORES = (10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)
NPS_WEIGHTS = (30, 24, 15, 9, 6, 4, 3, 3, 2, 1, 3)
NPS_UNTIL = timedelta(days=200)  # before now: the own shop's surveys asked NPS
LOW_COMMENTS = {
    "fr": (
        "Le colis est arrivé abîmé, et la réponse a pris trois jours.",
        "Toujours pas remboursé.",
    ),
    "en": ("The parcel arrived damaged and the answer took three days.", "Still no refund."),
    "de": (
        "Das Paket kam beschädigt an, die Antwort dauerte drei Tage.",
        "Immer noch keine Erstattung.",
    ),
    "es": ("El paquete llegó dañado y la respuesta tardó tres días.", "Todavía sin reembolso."),
    "it": (
        "Il pacco è arrivato danneggiato e la risposta ha richiesto tre giorni.",
        "Ancora nessun rimborso.",
    ),
}
GOOD_COMMENTS = {
    "fr": "Réponse rapide et claire, merci.",
    "en": "Quick and clear answer, thanks.",
    "de": "Schnelle und klare Antwort, danke.",
    "es": "Respuesta rápida y clara, gracias.",
    "it": "Risposta rapida e chiara, grazie.",
}


def seed(*, seed: int, now: datetime) -> int:
    """Surveys for the demo's resolved conversations; returns how many were "sent"."""
    rng = random.Random(seed)
    settings = SurveySettings.get()
    settings.message_marketplaces = ["ebay"]
    settings.save()
    convs = (
        Conversation.objects.filter(status=Status.RESOLVED, resolved_at__isnull=False)
        .exclude(customer__isnull=True)
        .select_related("channel", "channel__shop", "customer")
        .order_by("resolved_at", "pk")
    )
    last_asked: dict[int, datetime] = {}
    surveys: list[Survey] = []
    for conv in convs:
        sent_at = (conv.resolved_at or now) + timedelta(hours=settings.delay_hours)
        previous = last_asked.get(conv.customer_id or 0)
        if sent_at >= now or not policy.route(conv.channel, settings):
            continue
        if previous is not None and sent_at - previous < timedelta(days=settings.min_days_between):
            continue
        last_asked[conv.customer_id or 0] = sent_at
        nps = conv.channel.marketplace == "shop" and sent_at < now - NPS_UNTIL
        surveys.append(_survey(conv, sent_at, now, rng, SurveyKind.NPS if nps else SurveyKind.CSAT))
    Survey.objects.bulk_create(surveys, batch_size=500)
    Event.objects.bulk_create(_events(surveys), batch_size=500)
    return len(surveys)


def _survey(
    conv: Conversation, sent_at: datetime, now: datetime, rng: random.Random, kind: str
) -> Survey:
    language = texts.language_for(
        conv.language, conv.customer.language if conv.customer else "", conv.channel.shop.language
    )
    survey = Survey(
        conversation=conv,
        customer_id=conv.customer_id,
        kind=kind,
        token=secrets.token_urlsafe(18)[:24],
        sent_at=sent_at,
        channel="email" if conv.channel.kind == "email" else conv.channel.marketplace,
        language=language,
    )
    answered_at = sent_at + timedelta(minutes=rng.randint(20, 3 * 24 * 60))
    if rng.random() < ANSWERED_SHARE and answered_at < now:
        if kind == SurveyKind.NPS:
            survey.score = rng.choices(NPS_SCORES, NPS_WEIGHTS)[0]
        else:
            survey.score = rng.choices(SCORES, WEIGHTS)[0]
        survey.answered_at = answered_at
        if survey.is_low:
            survey.comment = rng.choice(LOW_COMMENTS[language])
        elif survey.score in (5, 10) and rng.random() < 0.3:
            survey.comment = GOOD_COMMENTS[language]
    return survey


def _events(surveys: list[Survey]) -> list[Event]:
    events = []
    for s in surveys:
        events.append(
            Event(
                conversation_id=s.conversation_id,
                kind=EventKind.SURVEY_SENT,
                actor_label="surveys",
                data={"kind": s.kind, "channel": s.channel},
                created_at=s.sent_at,
            )
        )
        if s.answered_at is not None:
            events.append(
                Event(
                    conversation_id=s.conversation_id,
                    kind=EventKind.SURVEY_ANSWERED,
                    actor_label="surveys",
                    data={"score": s.score, "kind": s.kind},
                    created_at=s.answered_at,
                )
            )
    return events
