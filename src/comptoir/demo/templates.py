"""The demo's templates, in French, English, German, Spanish and Italian.

Every one is written to pass the pre-send checks on every marketplace (no links but the carrier's
tracking page, no contact details, no marketing) and greets the buyer by name when it is known.
"""

from __future__ import annotations

from comptoir.automation.actions import save_template
from comptoir.automation.models import Template

_HELLO = {
    "fr": "Bonjour{% if customer_name %} {{ customer_name }}{% endif %},",
    "en": "Hello{% if customer_name %} {{ customer_name }}{% endif %},",
    "de": "Guten Tag{% if customer_name %} {{ customer_name }}{% endif %},",
    "es": "Hola{% if customer_name %} {{ customer_name }}{% endif %}:",
    "it": "Buongiorno{% if customer_name %} {{ customer_name }}{% endif %},",
}
_BYE = {
    "fr": "Bien cordialement,\n{{ agent_first_name }}, {{ shop_name }}",
    "en": "Kind regards,\n{{ agent_first_name }}, {{ shop_name }}",
    "de": "Mit freundlichen Grüßen\n{{ agent_first_name }}, {{ shop_name }}",
    "es": "Un cordial saludo,\n{{ agent_first_name }}, {{ shop_name }}",
    "it": "Cordiali saluti,\n{{ agent_first_name }}, {{ shop_name }}",
}
# The automatic acknowledgement has no agent behind it: signed by the shop.
_BYE_SHOP = {
    "fr": "Bien cordialement,\n{{ shop_name }}",
    "en": "Kind regards,\n{{ shop_name }}",
    "de": "Mit freundlichen Grüßen\n{{ shop_name }}",
    "es": "Un cordial saludo,\n{{ shop_name }}",
    "it": "Cordiali saluti,\n{{ shop_name }}",
}

# shortcut → (category, name, {language: (subject, middle)})
TEMPLATES: dict[str, tuple[str, str, dict[str, tuple[str, str]]]] = {
    "where": (
        "delivery",
        "Where is my order",
        {
            "fr": (
                "Votre commande {{ order_number }}",
                "Votre commande {{ order_number }} a été confiée à {{ carrier }} sous le numéro "
                "de suivi {{ tracking_number }}.{% if tracking_link %} Vous pouvez suivre le "
                "colis ici : {{ tracking_link }}{% endif %}\n"
                "{% if expected_delivery %}La livraison est prévue le {{ expected_delivery }}."
                "{% endif %}",
            ),
            "en": (
                "Your order {{ order_number }}",
                "Your order {{ order_number }} is on its way with {{ carrier }}, tracking number "
                "{{ tracking_number }}.{% if tracking_link %} You can follow the parcel here: "
                "{{ tracking_link }}{% endif %}\n"
                "{% if expected_delivery %}It should arrive on {{ expected_delivery }}.{% endif %}",
            ),
            "de": (
                "Ihre Bestellung {{ order_number }}",
                "Ihre Bestellung {{ order_number }} ist mit {{ carrier }} unterwegs, "
                "Sendungsnummer {{ tracking_number }}.{% if tracking_link %} Sie können das "
                "Paket hier verfolgen: {{ tracking_link }}{% endif %}\n"
                "{% if expected_delivery %}Die Zustellung ist für den {{ expected_delivery }} "
                "geplant.{% endif %}",
            ),
            "es": (
                "Su pedido {{ order_number }}",
                "Su pedido {{ order_number }} está en camino con {{ carrier }}, número de "
                "seguimiento {{ tracking_number }}.{% if tracking_link %} Siga el paquete aquí: "
                "{{ tracking_link }}{% endif %}\n"
                "{% if expected_delivery %}La entrega está prevista el {{ expected_delivery }}."
                "{% endif %}",
            ),
            "it": (
                "Il suo ordine {{ order_number }}",
                "Il suo ordine {{ order_number }} è in viaggio con {{ carrier }}, numero di "
                "tracciamento {{ tracking_number }}.{% if tracking_link %} Può seguire il pacco "
                "qui: {{ tracking_link }}{% endif %}\n"
                "{% if expected_delivery %}La consegna è prevista il {{ expected_delivery }}."
                "{% endif %}",
            ),
        },
    ),
    "damaged": (
        "after-sales",
        "Damaged item",
        {
            "fr": (
                "Article endommagé, commande {{ order_number }}",
                "Nous sommes désolés que votre article soit arrivé endommagé. Pourriez-vous "
                "nous envoyer une photo du produit et du carton en réponse à ce message ? Nous "
                "vous proposerons ensuite un remplacement ou un remboursement.",
            ),
            "en": (
                "Damaged item, order {{ order_number }}",
                "We are sorry that your item arrived damaged. Could you send us a photo of the "
                "product and of the box in reply to this message? We will then offer you a "
                "replacement or a refund.",
            ),
            "de": (
                "Beschädigter Artikel, Bestellung {{ order_number }}",
                "Es tut uns leid, dass Ihr Artikel beschädigt angekommen ist. Könnten Sie uns "
                "als Antwort auf diese Nachricht ein Foto des Produkts und des Kartons senden? "
                "Wir bieten Ihnen dann einen Ersatz oder eine Erstattung an.",
            ),
            "es": (
                "Artículo dañado, pedido {{ order_number }}",
                "Lamentamos que su artículo haya llegado dañado. Le rogamos enviarnos una "
                "foto del producto y de la caja en respuesta a este mensaje. Después podemos "
                "proponerle una sustitución o un reembolso.",
            ),
            "it": (
                "Articolo danneggiato, ordine {{ order_number }}",
                "Ci dispiace che il suo articolo sia arrivato danneggiato. Potrebbe inviare una "
                "foto del prodotto e della scatola in risposta a questo messaggio? Possiamo poi "
                "proporre una sostituzione o un rimborso.",
            ),
        },
    ),
    "return": (
        "after-sales",
        "Return request",
        {
            "fr": (
                "Retour de votre commande {{ order_number }}",
                "Nous avons bien reçu votre demande de retour pour la commande "
                "{{ order_number }}. Merci de renvoyer l'article dans son emballage d'origine "
                "dans les 14 jours ; le remboursement suivra dès sa réception.",
            ),
            "en": (
                "Return of your order {{ order_number }}",
                "We have received your return request for order {{ order_number }}. Please "
                "send the item back in its original packaging within 14 days; the refund will "
                "follow as soon as we receive it.",
            ),
            "de": (
                "Rücksendung Ihrer Bestellung {{ order_number }}",
                "Wir haben Ihre Rücksendeanfrage für die Bestellung {{ order_number }} erhalten. "
                "Bitte senden Sie den Artikel innerhalb von 14 Tagen in der Originalverpackung "
                "zurück; die Erstattung erfolgt nach Eingang.",
            ),
            "es": (
                "Devolución de su pedido {{ order_number }}",
                "Hemos recibido su solicitud de devolución del pedido {{ order_number }}. Le "
                "rogamos que devuelva el artículo en su embalaje original en un plazo de 14 "
                "días; el reembolso se hará en cuanto lo recibamos.",
            ),
            "it": (
                "Reso del suo ordine {{ order_number }}",
                "Abbiamo ricevuto la sua richiesta di reso per l'ordine {{ order_number }}. La "
                "preghiamo di restituire l'articolo nella confezione originale entro 14 giorni; "
                "il rimborso seguirà appena lo riceveremo.",
            ),
        },
    ),
    "ack": (
        "automatic",
        "Out-of-hours acknowledgement",
        {
            "fr": (
                "Nous avons bien reçu votre message",
                "Merci pour votre message. Notre service client est fermé pour le moment ; "
                "nous vous répondrons au plus tard le {{ reply_by }}.",
            ),
            "en": (
                "We have received your message",
                "Thank you for your message. Our customer service is closed at the moment; we "
                "will answer you by {{ reply_by }} at the latest.",
            ),
            "de": (
                "Wir haben Ihre Nachricht erhalten",
                "Vielen Dank für Ihre Nachricht. Unser Kundenservice ist gerade nicht besetzt; "
                "wir antworten Ihnen spätestens am {{ reply_by }}.",
            ),
            "es": (
                "Hemos recibido su mensaje",
                "Gracias por su mensaje. Nuestro servicio de atención al cliente está cerrado "
                "en este momento; le responderemos como muy tarde el {{ reply_by }}.",
            ),
            "it": (
                "Abbiamo ricevuto il suo messaggio",
                "Grazie per il suo messaggio. Il nostro servizio clienti è chiuso in questo "
                "momento; le risponderemo al più tardi il {{ reply_by }}.",
            ),
        },
    ),
    "thanks": (
        "general",
        "Thank you",
        {
            "fr": (
                "",
                "Merci pour votre retour, nous sommes ravis d'avoir pu vous aider. N'hésitez "
                "pas à nous écrire ici si vous avez la moindre question.",
            ),
            "en": (
                "",
                "Thank you for letting us know, we are glad we could help. Do not hesitate to "
                "write to us here if you have any question.",
            ),
            "de": (
                "",
                "Vielen Dank für Ihre Rückmeldung, wir freuen uns, dass wir helfen konnten. "
                "Schreiben Sie uns gerne hier, wenn Sie noch Fragen haben.",
            ),
            "es": (
                "",
                "Gracias por su mensaje, nos alegra haber podido ayudarle. No dude en "
                "escribirnos aquí si tiene cualquier pregunta.",
            ),
            "it": (
                "",
                "Grazie per il suo riscontro, siamo lieti di averla potuta aiutare. Non esiti "
                "a scriverci qui per qualsiasi domanda.",
            ),
        },
    ),
}


# The intents each demo template answers: the composer suggests it for them.
INTENTS: dict[str, list[str]] = {
    "where": ["order_tracking", "not_received"],
    "damaged": ["damaged_or_defective", "wrong_or_missing_item"],
    "return": ["return_request", "refund"],
    "thanks": ["thanks_or_closing"],
}


def load_templates() -> list[Template]:
    """Create the demo templates (for every shop), those not there yet."""
    made = []
    for shortcut, (category, name, versions) in TEMPLATES.items():
        existing = Template.objects.filter(shop=None, shortcut=shortcut).first()
        if existing is not None:  # kept as the owner may have edited it
            made.append(existing)
            continue
        bye = _BYE_SHOP if shortcut == "ack" else _BYE
        made.append(
            save_template(
                None,
                name=name,
                shop=None,
                shortcut=shortcut,
                category=category,
                intents=INTENTS.get(shortcut, []),
                versions={
                    lang: (subject, f"{_HELLO[lang]}\n\n{middle}\n\n{bye[lang]}")
                    for lang, (subject, middle) in versions.items()
                },
            )
        )
    return made
