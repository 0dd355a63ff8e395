"""The message templates the simulated WhatsApp Business account holds, in the shape of the
WhatsApp Business Management API (`GET /{waba-id}/message_templates`): name, language,
status, category and components, the body's parameters written {{1}}, {{2}}..."""

from __future__ import annotations

from typing import Any


def _template(name: str, language: str, body: str, status: str = "APPROVED") -> dict[str, Any]:
    return {
        "id": f"{abs(hash((name, language))) % 10**15}",
        "name": name,
        "language": language,
        "status": status,
        "category": "UTILITY",
        "components": [{"type": "BODY", "text": body}],
    }


TEMPLATES: list[dict[str, Any]] = [
    _template(
        "suivi_commande",
        "fr",
        "Bonjour {{1}}, votre commande {{2}} est en route. Répondez à ce message pour toute "
        "question.",
    ),
    _template(
        "suivi_commande",
        "en",
        "Hello {{1}}, your order {{2}} is on its way. Reply to this message with any question.",
    ),
    _template("reprise_contact", "fr", "Bonjour, avez-vous encore besoin d'aide ?"),
    _template("promo_hiver", "fr", "Nos soldes d'hiver commencent !", status="REJECTED"),
]
