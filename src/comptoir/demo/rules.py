"""The built-in example rules the demo switches on, through the same actions as the settings page.

1. Acknowledge every new buyer message that arrives out of business hours, with the time we will
   answer by (a template in five languages; at most one per buyer per day, never to a robot).
2. Route "where is my order?" (words in five languages, or the intent) to the logistics team,
   round-robin.
3. Tag the messages about a damaged item.

Installed after the history is loaded: a rule acts on what happens from then on, so the demo's
past is left as it was and the rules fire on the messages the simulators keep sending.
"""

from __future__ import annotations

from typing import Any

from comptoir.accounts.models import Team, User
from comptoir.automation import rules as rule_actions
from comptoir.automation.actions import save_template
from comptoir.automation.models import Rule, Template, Trigger

LOGISTICS_TEAM = "Logistics"
LOGISTICS_MEMBERS = ("agent1", "agent3")
ACK_TEMPLATE = "Out-of-hours acknowledgement"

ACK_VERSIONS: dict[str, tuple[str, str]] = {
    "fr": (
        "Nous avons bien reçu votre message",
        "Bonjour,\n\nMerci pour votre message. Notre service client est fermé pour le moment : "
        "nous vous répondrons au plus tard le {{ reply_by }}.\n\nCordialement,\n{{ shop_name }}",
    ),
    "en": (
        "We have received your message",
        "Hello,\n\nThank you for your message. Our customer service is closed right now: we "
        "will answer by {{ reply_by }} at the latest.\n\nKind regards,\n{{ shop_name }}",
    ),
    "de": (
        "Wir haben Ihre Nachricht erhalten",
        "Guten Tag,\n\nvielen Dank für Ihre Nachricht. Unser Kundenservice ist gerade "
        "geschlossen: Wir antworten Ihnen spätestens am {{ reply_by }}.\n\nMit freundlichen "
        "Grüßen\n{{ shop_name }}",
    ),
    "es": (
        "Hemos recibido su mensaje",
        "Hola:\n\nGracias por su mensaje. Nuestro servicio de atención al cliente está cerrado "
        "en este momento: le responderemos a más tardar el {{ reply_by }}.\n\nAtentamente,\n"
        "{{ shop_name }}",
    ),
    "it": (
        "Abbiamo ricevuto il suo messaggio",
        "Buongiorno,\n\ngrazie per il suo messaggio. Il nostro servizio clienti è chiuso in "
        "questo momento: le risponderemo entro il {{ reply_by }}.\n\nCordiali saluti,\n"
        "{{ shop_name }}",
    ),
}

WHERE_IS_MY_ORDER = [
    "où est ma commande",
    "ma commande n'est pas arrivée",
    "suivi de commande",
    "where is my order",
    "has not arrived",
    "tracking number",
    "wo ist meine bestellung",
    "sendungsverfolgung",
    "dónde está mi pedido",
    "seguimiento del pedido",
    "dov'è il mio ordine",
    "tracciamento ordine",
]
DAMAGED = [
    "endommagé",
    "cassé",
    "abîmé",
    "défectueux",
    "damaged",
    "broken",
    "faulty",
    "beschädigt",
    "kaputt",
    "defekt",
    "dañado",
    "roto",
    "defectuoso",
    "danneggiato",
    "rotto",
    "difettoso",
]


def install() -> list[Rule]:
    """Create (or recreate) the example rules, active, after the existing ones."""
    team, _ = Team.objects.get_or_create(name=LOGISTICS_TEAM)
    team.members.add(*User.objects.filter(username__in=LOGISTICS_MEMBERS))
    template = Template.objects.filter(name=ACK_TEMPLATE, shop__isnull=True).first()
    template = save_template(
        template, name=ACK_TEMPLATE, shop=None, category="auto-reply", versions=ACK_VERSIONS
    )
    examples: list[dict[str, Any]] = [
        {
            "name": "Acknowledge buyer messages out of hours",
            "trigger": Trigger.MESSAGE_RECEIVED,
            "conditions": {"all": [{"type": "business_hours", "value": False}]},
            "actions": [{"type": "reply_template", "template_id": template.pk}],
        },
        {
            "name": "Route “where is my order?” to logistics",
            "trigger": Trigger.MESSAGE_RECEIVED,
            "conditions": {
                "any": [
                    {"type": "intent", "values": ["order_tracking", "where_is_order"]},
                    {"type": "keywords", "where": "any", "words": WHERE_IS_MY_ORDER},
                ]
            },
            "actions": [
                {"type": "tag", "tag": "livraison"},
                {"type": "assign_team", "team_id": team.pk, "strategy": "round_robin"},
            ],
        },
        {
            "name": "Tag damaged items",
            "trigger": Trigger.MESSAGE_RECEIVED,
            "conditions": {"any": [{"type": "keywords", "where": "any", "words": DAMAGED}]},
            "actions": [{"type": "tag", "tag": "casse"}, {"type": "set_priority", "priority": 2}],
        },
    ]
    Rule.objects.filter(name__in=[e["name"] for e in examples]).delete()
    return [rule_actions.create_rule(actor=None, **e) for e in examples]
