"""Buyer messages labelled with their language, written for Comptoir (no third-party corpus).

Held out: the detector is never tuned on them; the benchmark and the tests measure it on them.
`LONG` texts have 20 characters or more (marketplace buyers: typos, no accents, SMS style,
order numbers); `SHORT` ones are what buyers send in a word or two. `UNKNOWN` must not get a
language. nl, pt and pl have no demo phrases: these are their only samples.
"""

from __future__ import annotations

LONG: dict[str, tuple[str, ...]] = {
    "fr": (
        "Bonjour, toujours pas reçu ma commande 402-1234567-7654321, pouvez-vous vérifier ?",
        "le colis est arrivé abimé, la boite etait ecrasée et le verre cassé",
        "Je voudrais retourner l'article, il ne me va pas du tout. Comment faire ?",
        "bjr jai commander il y a 10 jours tjs rien recu merci de me repondre",
        "Vous m'avez envoyé la mauvaise taille, j'avais commandé du 42.",
        "Pourriez-vous m'envoyer une facture avec la TVA pour ma société ?",
        "C'est la troisième fois que je vous écris sans réponse, je vais ouvrir un litige.",
        "Est-ce que ce chargeur est compatible avec un iPhone 15 ?",
        "Merci beaucoup pour votre rapidité, tout est parfait !",
        "Je souhaite annuler ma commande passée hier soir, merci.",
    ),
    "en": (
        "Hi, my order 114-3941689-8772232 still hasn't arrived, can you check please?",
        "the parcel came damaged and the screen is cracked",
        "I would like to return this item, it doesn't fit. How do I send it back?",
        "where is my stuff?? ordered 2 weeks ago nothing yet",
        "You sent me the wrong colour, I ordered the blue one not the red one.",
        "Could you send me a VAT invoice for this order please?",
        "This is the third time I'm writing, I will open a claim with Amazon.",
        "Does this charger work with a Samsung Galaxy S23?",
        "Thanks a lot, received today and it works perfectly.",
        "Please cancel my order, I bought it by mistake.",
    ),
    "de": (
        "Hallo, meine Bestellung 302-5551234-1112223 ist immer noch nicht angekommen.",
        "Das Paket kam beschädigt an, der Deckel ist gebrochen.",
        "Ich möchte den Artikel zurücksenden, er passt leider nicht.",
        "wo bleibt meine lieferung?? schon 10 tage her",
        "Sie haben mir den falschen Artikel geschickt, ich hatte Größe M bestellt.",
        "Können Sie mir bitte eine Rechnung mit ausgewiesener MwSt. schicken?",
        "Ich schreibe jetzt zum dritten Mal, sonst melde ich das bei eBay.",
        "Passt dieses Ladegerät auch für ein Pixel 8?",
        "Vielen Dank, alles gut angekommen und funktioniert einwandfrei.",
        "Bitte stornieren Sie meine Bestellung von gestern.",
    ),
    "es": (
        "Hola, todavía no he recibido mi pedido 405-7654321-1234567, ¿pueden revisarlo?",
        "El paquete llegó dañado y la caja estaba rota.",
        "Quiero devolver el artículo porque no me queda bien. ¿Cómo lo hago?",
        "hola q pasa con mi pedido hace 2 semanas y nada",
        "Me han enviado el producto equivocado, pedí el modelo negro.",
        "¿Me pueden enviar una factura con IVA para mi empresa?",
        "Es la tercera vez que escribo sin respuesta, voy a abrir una reclamación.",
        "¿Este cargador es compatible con el iPhone 14?",
        "Muchas gracias, todo ha llegado perfecto.",
        "Por favor cancelen mi pedido, me equivoqué de talla.",
    ),
    "it": (
        "Buongiorno, non ho ancora ricevuto il mio ordine 171-1234567-7654321, potete verificare?",
        "Il pacco è arrivato danneggiato e il vetro è rotto.",
        "Vorrei restituire l'articolo, non mi va bene. Come devo fare?",
        "ciao dove e il mio pacco?? ordinato 10 giorni fa",
        "Mi avete mandato il colore sbagliato, avevo ordinato quello verde.",
        "Potreste inviarmi la fattura con partita IVA per favore?",
        "È la terza volta che scrivo senza risposta, aprirò una contestazione.",
        "Questo caricatore è compatibile con il Samsung S22?",
        "Grazie mille, ricevuto oggi e funziona benissimo.",
        "Per favore annullate il mio ordine, ho sbagliato indirizzo.",
    ),
    "nl": (
        "Hallo, ik heb mijn bestelling 12-34567-89012 nog steeds niet ontvangen, kunt u kijken?",
        "Het pakket is beschadigd aangekomen en het glas is gebroken.",
        "Ik wil het artikel graag terugsturen, het past niet. Hoe doe ik dat?",
        "waar blijft mijn pakketje?? al 2 weken geleden besteld",
        "U heeft mij het verkeerde artikel gestuurd, ik had maat L besteld.",
        "Kunt u mij een factuur met btw sturen voor mijn bedrijf?",
        "Dit is de derde keer dat ik schrijf zonder antwoord, ik ga een claim indienen.",
        "Is deze oplader geschikt voor een iPhone 13?",
        "Hartelijk dank, alles is goed aangekomen en werkt prima.",
        "Wilt u mijn bestelling annuleren alstublieft, ik heb me vergist.",
    ),
    "pt": (
        "Olá, ainda não recebi a minha encomenda 402-1234567-7654321, podem verificar?",
        "A encomenda chegou danificada e a caixa estava partida.",
        "Gostaria de devolver o artigo porque não me serve. Como faço?",
        "oi cade meu pedido?? comprei faz duas semanas e nada",
        "Enviaram-me o produto errado, eu encomendei o modelo preto.",
        "Podem enviar-me uma fatura com o número de contribuinte, por favor?",
        "É a terceira vez que escrevo sem resposta, vou abrir uma reclamação.",
        "Este carregador é compatível com o iPhone 12?",
        "Muito obrigado, chegou tudo bem e funciona perfeitamente.",
        "Por favor cancelem a minha encomenda, enganei-me no tamanho.",
    ),
    "pl": (
        "Dzień dobry, nadal nie otrzymałem zamówienia 12-34567-89012, czy mogą Państwo sprawdzić?",
        "Paczka przyszła uszkodzona, szkło jest pęknięte.",
        "Chciałbym zwrócić ten produkt, nie pasuje. Jak to zrobić?",
        "gdzie jest moja paczka?? zamawialem 2 tygodnie temu",
        "Wysłali mi Państwo zły rozmiar, zamawiałam M a nie XL.",
        "Proszę o wystawienie faktury VAT na firmę.",
        "Piszę już trzeci raz bez odpowiedzi, otworzę spór na Allegro.",
        "Czy ta ładowarka pasuje do Samsunga Galaxy S21?",
        "Bardzo dziękuję, wszystko doszło w porządku i działa świetnie.",
        "Proszę anulować moje zamówienie, pomyliłem się.",
    ),
}

SHORT: dict[str, tuple[str, ...]] = {
    "fr": ("Merci !", "merci beaucoup", "Bien reçu, merci", "toujours rien reçu", "Bonjour"),
    "en": ("Thanks!", "thank you", "Got it, thanks", "still nothing", "Where is it?"),
    "de": ("Danke", "Vielen Dank!", "Alles klar, danke", "immer noch nichts", "Wo bleibt es?"),
    "es": ("Gracias", "Muchas gracias", "Recibido, gracias", "todavía nada", "¿Dónde está?"),
    "it": ("Grazie", "Grazie mille", "Ricevuto, grazie", "ancora niente", "Dov'è il pacco?"),
    "nl": ("Dank je wel", "Bedankt!", "Ontvangen, dank", "nog steeds niets", "Waar blijft het?"),
    "pt": ("Obrigado", "Muito obrigada", "Recebido, obrigado", "ainda nada", "Onde está?"),
    "pl": ("Dziękuję", "Dzięki!", "Otrzymałem, dzięki", "nadal nic", "Gdzie paczka?"),
}

# No language to tell: these must come out "unknown".
UNKNOWN: tuple[str, ...] = ("", "ok", "OK !", "👍", "?", "...", "402-1234567-7654321", "3x")
