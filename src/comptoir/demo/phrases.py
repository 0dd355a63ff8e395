"""The words of the demo: buyer names, products, and what buyers and agents write, per language.

Written for Comptoir (no third-party corpus). Templates use `str.format` fields: {order},
{product}, {other} (another product), {carrier}, {tracking}, {first} and {customer} (the buyer),
{agent}, {shop}, {ordered}, {shipped}, {delivered}, {eta} (dates), {total} (an amount).
"""

from __future__ import annotations

LANGUAGES = ("fr", "en", "de", "es", "it")

INTENTS = (
    "where_is_order",
    "not_received",
    "damaged",
    "wrong_item",
    "return",
    "refund",
    "invoice",
    "cancellation",
    "product_question",
    "thanks",
)

# How often buyers write about each thing (a marketplace seller's usual mix).
INTENT_WEIGHTS: dict[str, int] = {
    "where_is_order": 22,
    "not_received": 12,
    "damaged": 9,
    "wrong_item": 6,
    "return": 12,
    "refund": 9,
    "invoice": 8,
    "cancellation": 7,
    "product_question": 10,
    "thanks": 5,
}

# Which follow-up a buyer sends after a first answer.
INTENT_GROUP: dict[str, str] = {
    "where_is_order": "delivery",
    "not_received": "delivery",
    "damaged": "problem",
    "wrong_item": "problem",
    "return": "money",
    "refund": "money",
    "invoice": "admin",
    "cancellation": "admin",
    "product_question": "question",
    "thanks": "question",
}

FIRST_NAMES: dict[str, tuple[str, ...]] = {
    "fr": (
        "Camille", "Nathalie", "Sophie", "Isabelle", "Julie", "Céline", "Marie", "Aurélie",
        "Sandrine", "Émilie", "Françoise", "Hélène", "Thomas", "Nicolas", "Julien", "Sébastien",
        "Laurent", "Christophe", "Pierre", "Antoine", "Mathieu", "Olivier", "Jean-Marc", "Éric",
    ),
    "en": (
        "Emma", "Olivia", "Sophie", "Charlotte", "Amelia", "Jessica", "Hannah", "Grace",
        "James", "Oliver", "Harry", "Jack", "George", "Daniel", "Michael", "David",
    ),
    "de": (
        "Lena", "Anna", "Laura", "Julia", "Sabine", "Katrin", "Petra", "Claudia",
        "Lukas", "Jonas", "Felix", "Maximilian", "Stefan", "Andreas", "Jürgen", "Tobias",
    ),
    "es": (
        "Lucía", "María", "Carmen", "Laura", "Paula", "Elena", "Sara", "Marta",
        "Alejandro", "Javier", "Carlos", "Pablo", "David", "Sergio", "Manuel", "Jorge",
    ),
    "it": (
        "Giulia", "Francesca", "Chiara", "Sara", "Martina", "Valentina", "Alessandra", "Elena",
        "Marco", "Luca", "Andrea", "Matteo", "Alessandro", "Davide", "Giuseppe", "Paolo",
    ),
}  # fmt: skip

LAST_NAMES: dict[str, tuple[str, ...]] = {
    "fr": (
        "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand",
        "Leroy", "Moreau", "Simon", "Laurent", "Lefebvre", "Michel", "Garcia", "Fournier",
        "Girard", "Bonnet", "Lambert", "Rousseau", "Fontaine", "Chevalier", "Mercier", "Blanc",
    ),
    "en": (
        "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies",
        "Evans", "Roberts", "Walker", "Wright", "Robinson", "Hughes", "Green", "Clarke",
    ),
    "de": (
        "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker",
        "Schulz", "Hoffmann", "Koch", "Bauer", "Richter", "Klein", "Wolf", "Schröder",
    ),
    "es": (
        "García", "Fernández", "González", "Rodríguez", "López", "Martínez", "Sánchez", "Pérez",
        "Gómez", "Martín", "Jiménez", "Ruiz", "Hernández", "Díaz", "Moreno", "Álvarez",
    ),
    "it": (
        "Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci",
        "Marino", "Greco", "Bruno", "Gallo", "Conti", "De Luca", "Costa", "Giordano",
    ),
}  # fmt: skip

# Providers people use in each country; the domains end in the reserved `.example` so that no
# demo reply can ever reach a real mailbox.
EMAIL_PROVIDERS: dict[str, tuple[str, ...]] = {
    "fr": ("orange", "free", "laposte", "gmail", "hotmail", "sfr", "wanadoo"),
    "en": ("gmail", "outlook", "yahoo", "btinternet"),
    "de": ("gmx", "web", "t-online", "gmail"),
    "es": ("gmail", "hotmail", "telefonica"),
    "it": ("libero", "gmail", "alice", "virgilio"),
}

AMAZON_TLD: dict[str, str] = {"fr": "fr", "en": "co.uk", "de": "de", "es": "es", "it": "it"}

# Amazon relays buyer messages with its own subject line.
AMAZON_SUBJECT: dict[str, str] = {
    "fr": "Demande de renseignements de la part du client Amazon {customer} (Commande : {order})",
    "en": "Inquiry from Amazon customer {customer} (Order: {order})",
    "de": "Anfrage von Amazon-Kunde {customer} (Bestellung: {order})",
    "es": "Consulta del cliente de Amazon {customer} (Pedido: {order})",
    "it": "Richiesta dal cliente Amazon {customer} (Ordine: {order})",
}

# Product titles as listed (in French: the seller lists in French on every marketplace).
CATALOGUE: dict[str, tuple[tuple[str, str, str], ...]] = {
    "maison-lumiere": (
        ("ML-LMP-014", "Lampe de chevet en laiton", "49.90"),
        ("ML-COU-220", "Lot de 4 coussins en lin lavé", "59.00"),
        ("ML-PLD-031", "Plaid en laine mérinos 130x170", "89.00"),
        ("ML-VAS-108", "Vase en céramique émaillée", "34.50"),
        ("ML-MIR-060", "Miroir rond en rotin 60 cm", "79.90"),
        ("ML-GUI-010", "Guirlande lumineuse 10 m", "19.90"),
        ("ML-TAP-160", "Tapis berbère 160x230", "189.00"),
        ("ML-PAR-240", "Parure de lit en percale 240x220", "99.00"),
        ("ML-BOU-FIG", "Bougie parfumée figuier", "24.00"),
        ("ML-SUS-045", "Suspension en rotin 45 cm", "69.00"),
        ("ML-NAP-180", "Nappe en lin 180x300", "54.90"),
        ("ML-HOR-030", "Horloge murale scandinave", "39.90"),
    ),
    "technoplus": (
        ("TP-CAS-ANC", "Casque Bluetooth à réduction de bruit", "129.00"),
        ("TP-ENC-IP7", "Enceinte portable étanche", "59.99"),
        ("TP-CHG-65W", "Chargeur USB-C 65 W GaN", "34.99"),
        ("TP-SOU-ERG", "Souris sans fil ergonomique", "44.90"),
        ("TP-CLA-MEC", "Clavier mécanique AZERTY rétroéclairé", "89.90"),
        ("TP-ECR-27Q", "Écran 27 pouces QHD 165 Hz", "279.00"),
        ("TP-SSD-1TO", "Disque SSD externe 1 To", "99.90"),
        ("TP-MON-SPT", "Montre connectée sport GPS", "149.00"),
        ("TP-WEB-FHD", "Webcam Full HD avec micro", "49.90"),
        ("TP-BAT-20K", "Batterie externe 20 000 mAh", "39.99"),
        ("TP-HUB-7P1", "Hub USB-C 7 en 1", "42.00"),
        ("TP-ECO-TWS", "Écouteurs sans fil True Wireless", "79.00"),
    ),
}

# name → (weight, tracking format, tracking URL); formats: "#" a digit, "A" a letter.
CARRIERS: dict[str, tuple[int, str, str]] = {
    "Colissimo": (35, "6A###########", "https://www.laposte.fr/outils/suivre-vos-envois?code={}"),
    "Chronopost": (
        12,
        "XW#########FR",
        "https://www.chronopost.fr/tracking-no-cms/suivi-page?listeNumerosLT={}",
    ),
    "Mondial Relay": (
        18,
        "########",
        "https://www.mondialrelay.fr/suivi-de-colis/?NumeroExpedition={}",
    ),
    "DPD": (12, "##############", "https://trace.dpd.fr/fr/trace/{}"),
    "UPS": (8, "1ZAAA###68########", "https://www.ups.com/track?tracknum={}"),
    "GLS": (10, "###########", "https://gls-group.com/FR/fr/suivi-colis?match={}"),
    "DHL": (5, "##########", "https://www.dhl.com/fr-fr/home/suivi.html?tracking-id={}"),
}

Templates = dict[str, dict[str, tuple[str, ...]]]

SUBJECTS: Templates = {
    "where_is_order": {
        "fr": ("Où en est ma commande ?", "Suivi de commande {order}", "Commande pas encore reçue"),
        "en": ("Where is my order?", "Tracking for order {order}"),
        "de": ("Wo ist meine Bestellung?", "Sendungsverfolgung Bestellung {order}"),
        "es": ("¿Dónde está mi pedido?", "Seguimiento del pedido {order}"),
        "it": ("Dov'è il mio ordine?", "Tracciamento ordine {order}"),
    },
    "not_received": {
        "fr": ("Colis non reçu", "Commande {order} jamais reçue", "Article non reçu"),
        "en": ("Parcel not received", "Order {order} never arrived"),
        "de": ("Paket nicht erhalten", "Bestellung {order} nie angekommen"),
        "es": ("Paquete no recibido", "Pedido {order} no recibido"),
        "it": ("Pacco non ricevuto", "Ordine {order} mai arrivato"),
    },
    "damaged": {
        "fr": ("Produit reçu endommagé", "Article cassé à la livraison", "Produit défectueux"),
        "en": ("Item arrived damaged", "Faulty product"),
        "de": ("Ware beschädigt angekommen", "Artikel defekt"),
        "es": ("Producto dañado", "Artículo defectuoso"),
        "it": ("Prodotto arrivato danneggiato", "Articolo difettoso"),
    },
    "wrong_item": {
        "fr": ("Erreur de produit", "Mauvais article reçu", "Colis incomplet"),
        "en": ("Wrong item received", "Item missing from my order"),
        "de": ("Falscher Artikel geliefert", "Artikel fehlt in der Lieferung"),
        "es": ("Artículo equivocado", "Falta un artículo"),
        "it": ("Articolo sbagliato", "Manca un articolo nel pacco"),
    },
    "return": {
        "fr": ("Demande de retour", "Retour produit commande {order}", "Rétractation"),
        "en": ("Return request", "How do I return order {order}?"),
        "de": ("Rücksendung", "Widerruf Bestellung {order}"),
        "es": ("Solicitud de devolución", "Devolver pedido {order}"),
        "it": ("Richiesta di reso", "Reso ordine {order}"),
    },
    "refund": {
        "fr": ("Remboursement", "Remboursement non reçu", "Double prélèvement"),
        "en": ("Refund not received", "Where is my refund?"),
        "de": ("Erstattung", "Rückerstattung noch nicht erhalten"),
        "es": ("Reembolso", "No he recibido el reembolso"),
        "it": ("Rimborso", "Rimborso non ricevuto"),
    },
    "invoice": {
        "fr": ("Demande de facture", "Facture commande {order}", "Facture avec TVA"),
        "en": ("Invoice request", "VAT invoice for order {order}"),
        "de": ("Rechnung", "Rechnung mit MwSt. für Bestellung {order}"),
        "es": ("Solicitud de factura", "Factura del pedido {order}"),
        "it": ("Richiesta fattura", "Fattura ordine {order}"),
    },
    "cancellation": {
        "fr": ("Annulation de commande", "Annuler commande {order}", "Demande d'annulation"),
        "en": ("Cancel my order", "Cancellation request {order}"),
        "de": ("Stornierung", "Bestellung {order} stornieren"),
        "es": ("Cancelar pedido", "Anulación del pedido {order}"),
        "it": ("Annullamento ordine", "Annullare ordine {order}"),
    },
    "product_question": {
        "fr": ("Question sur un produit", "Renseignement avant achat", "Disponibilité"),
        "en": ("Question about a product", "Product question"),
        "de": ("Frage zum Artikel", "Produktfrage"),
        "es": ("Pregunta sobre un producto", "Consulta antes de comprar"),
        "it": ("Domanda su un prodotto", "Informazioni prima dell'acquisto"),
    },
    "thanks": {
        "fr": ("Merci !", "Commande bien reçue", "Remerciements"),
        "en": ("Thank you!", "Order received"),
        "de": ("Vielen Dank!", "Bestellung angekommen"),
        "es": ("¡Gracias!", "Pedido recibido"),
        "it": ("Grazie!", "Ordine ricevuto"),
    },
}

OPENINGS: Templates = {
    "where_is_order": {
        "fr": (
            "Bonjour,\nJ'ai passé commande le {ordered} (commande {order}) et je n'ai toujours "
            "aucune nouvelle. Pouvez-vous me dire où en est mon colis ?\nMerci d'avance.",
            "Bonjour, pourriez-vous me donner le numéro de suivi de ma commande {order} ? Je n'ai "
            "reçu aucun mail d'expédition.",
            "bonjour, ma commande ({product}) devait arriver cette semaine, le suivi {carrier} ne "
            "bouge plus depuis 3 jours. c'est normal ?",
            "Bonjour,\nQuand est-ce que ma commande sera livrée ? J'en ai besoin pour un "
            "anniversaire samedi.\nCordialement",
        ),
        "en": (
            "Hello,\nI ordered on {ordered} (order {order}) and haven't heard anything since. "
            "Could you tell me where my parcel is?\nThanks",
            "Hi, the tracking for my {product} hasn't moved for three days. Is it lost?",
        ),
        "de": (
            "Guten Tag,\nich habe am {ordered} bestellt (Bestellung {order}) und noch keine "
            "Versandbestätigung erhalten. Wann kommt mein Paket?",
            "Hallo, die Sendungsverfolgung von {carrier} zeigt seit Tagen nichts Neues an. "
            "Können Sie bitte nachsehen?",
        ),
        "es": (
            "Hola,\nhice el pedido {order} el {ordered} y todavía no sé nada. ¿Me pueden decir "
            "dónde está mi paquete?\nGracias",
            "Buenos días, ¿me pueden dar el número de seguimiento de mi pedido? No he recibido "
            "ningún correo de envío.",
        ),
        "it": (
            "Buongiorno,\nho ordinato il {ordered} (ordine {order}) e non ho ancora notizie. "
            "Potete dirmi dov'è il mio pacco?\nGrazie",
            "Salve, il tracciamento {carrier} del mio {product} è fermo da tre giorni. È normale?",
        ),
    },
    "not_received": {
        "fr": (
            "Bonjour,\nLe suivi indique que mon colis a été livré le {delivered} mais je n'ai "
            "rien reçu, ni dans ma boîte aux lettres ni chez le gardien. Que pouvez-vous faire ?",
            "Bonjour, commande {order} jamais reçue alors que la date de livraison prévue "
            "({eta}) est dépassée depuis une semaine. Je souhaite un remboursement ou un renvoi.",
            "Toujours pas reçu mon {product} !! Ça fait presque 3 semaines. Merci de me répondre "
            "rapidement.",
        ),
        "en": (
            "Hello,\nTracking says my parcel was delivered on {delivered} but I never got it. "
            "Please help.",
            "My order {order} was due on {eta} and still hasn't arrived. I would like a refund "
            "or a replacement.",
        ),
        "de": (
            "Guten Tag,\nlaut Sendungsverfolgung wurde mein Paket am {delivered} zugestellt, "
            "ich habe aber nichts erhalten. Was können Sie tun?",
            "Meine Bestellung {order} sollte am {eta} ankommen und ist immer noch nicht da. "
            "Bitte um Ersatz oder Erstattung.",
        ),
        "es": (
            "Hola,\nel seguimiento dice que el paquete se entregó el {delivered} pero no he "
            "recibido nada. ¿Qué pueden hacer?",
            "Mi pedido {order} tenía que llegar el {eta} y sigue sin llegar. Quiero el reembolso.",
        ),
        "it": (
            "Buongiorno,\nil tracciamento dice che il pacco è stato consegnato il {delivered} ma "
            "non ho ricevuto nulla. Cosa potete fare?",
            "Il mio ordine {order} doveva arrivare il {eta} e non è ancora arrivato. Chiedo il "
            "rimborso o un nuovo invio.",
        ),
    },
    "damaged": {
        "fr": (
            "Bonjour,\nJ'ai reçu ce matin ma commande {order} mais le {product} est arrivé "
            "cassé, le carton était tout écrasé. Je vous joins des photos. Que dois-je faire ?",
            "Bonjour, le produit ne fonctionne pas à la réception ({product}). Il ne s'allume "
            "pas du tout. Pouvez-vous me l'échanger ?",
            "Article reçu abîmé : une rayure profonde sur le dessus et un coin enfoncé. Je suis "
            "très déçue.",
        ),
        "en": (
            "Hello,\nMy {product} arrived broken, the box was crushed. What should I do?",
            "Hi, the {product} I received does not work at all. Can you replace it?",
        ),
        "de": (
            "Guten Tag,\nder {product} ist beschädigt angekommen, der Karton war eingedrückt. "
            "Wie geht es jetzt weiter?",
            "Hallo, der Artikel funktioniert nicht, er lässt sich nicht einschalten. Bitte um "
            "Umtausch.",
        ),
        "es": (
            "Hola,\nel {product} ha llegado roto, la caja estaba aplastada. ¿Qué hago?",
            "Buenas, el producto no funciona nada más sacarlo de la caja. ¿Me lo pueden cambiar?",
        ),
        "it": (
            "Buongiorno,\nil {product} è arrivato rotto, la scatola era schiacciata. Come "
            "devo procedere?",
            "Salve, il prodotto non funziona appena ricevuto. Potete sostituirlo?",
        ),
    },
    "wrong_item": {
        "fr": (
            "Bonjour,\nJ'ai commandé {product} et j'ai reçu {other} ! Merci de m'envoyer le bon "
            "article rapidement et de me dire comment vous renvoyer celui-ci.",
            "Bonjour, erreur dans ma commande {order} : il manque un article dans le colis, je "
            "n'ai reçu qu'un seul produit sur deux.",
            "Ce n'est pas la bonne couleur, j'avais choisi le modèle naturel et j'ai reçu le noir.",
        ),
        "en": (
            "Hello,\nI ordered {product} but received {other}. Please send the right item.",
            "Hi, one item is missing from order {order}: only one of the two products was in "
            "the parcel.",
        ),
        "de": (
            "Guten Tag,\nich habe {product} bestellt und {other} bekommen. Bitte schicken Sie "
            "mir den richtigen Artikel.",
            "Hallo, in meiner Lieferung {order} fehlt ein Artikel.",
        ),
        "es": (
            "Hola,\npedí {product} y he recibido {other}. Por favor envíenme el artículo correcto.",
            "Buenas, en el pedido {order} falta un artículo.",
        ),
        "it": (
            "Buongiorno,\nho ordinato {product} e ho ricevuto {other}. Vi prego di inviarmi "
            "l'articolo giusto.",
            "Salve, nel pacco dell'ordine {order} manca un articolo.",
        ),
    },
    "return": {
        "fr": (
            "Bonjour,\nLe {product} ne convient pas finalement (trop grand pour mon salon). "
            "Comment puis-je le retourner ? Faut-il une étiquette ?",
            "Bonjour, je souhaite retourner ma commande {order}, l'article ne correspond pas à "
            "la description. Merci de m'indiquer la procédure.",
            "Bonjour, je suis dans le délai de rétractation de 14 jours et je voudrais vous "
            "renvoyer le produit. Pouvez-vous m'envoyer une étiquette de retour ?",
        ),
        "en": (
            "Hello,\nThe {product} isn't what I expected. How can I return it?",
            "Hi, I'd like to return order {order}. Could you send me a return label?",
        ),
        "de": (
            "Guten Tag,\nich möchte von meinem Widerrufsrecht Gebrauch machen und den {product} "
            "zurücksenden. Bitte senden Sie mir ein Rücksendeetikett.",
            "Hallo, der Artikel gefällt mir leider nicht. Wie funktioniert die Rücksendung?",
        ),
        "es": (
            "Hola,\nquiero devolver el {product}, no es lo que esperaba. ¿Cómo lo hago?",
            "Buenas, ¿me pueden enviar una etiqueta de devolución para el pedido {order}?",
        ),
        "it": (
            "Buongiorno,\nvorrei restituire il {product}, non corrisponde alla descrizione. "
            "Come faccio?",
            "Salve, potete inviarmi un'etichetta per il reso dell'ordine {order}?",
        ),
    },
    "refund": {
        "fr": (
            "Bonjour,\nJ'ai renvoyé le {product} il y a 10 jours (suivi {tracking}) et je n'ai "
            "toujours pas été remboursée. Pouvez-vous vérifier ?",
            "Bonjour, vous m'aviez promis un remboursement pour la commande {order}, où en "
            "est-il ?",
            "Bonjour, j'ai été débité deux fois pour la même commande {order}. Merci de me "
            "rembourser le doublon.",
        ),
        "en": (
            "Hello,\nI sent the {product} back ten days ago and still have no refund.",
            "Hi, I was charged twice for order {order}. Please refund the duplicate payment.",
        ),
        "de": (
            "Guten Tag,\nich habe den Artikel vor zehn Tagen zurückgeschickt und noch keine "
            "Erstattung erhalten.",
            "Hallo, mir wurde die Bestellung {order} zweimal abgebucht. Bitte erstatten Sie "
            "den doppelten Betrag.",
        ),
        "es": (
            "Hola,\ndevolví el {product} hace diez días y todavía no me han reembolsado.",
            "Buenas, me han cobrado dos veces el pedido {order}.",
        ),
        "it": (
            "Buongiorno,\nho restituito il {product} dieci giorni fa e non ho ancora ricevuto "
            "il rimborso.",
            "Salve, mi avete addebitato due volte l'ordine {order}.",
        ),
    },
    "invoice": {
        "fr": (
            "Bonjour,\nPourriez-vous m'envoyer la facture de la commande {order} ? J'en ai "
            "besoin pour ma comptabilité (achat professionnel).\nMerci",
            "Bonjour, je n'arrive pas à télécharger la facture depuis mon compte. Pouvez-vous me "
            "l'envoyer par mail ? Il faudrait aussi ajouter le nom de ma société.",
            "Bonjour, j'ai besoin d'une facture avec TVA pour la garantie du {product}. Merci.",
        ),
        "en": (
            "Hello,\nCould you send me a VAT invoice for order {order}? It's for my company.",
            "Hi, I can't download the invoice from my account. Can you email it to me?",
        ),
        "de": (
            "Guten Tag,\nbitte senden Sie mir eine Rechnung mit ausgewiesener MwSt. für die "
            "Bestellung {order}.",
            "Hallo, ich finde die Rechnung in meinem Konto nicht. Können Sie sie mir mailen?",
        ),
        "es": (
            "Hola,\n¿me pueden enviar la factura del pedido {order}? La necesito para mi empresa.",
            "Buenas, no encuentro la factura en mi cuenta.",
        ),
        "it": (
            "Buongiorno,\npotete inviarmi la fattura dell'ordine {order}? Mi serve per la "
            "contabilità.",
            "Salve, non riesco a scaricare la fattura dal mio account.",
        ),
    },
    "cancellation": {
        "fr": (
            "Bonjour,\nJe viens de passer la commande {order} par erreur, pouvez-vous l'annuler "
            "avant l'expédition s'il vous plaît ?",
            "Bonjour, je souhaite annuler ma commande, j'ai trouvé le même article moins cher en "
            "magasin. Merci de confirmer l'annulation.",
            "Annulation svp, le délai de livraison est trop long pour moi.",
        ),
        "en": (
            "Hello,\nI placed order {order} by mistake. Please cancel it before it ships.",
            "Hi, please cancel my order, the delivery time is too long for me.",
        ),
        "de": (
            "Guten Tag,\nbitte stornieren Sie meine Bestellung {order}, ich habe mich vertan.",
            "Hallo, ich möchte die Bestellung stornieren, bevor sie versendet wird.",
        ),
        "es": (
            "Hola,\nhice el pedido {order} por error, ¿lo pueden cancelar antes del envío?",
            "Buenas, quiero anular mi pedido, el plazo de entrega es demasiado largo.",
        ),
        "it": (
            "Buongiorno,\nho effettuato l'ordine {order} per errore, potete annullarlo prima "
            "della spedizione?",
            "Salve, vorrei annullare il mio ordine.",
        ),
    },
    "product_question": {
        "fr": (
            "Bonjour,\nQuelles sont les dimensions exactes du {product} ? Et est-il disponible "
            "en d'autres coloris ?",
            "Bonjour, le {product} est garanti combien de temps ? Avez-vous un SAV en France ?",
            "Bonjour, est-ce que le {product} sera de nouveau en stock bientôt ? Je voudrais en "
            "commander deux.",
            "Bonjour, peut-on utiliser le {product} à l'extérieur ? Merci pour votre réponse.",
        ),
        "en": (
            "Hello,\nWhat are the exact dimensions of the {product}? Does it come in other "
            "colours?",
            "Hi, does the {product} ship to the UK, and how long is the warranty?",
        ),
        "de": (
            "Guten Tag,\nwelche Maße hat der {product} genau? Gibt es ihn in anderen Farben?",
            "Hallo, wie lange ist die Garantie auf den {product}?",
        ),
        "es": (
            "Hola,\n¿qué medidas exactas tiene el {product}? ¿Hay otros colores?",
            "Buenas, ¿cuánto tiempo de garantía tiene el {product}?",
        ),
        "it": (
            "Buongiorno,\nquali sono le dimensioni esatte del {product}? È disponibile in altri "
            "colori?",
            "Salve, quanto dura la garanzia del {product}?",
        ),
    },
    "thanks": {
        "fr": (
            "Bonjour, colis bien reçu, merci pour la rapidité et le petit mot dans le paquet !",
            "Merci beaucoup, tout est parfait. Je recommanderai votre boutique.",
            "Bonjour, je voulais juste vous remercier pour votre aide concernant ma commande "
            "{order}. Bonne journée !",
        ),
        "en": ("Parcel received, thank you for the quick delivery!", "All perfect, many thanks."),
        "de": ("Paket ist angekommen, vielen Dank für den schnellen Versand!", "Alles bestens."),
        "es": ("Pedido recibido, ¡muchas gracias por la rapidez!", "Todo perfecto, gracias."),
        "it": ("Pacco ricevuto, grazie per la velocità!", "Tutto perfetto, grazie mille."),
    },
}

FOLLOW_UPS: Templates = {
    "delivery": {
        "fr": (
            "Bonjour, toujours rien reçu à ce jour. Avez-vous des nouvelles du transporteur ?",
            "Le suivi n'a pas bougé depuis votre message. Je commence à m'inquiéter.",
        ),
        "en": ("Still nothing today. Any news from the carrier?",),
        "de": ("Bis heute ist nichts angekommen. Gibt es Neuigkeiten vom Versanddienst?",),
        "es": ("Sigo sin recibir nada. ¿Alguna novedad del transportista?",),
        "it": ("Ancora niente oggi. Novità dal corriere?",),
    },
    "problem": {
        "fr": (
            "Bonjour, voici les photos demandées. Merci de me tenir au courant.",
            "Je n'ai toujours pas reçu l'article de remplacement, pouvez-vous vérifier ?",
        ),
        "en": ("Here are the photos you asked for.",),
        "de": ("Anbei die gewünschten Fotos.",),
        "es": ("Adjunto las fotos que me pidieron.",),
        "it": ("Ecco le foto richieste.",),
    },
    "money": {
        "fr": (
            "Bonjour, j'ai bien renvoyé le colis. Combien de temps pour le remboursement ?",
            "Toujours pas de remboursement sur mon compte…",
        ),
        "en": ("I've sent the parcel back. How long until the refund?",),
        "de": ("Ich habe das Paket zurückgeschickt. Wann kommt die Erstattung?",),
        "es": ("Ya he devuelto el paquete. ¿Cuándo recibiré el reembolso?",),
        "it": ("Ho rispedito il pacco. Quando arriverà il rimborso?",),
    },
    "admin": {
        "fr": (
            "Merci, mais il manque le nom de la société sur la facture. Pouvez-vous la corriger ?",
            "Pouvez-vous me confirmer que c'est bien pris en compte ?",
        ),
        "en": ("Could you confirm that it's done?",),
        "de": ("Können Sie mir das bitte bestätigen?",),
        "es": ("¿Me lo pueden confirmar?",),
        "it": ("Potete confermarmelo?",),
    },
    "question": {
        "fr": (
            "Merci pour la réponse. Et la livraison en Belgique, c'est possible ?",
            "D'accord, et quel est le délai de livraison ?",
        ),
        "en": ("Thanks. And how long does delivery take?",),
        "de": ("Danke. Wie lange dauert die Lieferung?",),
        "es": ("Gracias. ¿Y cuánto tarda el envío?",),
        "it": ("Grazie. E quanto tempo ci vuole per la consegna?",),
    },
}

THANKS_FOLLOW_UPS: dict[str, tuple[str, ...]] = {
    "fr": ("Merci beaucoup pour votre aide !", "Parfait, merci.", "Bien reçu, merci !"),
    "en": ("Thank you very much for your help!", "Perfect, thanks."),
    "de": ("Vielen Dank für Ihre Hilfe!", "Perfekt, danke."),
    "es": ("¡Muchas gracias por su ayuda!", "Perfecto, gracias."),
    "it": ("Grazie mille per l'aiuto!", "Perfetto, grazie."),
}

BUYER_SIGN_OFFS: dict[str, tuple[str, ...]] = {
    "fr": ("", "{first}", "Cordialement,\n{customer}", "{customer}"),
    "en": ("", "{first}", "Kind regards,\n{customer}"),
    "de": ("", "Viele Grüße\n{first}", "Mit freundlichen Grüßen\n{customer}"),
    "es": ("", "{first}", "Un saludo,\n{customer}"),
    "it": ("", "{first}", "Cordiali saluti,\n{customer}"),
}

GREETINGS: dict[str, str] = {
    "fr": "Bonjour {customer},",
    "en": "Hello {first},",
    "de": "Guten Tag {customer},",
    "es": "Hola {first}:",
    "it": "Buongiorno {customer},",
}

SIGNATURES: dict[str, str] = {
    "fr": "Bien cordialement,\n{agent}\nService client {shop}",
    "en": "Kind regards,\n{agent}\n{shop} customer service",
    "de": "Mit freundlichen Grüßen\n{agent}\nKundenservice {shop}",
    "es": "Un saludo,\n{agent}\nAtención al cliente {shop}",
    "it": "Cordiali saluti,\n{agent}\nServizio clienti {shop}",
}

REPLIES: Templates = {
    "where_is_order": {
        "fr": (
            "Votre commande {order} a été expédiée le {shipped} avec {carrier}. Vous pouvez "
            "suivre le colis avec le numéro {tracking}. La livraison est prévue vers le {eta}.",
            "Nous avons vérifié : votre colis est bien en cours d'acheminement ({carrier}, suivi "
            "{tracking}). Les délais sont un peu allongés en ce moment, il devrait vous parvenir "
            "d'ici le {eta}.",
        ),
        "en": (
            "Your order {order} shipped on {shipped} with {carrier} (tracking {tracking}). "
            "It should reach you around {eta}.",
        ),
        "de": (
            "Ihre Bestellung {order} wurde am {shipped} mit {carrier} versandt "
            "(Sendungsnummer {tracking}). Die Zustellung ist für den {eta} geplant.",
        ),
        "es": (
            "Su pedido {order} salió el {shipped} con {carrier} (seguimiento {tracking}). "
            "Debería llegar hacia el {eta}.",
        ),
        "it": (
            "Il suo ordine {order} è stato spedito il {shipped} con {carrier} (tracciamento "
            "{tracking}). La consegna è prevista verso il {eta}.",
        ),
    },
    "not_received": {
        "fr": (
            "Nous sommes désolés pour ce désagrément. Nous avons ouvert une enquête auprès de "
            "{carrier} pour le colis {tracking}. Sans nouvelle sous 48 h, nous vous renverrons "
            "l'article ou vous rembourserons, comme vous préférez.",
            "Pouvez-vous vérifier auprès de vos voisins et de votre point relais ? De notre côté "
            "nous lançons une réclamation auprès du transporteur et revenons vers vous très vite.",
        ),
        "en": (
            "We're sorry about this. We have opened an investigation with {carrier} for parcel "
            "{tracking}; if we hear nothing within 48 hours we will reship or refund you.",
        ),
        "de": (
            "Das tut uns leid. Wir haben bei {carrier} einen Nachforschungsauftrag für die "
            "Sendung {tracking} gestellt und senden Ihnen sonst in 48 Stunden Ersatz.",
        ),
        "es": (
            "Lo sentimos mucho. Hemos abierto una investigación con {carrier} para el envío "
            "{tracking}; si en 48 horas no hay noticias, le reenviamos el artículo o le "
            "reembolsamos.",
        ),
        "it": (
            "Ci dispiace molto. Abbiamo aperto un'indagine con {carrier} per la spedizione "
            "{tracking}; senza notizie entro 48 ore le rispediremo l'articolo o la rimborseremo.",
        ),
    },
    "damaged": {
        "fr": (
            "Nous sommes vraiment désolés que votre {product} soit arrivé endommagé. Nous vous "
            "envoyons un article de remplacement dès aujourd'hui, inutile de nous retourner le "
            "produit abîmé.",
            "Merci pour votre message. Pourriez-vous nous envoyer une ou deux photos du produit "
            "et du carton ? Nous organiserons ensuite un échange ou un remboursement selon votre "
            "choix.",
        ),
        "en": (
            "We're very sorry your {product} arrived damaged. A replacement leaves today; there "
            "is no need to send the damaged one back.",
        ),
        "de": (
            "Es tut uns sehr leid, dass der {product} beschädigt angekommen ist. Wir senden "
            "Ihnen heute noch Ersatz; Sie müssen den Artikel nicht zurückschicken.",
        ),
        "es": (
            "Sentimos mucho que el {product} llegara dañado. Hoy mismo le enviamos uno nuevo; "
            "no hace falta que nos devuelva el dañado.",
        ),
        "it": (
            "Ci dispiace molto che il {product} sia arrivato danneggiato. Le spediamo oggi "
            "stesso un articolo sostitutivo, non serve restituire quello rovinato.",
        ),
    },
    "wrong_item": {
        "fr": (
            "Toutes nos excuses pour cette erreur de préparation. Nous vous expédions le bon "
            "article aujourd'hui et vous envoyons une étiquette prépayée pour nous retourner "
            "l'autre.",
            "Désolés pour cette erreur ! Le produit manquant part aujourd'hui en envoi séparé, "
            "vous recevrez le numéro de suivi par e-mail.",
        ),
        "en": (
            "Apologies for the mix-up. The right item ships today and we've emailed you a "
            "prepaid label for the other one.",
        ),
        "de": (
            "Entschuldigen Sie bitte die Verwechslung. Der richtige Artikel geht heute raus, "
            "ein kostenloses Rücksendeetikett haben wir Ihnen gemailt.",
        ),
        "es": (
            "Disculpe el error. Hoy le enviamos el artículo correcto y una etiqueta prepagada "
            "para devolver el otro.",
        ),
        "it": (
            "Ci scusiamo per l'errore. Le spediamo oggi l'articolo giusto e le inviamo "
            "un'etichetta prepagata per restituire l'altro.",
        ),
    },
    "return": {
        "fr": (
            "Bien sûr. Emballez le produit dans son carton d'origine et déposez-le en point "
            "relais avec l'étiquette prépayée que nous venons de vous envoyer. Le remboursement "
            "est effectué sous 5 jours après réception.",
            "Nous avons bien enregistré votre demande de retour pour la commande {order}. Vous "
            "allez recevoir l'étiquette de retour par e-mail dans quelques minutes.",
        ),
        "en": (
            "Of course. We've emailed you a prepaid return label; the refund is made within five "
            "days of receiving the parcel.",
        ),
        "de": (
            "Selbstverständlich. Das kostenlose Rücksendeetikett ist unterwegs; die Erstattung "
            "erfolgt innerhalb von fünf Tagen nach Eingang.",
        ),
        "es": (
            "Por supuesto. Le hemos enviado una etiqueta de devolución prepagada; el reembolso "
            "se hace en cinco días tras recibir el paquete.",
        ),
        "it": (
            "Certamente. Le abbiamo inviato un'etichetta di reso prepagata; il rimborso avviene "
            "entro cinque giorni dal ricevimento.",
        ),
    },
    "refund": {
        "fr": (
            "Nous avons bien reçu votre retour et le remboursement de {total} a été déclenché "
            "aujourd'hui. Selon votre banque, il apparaîtra sous 3 à 5 jours ouvrés.",
            "Après vérification, le remboursement a bien été effectué. Si vous ne le voyez pas "
            "d'ici quelques jours, n'hésitez pas à nous recontacter.",
        ),
        "en": (
            "We've received your return and refunded {total} today; it can take 3 to 5 working "
            "days to show on your account.",
        ),
        "de": (
            "Ihre Rücksendung ist eingegangen und wir haben heute {total} erstattet. Die "
            "Gutschrift kann 3 bis 5 Werktage dauern.",
        ),
        "es": (
            "Hemos recibido su devolución y hoy le reembolsamos {total}. Puede tardar de 3 a 5 "
            "días hábiles.",
        ),
        "it": (
            "Abbiamo ricevuto il reso e oggi le abbiamo rimborsato {total}. L'accredito può "
            "richiedere da 3 a 5 giorni lavorativi.",
        ),
    },
    "invoice": {
        "fr": (
            "Vous trouverez la facture de votre commande {order} en pièce jointe. N'hésitez pas "
            "à nous indiquer si vous avez besoin d'informations complémentaires.",
            "La facture est disponible dans votre espace client, rubrique « Mes commandes ». "
            "Nous vous l'avons également envoyée par e-mail.",
        ),
        "en": ("Please find the invoice for order {order} attached.",),
        "de": ("Anbei erhalten Sie die Rechnung zur Bestellung {order}.",),
        "es": ("Le adjuntamos la factura del pedido {order}.",),
        "it": ("In allegato trova la fattura dell'ordine {order}.",),
    },
    "cancellation": {
        "fr": (
            "Votre commande {order} a bien été annulée avant son expédition. Le remboursement "
            "intégral apparaîtra sous quelques jours.",
            "Nous avons demandé l'annulation à notre entrepôt : la commande {order} ne partira "
            "pas et vous serez remboursé(e) intégralement sous quelques jours.",
        ),
        "en": ("Your order {order} has been cancelled before shipping; you'll be fully refunded.",),
        "de": ("Ihre Bestellung {order} wurde vor dem Versand storniert und wird erstattet.",),
        "es": ("Su pedido {order} ha sido cancelado antes del envío; le reembolsaremos todo.",),
        "it": ("Il suo ordine {order} è stato annullato prima della spedizione.",),
    },
    "product_question": {
        "fr": (
            "Merci pour votre intérêt ! Le {product} est garanti 2 ans et notre service "
            "après-vente est basé en France. Il existe en trois coloris : naturel, noir et blanc.",
            "Bonne question : le {product} est prévu pour un usage intérieur uniquement. Un "
            "réassort est attendu d'ici deux semaines.",
        ),
        "en": (
            "Thanks for your interest! The {product} has a two-year warranty and comes in "
            "three colours.",
        ),
        "de": ("Danke für Ihr Interesse! Der {product} hat zwei Jahre Garantie.",),
        "es": ("¡Gracias por su interés! El {product} tiene dos años de garantía.",),
        "it": ("Grazie per l'interesse! Il {product} ha due anni di garanzia.",),
    },
    "thanks": {
        "fr": (
            "Merci beaucoup pour votre message, cela fait plaisir à toute l'équipe !",
            "Merci pour votre retour, nous sommes ravis que tout soit parfait.",
        ),
        "en": ("Thank you so much for your kind message!",),
        "de": ("Vielen Dank für Ihre nette Nachricht!",),
        "es": ("¡Muchas gracias por su mensaje!",),
        "it": ("Grazie mille per il suo messaggio!",),
    },
}

# Where-is-my-order answers when the order has not shipped yet (it is late).
LATE_REPLIES: dict[str, tuple[str, ...]] = {
    "fr": (
        "Toutes nos excuses : votre commande {order} a pris du retard à la préparation. Elle "
        "part aujourd'hui et vous recevrez le numéro de suivi par e-mail dès ce soir.",
    ),
    "en": (
        "Our apologies: order {order} was delayed in the warehouse. It leaves today and you'll "
        "get the tracking number by email tonight.",
    ),
    "de": (
        "Entschuldigung: Ihre Bestellung {order} hat sich im Lager verzögert. Sie wird heute "
        "versandt, die Sendungsnummer erhalten Sie heute Abend per E-Mail.",
    ),
    "es": (
        "Disculpe: su pedido {order} se retrasó en el almacén. Sale hoy y esta tarde recibirá "
        "el número de seguimiento.",
    ),
    "it": (
        "Ci scusiamo: l'ordine {order} ha subito un ritardo in magazzino. Parte oggi e stasera "
        "riceverà il numero di tracciamento.",
    ),
}

# Answers to a follow-up.
SECOND_REPLIES: dict[str, tuple[str, ...]] = {
    "fr": (
        "Merci pour votre retour. Nous avons relancé le transporteur et vous tenons informé(e) "
        "dès que nous avons une réponse.",
        "C'est fait : nous avons procédé comme convenu. N'hésitez pas à revenir vers nous si "
        "besoin.",
        "Merci pour ces précisions, nous nous en occupons immédiatement.",
    ),
    "en": ("Thanks for getting back to us, we're on it and will update you shortly.",),
    "de": ("Danke für Ihre Rückmeldung, wir kümmern uns sofort darum.",),
    "es": ("Gracias por su respuesta, nos ocupamos de inmediato.",),
    "it": ("Grazie per la risposta, ce ne occupiamo subito.",),
}

# A reply that waits for the buyer (the conversation goes "pending").
ASK_REPLIES: dict[str, tuple[str, ...]] = {
    "fr": (
        "Pourriez-vous nous envoyer une photo du produit et de l'étiquette du colis ? Nous "
        "reviendrons vers vous dès réception.",
        "Pour avancer, pouvez-vous nous confirmer votre adresse de livraison complète ?",
        "Pouvez-vous nous indiquer le numéro de suivi de votre retour ?",
    ),
    "en": ("Could you send us a photo of the item and of the parcel label?",),
    "de": ("Könnten Sie uns bitte ein Foto des Artikels und des Paketetiketts senden?",),
    "es": ("¿Podría enviarnos una foto del artículo y de la etiqueta del paquete?",),
    "it": ("Potrebbe inviarci una foto dell'articolo e dell'etichetta del pacco?",),
}

# Internal notes: the team writes French whatever the buyer's language.
NOTES: dict[str, tuple[str, ...]] = {
    "where_is_order": (
        "Colis bloqué au centre de tri, relance {carrier} faite.",
        "Client pressé (anniversaire), surveiller la livraison.",
    ),
    "not_received": (
        "Enquête ouverte chez {carrier} pour {tracking}. Sans retour sous 48 h : renvoi.",
        "Risque de réclamation A-to-z : traiter en priorité.",
    ),
    "damaged": (
        "Photos reçues. Renvoi validé, coût imputé au transporteur.",
        "Deuxième casse sur ce produit ce mois-ci : voir l'emballage avec l'entrepôt.",
    ),
    "wrong_item": ("Erreur de picking (SKU voisins). Signalé à l'entrepôt.",),
    "return": ("Retour accepté, étiquette Mondial Relay envoyée.",),
    "refund": (
        "Remboursement vérifié dans le back-office de la marketplace.",
        "Doublon de paiement confirmé par la compta.",
    ),
    "invoice": ("Facture générée depuis l'ERP et envoyée.",),
    "cancellation": ("Commande bloquée à l'entrepôt avant expédition.",),
    "product_question": ("Demander la fiche technique au fournisseur pour les dimensions.",),
    "thanks": ("Avis positif probable : penser à la demande d'avis.",),
}

TAGS_BY_INTENT: dict[str, str] = {
    "where_is_order": "livraison",
    "not_received": "non reçu",
    "damaged": "casse",
    "wrong_item": "erreur de préparation",
    "return": "retour",
    "refund": "remboursement",
    "invoice": "facture",
    "cancellation": "annulation",
    "product_question": "avant-vente",
    "thanks": "satisfaction",
}

TAG_COLORS: dict[str, str] = {
    "livraison": "#2563eb",
    "non reçu": "#dc2626",
    "casse": "#ea580c",
    "erreur de préparation": "#d97706",
    "retour": "#7c3aed",
    "remboursement": "#db2777",
    "facture": "#0891b2",
    "annulation": "#6b7280",
    "avant-vente": "#16a34a",
    "satisfaction": "#65a30d",
    "A-to-z": "#b91c1c",
    "client fidèle": "#ca8a04",
    "geste commercial": "#0d9488",
}
