"""Triage reads how urgent a buyer's message is (threats, repeats, hazards) and its mood, in the
eight languages, typed with or without accents, and not what the buyer quotes or denies."""

from __future__ import annotations

import pytest

from comptoir.triage.urgency import read

HIGH = [
    # claims
    ("fr", "Si je n'ai rien demain j'ouvre un litige.", "threat_claim"),
    ("fr", "je vais ouvrir une reclamation aupres d'amazon", "threat_claim"),
    ("en", "I will open an A-to-z claim if this is not solved", "threat_claim"),
    ("en", "Going to file a case with ebay tomorrow", "threat_claim"),
    ("de", "Ich werde die A-bis-z-Garantie in Anspruch nehmen", "threat_claim"),
    ("es", "Voy a abrir una disputa si no contestan", "threat_claim"),
    ("it", "aprirò una contestazione se non rispondete", "threat_claim"),
    ("nl", "Ik ga een geschil starten", "threat_claim"),
    ("pt", "vou abrir uma reclamação", "threat_claim"),
    ("pl", "otworzę spór jeśli nie dostanę paczki", "threat_claim"),
    # chargebacks
    ("fr", "Je vais faire opposition bancaire", "threat_chargeback"),
    ("fr", "je demande une retrofacturation a ma banque", "threat_chargeback"),
    ("en", "I'll do a chargeback with my bank", "threat_chargeback"),
    ("en", "I will open a PayPal dispute", "threat_chargeback"),
    ("de", "Dann mache ich eine Rückbuchung", "threat_chargeback"),
    ("de", "dann mache ich eine ruckbuchung", "threat_chargeback"),
    ("es", "solicitaré un contracargo", "threat_chargeback"),
    ("it", "farò lo storno dalla carta", "threat_chargeback"),
    ("nl", "ik vraag een terugboeking aan", "threat_chargeback"),
    ("pt", "vou pedir o estorno no cartão", "threat_chargeback"),
    ("pl", "zrobię chargeback w banku", "threat_chargeback"),
    # reviews
    ("fr", "je vais laisser un avis négatif partout", "threat_review"),
    ("en", "Expect a negative feedback from me", "threat_review"),
    ("de", "Sie bekommen eine schlechte Bewertung", "threat_review"),
    ("es", "les dejaré una valoración negativa", "threat_review"),
    ("it", "lascerò una recensione negativa", "threat_review"),
    ("nl", "ik geef een slechte review", "threat_review"),
    ("pt", "vou deixar uma avaliação negativa", "threat_review"),
    ("pl", "wystawię negatywną opinię", "threat_review"),
    # legal
    ("fr", "mon avocat va vous contacter", "threat_legal"),
    ("fr", "je saisis la DGCCRF et UFC Que Choisir", "threat_legal"),
    ("en", "I have contacted my lawyer", "threat_legal"),
    ("en", "I'll take you to small claims court", "threat_legal"),
    ("de", "Ich schalte meinen Anwalt ein", "threat_legal"),
    ("de", "Ich gehe zur Verbraucherzentrale", "threat_legal"),
    ("es", "hablaré con mi abogado", "threat_legal"),
    ("it", "mi rivolgo al mio avvocato", "threat_legal"),
    ("nl", "ik doe aangifte bij de politie", "threat_legal"),
    ("pt", "vou falar com o meu advogado", "threat_legal"),
    ("pl", "sprawa trafi do sądu", "threat_legal"),
    # mediation
    ("fr", "je vais contacter Amazon", "threat_mediation"),
    ("en", "I'll contact eBay about this", "threat_mediation"),
    ("de", "ich werde mich an Amazon wenden", "threat_mediation"),
    ("es", "voy a contactar con Amazon", "threat_mediation"),
    ("it", "contatterò Amazon", "threat_mediation"),
    ("pt", "vou reclamar com a Amazon", "threat_mediation"),
    # repeats
    ("fr", "Troisième message et toujours pas de réponse", "repeat"),
    ("fr", "toujours pas de reponse !", "repeat"),
    ("en", "This is the third time I write. Still no answer.", "repeat"),
    ("de", "Ich schreibe zum dritten Mal", "repeat"),
    ("es", "es la tercera vez que escribo", "repeat"),
    ("it", "è la terza volta che scrivo", "repeat"),
    ("nl", "voor de derde keer", "repeat"),
    ("pt", "é a terceira vez que escrevo", "repeat"),
    ("pl", "piszę po raz trzeci", "repeat"),
    # safety
    ("fr", "la lampe a fait de la fumée et une odeur de brûlé", "safety"),
    ("en", "The charger caught fire last night", "safety"),
    ("en", "I got an electric shock from it", "safety"),
    ("de", "Das Netzteil raucht", "safety"),
    ("es", "salió humo del enchufe", "safety"),
    ("it", "ho preso la scossa", "safety"),
    ("nl", "er kwam rook uit", "safety"),
    ("pt", "saiu fumaça do aparelho", "safety"),
    ("pl", "z ładowarki wydobywał się dym", "safety"),
]


@pytest.mark.parametrize(("language", "text", "reason"), HIGH)
def test_threats_repeats_and_hazards_are_urgent(language: str, text: str, reason: str) -> None:
    reading = read(text, language)
    assert reading.urgency == "high"
    assert reason in reading.reasons


@pytest.mark.parametrize(("language", "text", "reason"), HIGH[::4])
def test_the_same_when_the_language_is_unknown(language: str, text: str, reason: str) -> None:
    assert reason in read(text).reasons


def test_the_third_unanswered_message_is_urgent_whatever_it_says() -> None:
    assert read("Bonjour, des nouvelles ?", "fr", unanswered=2).urgency == "normal"
    reading = read("Bonjour, des nouvelles ?", "fr", unanswered=3)
    assert reading.urgency == "high"
    assert "repeat" in reading.reasons


NOT_THREATS = [
    ("fr", "je ne veux pas ouvrir de litige, juste savoir où est mon colis"),
    ("en", "I don't want to open a case, just tell me when it ships"),
    ("de", "Ich will keine schlechte Bewertung geben, aber wo ist das Paket?"),
    ("es", "no quiero abrir una disputa"),
    ("fr", "Le livreur est passé trop tôt, pouvez-vous le reprogrammer ?"),
    ("en", "Does the lamp come with a plug for the UK?"),
    ("en", "Is this brand available in red?"),  # "brand" is not Dutch/German for fire
    ("fr", "Le délai est un peu court pour moi"),  # "court" is not a court
]


@pytest.mark.parametrize(("language", "text"), NOT_THREATS)
def test_denied_threats_and_ordinary_questions_stay_normal(language: str, text: str) -> None:
    assert read(text, language).urgency == "normal"
    assert read(text).urgency == "normal"


def test_quoted_history_is_not_read() -> None:
    text = (
        "Merci, bien reçu.\n\n"
        "Le 3 mars 2026, Maison Lumière a écrit :\n"
        "> Si vous ouvrez un litige, nous ne pourrons plus vous aider.\n"
        "> Un avocat ? Non."
    )
    reading = read(text, "fr")
    assert reading.urgency == "normal"
    assert reading.sentiment == "positive"


def test_low_for_thanks_and_calm_questions() -> None:
    assert read("Merci, bien reçu !", "fr", intent="thanks_or_closing").urgency == "low"
    assert read("What are the lamp's dimensions?", "en", intent="product_question").urgency == "low"
    assert read("Livrez-vous en Suisse ?", "fr", intent="shipping_options").urgency == "low"
    angry = read("Pourquoi c'est si cher ??? Scandaleux", "fr", intent="product_question")
    assert angry.urgency == "normal"
    closing = read("Merci mais je vais contacter Amazon", "fr", intent="thanks_or_closing")
    assert closing.urgency == "high"


NEGATIVE = [
    ("fr", "C'est inadmissible, je suis très déçu", "angry"),
    ("fr", "c'est scandaleux, une honte", "angry"),
    ("fr", "Je ne suis pas content du tout", "angry"),
    ("en", "This is unacceptable and ridiculous", "angry"),
    ("en", "Really disappointed with this seller", "angry"),
    ("de", "Was für eine Frechheit", "angry"),
    ("de", "Ich bin sehr enttäuscht", "angry"),
    ("es", "Es una vergüenza, estoy harto", "angry"),
    ("it", "Che vergogna, servizio pessimo", "angry"),
    ("nl", "Schandalig, ik ben erg teleurgesteld", "angry"),
    ("pt", "Uma vergonha, estou decepcionado", "angry"),
    ("pl", "Jestem rozczarowany, skandal", "angry"),
    ("en", "WHERE IS MY PARCEL ALREADY", "shouting"),
    ("fr", "Où est mon colis !!!", "exclamations"),
    ("en", "where is it 😡", "emoji_negative"),
]


@pytest.mark.parametrize(("language", "text", "reason"), NEGATIVE)
def test_negative_mood(language: str, text: str, reason: str) -> None:
    reading = read(text, language)
    assert reading.sentiment == "negative"
    assert reason in reading.reasons


POSITIVE = [
    ("fr", "Merci beaucoup, colis bien reçu, parfait !"),
    ("fr", "super merci"),
    ("en", "Thanks a lot, the lamp is perfect"),
    ("de", "Vielen Dank, alles super!"),
    ("es", "Muchas gracias, todo perfecto"),
    ("it", "Grazie mille, ottimo venditore"),
    ("nl", "Bedankt, ik ben erg tevreden"),
    ("pt", "Muito obrigado, chegou perfeito"),
    ("pl", "Dziękuję, wszystko super"),
    ("en", "got it 👍"),
]


@pytest.mark.parametrize(("language", "text"), POSITIVE)
def test_positive_mood(language: str, text: str) -> None:
    reading = read(text, language)
    assert reading.sentiment == "positive"
    assert reading.urgency == "normal"


NEUTRAL = [
    ("fr", "Bonjour, où en est ma commande ? Merci de me répondre, je dois partir lundi "
           "et j'aimerais savoir si le colis arrivera avant, sinon je le ferai livrer ailleurs."),
    ("en", "Hello, could you tell me when my order will ship?"),
    ("de", "Wann wird meine Bestellung versendet?"),
    ("fr", "Le colis n'est pas super bien emballé mais ça va"),  # "super" under a negation
]  # fmt: skip


@pytest.mark.parametrize(("language", "text"), NEUTRAL)
def test_neutral_mood_and_politeness_is_not_praise(language: str, text: str) -> None:
    assert read(text, language).sentiment == "neutral"


def test_a_compliment_with_a_complaint_is_negative() -> None:
    reading = read("Merci pour la réponse mais c'est inadmissible", "fr")
    assert reading.sentiment == "negative"


def test_empty_text() -> None:
    assert read("") == read("", "fr")
    assert read("").urgency == "normal"
    assert read("").sentiment == "neutral"
    assert read("").reasons == ()


def test_quoted_lines_and_forwarded_threats_are_not_the_buyers() -> None:
    text = "Ok pour moi.\n> Nous ne ferons pas opposition.\n> Notre avocat est au courant."
    assert read(text, "fr").urgency == "normal"
    assert read("Ok pour moi. Mon avocat est au courant.", "fr").urgency == "high"
