"""What the buyer reads, in their language (fr, en, de, es, it): the message and the page.

Kept here rather than in the .po files: the buyer's language is not the agent's, and German,
Spanish and Italian have no interface translation. The wording is neutral: it asks how the
answer went, never for a review, stars or positive feedback (the pre-send checks refuse that).
"""

from __future__ import annotations

LANGUAGES = ("fr", "en", "de", "es", "it")
DEFAULT = "en"

MESSAGE: dict[str, dict[str, str]] = {
    "fr": {
        "hello": "Bonjour {name},",
        "csat": "Votre demande est réglée. Pour nous aider à mieux répondre, comment jugez-vous "
        "notre réponse, de 1 (pas satisfait) à 5 (très satisfait) ? Choisissez votre note :",
        "nps": "Votre demande est réglée. Sur une échelle de 0 à 10, recommanderiez-vous notre "
        "service client à un proche ? Répondez sur cette page :",
        "optional": "C'est facultatif, et vous ne recevrez pas d'autre question avant longtemps.",
        "bye": "Merci, et bonne journée.",
    },
    "en": {
        "hello": "Hello {name},",
        "csat": "Your request is settled. To help us answer better, how would you rate our "
        "answer, from 1 (not satisfied) to 5 (very satisfied)? Choose your score:",
        "nps": "Your request is settled. On a scale of 0 to 10, how likely are you to recommend "
        "our customer service to a friend? Answer on this page:",
        "optional": "It is optional, and we will not ask again for a long while.",
        "bye": "Thank you, and have a good day.",
    },
    "de": {
        "hello": "Hallo {name},",
        "csat": "Ihr Anliegen ist erledigt. Damit wir besser antworten können: Wie bewerten Sie "
        "unsere Antwort, von 1 (nicht zufrieden) bis 5 (sehr zufrieden)? "
        "Wählen Sie Ihre Bewertung:",
        "nps": "Ihr Anliegen ist erledigt. Wie wahrscheinlich ist es auf einer Skala von 0 bis "
        "10, dass Sie unseren Kundenservice weiterempfehlen? Antworten Sie auf dieser Seite:",
        "optional": "Die Antwort ist freiwillig, und wir fragen Sie so bald nicht wieder.",
        "bye": "Vielen Dank und einen schönen Tag.",
    },
    "es": {
        "hello": "Hola {name}:",
        "csat": "Su solicitud está resuelta. Para ayudarnos a responder mejor, ¿cómo valora "
        "nuestra respuesta, de 1 (nada satisfecho) a 5 (muy satisfecho)? Elija su puntuación:",
        "nps": "Su solicitud está resuelta. En una escala de 0 a 10, ¿recomendaría nuestro "
        "servicio de atención al cliente a un conocido? Responda en esta página:",
        "optional": "Es opcional, y no volveremos a preguntarle en mucho tiempo.",
        "bye": "Gracias, y que tenga un buen día.",
    },
    "it": {
        "hello": "Buongiorno {name},",
        "csat": "La sua richiesta è risolta. Per aiutarci a rispondere meglio, come giudica la "
        "nostra risposta, da 1 (per niente soddisfatto) a 5 (molto soddisfatto)? "
        "Scelga il suo voto:",
        "nps": "La sua richiesta è risolta. Su una scala da 0 a 10, consiglierebbe il nostro "
        "servizio clienti a un conoscente? Risponda su questa pagina:",
        "optional": "È facoltativo, e non le chiederemo altro per molto tempo.",
        "bye": "Grazie, e buona giornata.",
    },
}

PAGE: dict[str, dict[str, str]] = {
    "fr": {
        "title": "Votre avis sur notre réponse",
        "csat": "Comment jugez-vous notre réponse ?",
        "nps": "Recommanderiez-vous notre service client à un proche ?",
        "low_csat": "1 : pas satisfait",
        "high_csat": "5 : très satisfait",
        "low_nps": "0 : pas du tout",
        "high_nps": "10 : certainement",
        "comment": "Un commentaire ? (facultatif)",
        "send": "Envoyer",
        "thanks": "Merci, votre réponse est enregistrée.",
        "more": "Vous pouvez ajouter un commentaire :",
        "closed": "Merci, votre réponse est déjà enregistrée.",
        "pick": "Choisissez une note.",
        "expired": "Ce lien a expiré. Merci de votre visite.",
    },
    "en": {
        "title": "Your opinion of our answer",
        "csat": "How would you rate our answer?",
        "nps": "How likely are you to recommend our customer service to a friend?",
        "low_csat": "1: not satisfied",
        "high_csat": "5: very satisfied",
        "low_nps": "0: not at all likely",
        "high_nps": "10: extremely likely",
        "comment": "A comment? (optional)",
        "send": "Send",
        "thanks": "Thank you, your answer is recorded.",
        "more": "You may add a comment:",
        "closed": "Thank you, your answer is already recorded.",
        "pick": "Choose a score.",
        "expired": "This link has expired. Thank you for coming by.",
    },
    "de": {
        "title": "Ihre Meinung zu unserer Antwort",
        "csat": "Wie bewerten Sie unsere Antwort?",
        "nps": "Wie wahrscheinlich ist es, dass Sie unseren Kundenservice weiterempfehlen?",
        "low_csat": "1: nicht zufrieden",
        "high_csat": "5: sehr zufrieden",
        "low_nps": "0: sehr unwahrscheinlich",
        "high_nps": "10: sehr wahrscheinlich",
        "comment": "Ein Kommentar? (freiwillig)",
        "send": "Senden",
        "thanks": "Vielen Dank, Ihre Antwort ist gespeichert.",
        "more": "Sie können einen Kommentar hinzufügen:",
        "closed": "Vielen Dank, Ihre Antwort ist bereits gespeichert.",
        "pick": "Wählen Sie eine Note.",
        "expired": "Dieser Link ist abgelaufen. Danke für Ihren Besuch.",
    },
    "es": {
        "title": "Su opinión sobre nuestra respuesta",
        "csat": "¿Cómo valora nuestra respuesta?",
        "nps": "¿Recomendaría nuestro servicio de atención al cliente a un conocido?",
        "low_csat": "1: nada satisfecho",
        "high_csat": "5: muy satisfecho",
        "low_nps": "0: en absoluto",
        "high_nps": "10: sin duda",
        "comment": "¿Un comentario? (opcional)",
        "send": "Enviar",
        "thanks": "Gracias, su respuesta ha quedado registrada.",
        "more": "Puede añadir un comentario:",
        "closed": "Gracias, su respuesta ya está registrada.",
        "pick": "Elija una nota.",
        "expired": "Este enlace ha caducado. Gracias por su visita.",
    },
    "it": {
        "title": "La sua opinione sulla nostra risposta",
        "csat": "Come giudica la nostra risposta?",
        "nps": "Consiglierebbe il nostro servizio clienti a un conoscente?",
        "low_csat": "1: per niente soddisfatto",
        "high_csat": "5: molto soddisfatto",
        "low_nps": "0: per niente",
        "high_nps": "10: sicuramente",
        "comment": "Un commento? (facoltativo)",
        "send": "Invia",
        "thanks": "Grazie, la sua risposta è registrata.",
        "more": "Può aggiungere un commento:",
        "closed": "Grazie, la sua risposta è già registrata.",
        "pick": "Scelga un voto.",
        "expired": "Questo link è scaduto. Grazie della visita.",
    },
}


def language_for(*candidates: str) -> str:
    """The first of `candidates` we have texts for ("fr-FR" counts as "fr"), else English."""
    for code in candidates:
        short = (code or "").split("-")[0].lower()
        if short in LANGUAGES:
            return short
    return DEFAULT


def message_text(language: str, kind: str, name: str, url: str, shop: str) -> str:
    """The survey message: greeting, question, one link per score (CSAT) or the page's link."""
    t = MESSAGE[language_for(language)]
    links = "\n".join(f"{n} : {url}?score={n}" for n in range(1, 6)) if kind == "csat" else url
    hello = t["hello"].format(name=name).replace(" ,", ",").replace(" :", ":")
    return f"{hello}\n\n{t[kind]}\n{links}\n\n{t['optional']}\n\n{t['bye']}\n{shop}".strip()
