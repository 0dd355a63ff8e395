"""How urgent a buyer's message is, and in what mood it was written.

Pure and fast: the buyer's new text (quoted history cut off) is lower-cased and stripped of its
accents once, then read by one compiled regex for its language (plus English, which buyers mix
in; all eight languages when the language is unknown), each lexicon a named group whose name is
the reason. Limits: docs/triage.md.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache

from comptoir.lib import quotes

LANGUAGES = ("fr", "en", "de", "es", "it", "nl", "pt", "pl")
HIGH_REASONS = frozenset(
    (
        "threat_claim",
        "threat_chargeback",
        "threat_review",
        "threat_legal",
        "threat_mediation",
        "repeat",
        "safety",
    )
)
# A threat or a compliment after these words (in the same clause) is not meant.
NEGATABLE = frozenset(HIGH_REASONS - {"repeat", "safety"} | {"thanks", "praise"})
CALM_INTENTS = frozenset(("product_question", "shipping_options"))
MAX_CHARS = 3000


@dataclass(frozen=True, slots=True)
class Reading:
    urgency: str  # "low" | "normal" | "high"
    sentiment: str  # "negative" | "neutral" | "positive"
    reasons: tuple[str, ...]  # why, as machine names ("threat_claim", "angry", "thanks"…)


_FOLD = str.maketrans(
    {
        **{c: a for a, cs in {
            "a": "àâäáãåą", "c": "çćč", "e": "éèêëęě", "i": "îïíì", "n": "ñń", "o": "ôöóòõø",
            "u": "ùûüú", "y": "ÿý", "s": "śš", "z": "źżž", "l": "ł", "r": "ř",
        }.items() for c in cs},
        "ß": "ss", "œ": "oe", "æ": "ae", "\u2019": "'", "`": "'",
    }
)  # fmt: skip

# What quoted history and signatures start with: a ">", a rule, an "On … wrote:" line in one of
# the eight languages, a header line ("From: a@b"), a forwarded-message banner.
_MAY_QUOTE = re.compile(
    r"^[ \t]*>|^[ \t]*(?:--|__)|\b(?:wrote|a [ée]crit|schrieb|escribi[óo]|ha scritto|schreef"
    r"|escreveu|napisa[łl]\w*)\b|^[ \t]*[\w -]{2,20}[ \t]?:.*@|original message|message d'origine"
    r"|urspr[üu]ngliche nachricht|mensaje original|messaggio originale",
    re.MULTILINE | re.IGNORECASE,
)
_COMBINING = re.compile("[\u0300-\u036f]")
_MP = r"(?:amazon|ebay|cdiscount|fnac|darty|rakuten|bol(?:\.com)?|allegro|manomano|la plateforme)"

# reason -> language -> regex over folded text (lower case, no accents). Words, not substrings:
# each alternative is wrapped in \b…\b.
_LEXICON: dict[str, dict[str, str]] = {
    "threat_chargeback": {
        "fr": r"ouvr\w* (?:un |une )?(?:litige|reclamation) (?:sur |avec |chez )?paypal"
        r"|(?:faire |fais |ferai )?opposition(?: bancaire| sur (?:ma|la) carte)?"
        r"|retro-?facturation|charge ?back|contester (?:le |la )?(?:paiement|prelevement|"
        r"transaction)|(?:litige|reclamation) paypal",
        "en": r"open\w* (?:a |an )?paypal (?:dispute|claim|case)|charge ?back"
        r"|dispute (?:the |this |my )?(?:charge|payment|transaction)"
        r"|paypal (?:dispute|claim|case)|reverse the (?:charge|payment)"
        r"|(?:call|contact) my (?:bank|credit card company)",
        "de": r"ruck(?:buchung|belastung|lastschrift)|lastschrift (?:zuruck\w*|widerruf\w*)"
        r"|zahlung (?:zuruck\w*|stornier\w*)|paypal[- ](?:fall|konflikt|kauferschutz)"
        r"|kauferschutz",
        "es": r"(?:abrir|abrire|poner) (?:una )?(?:disputa|reclamacion) (?:en|con|de) paypal"
        r"|contracargo|devolucion del cargo|(?:disputa|reclamacion) (?:en|con|de) paypal"
        r"|anular el (?:pago|cargo)|reclamar al banco",
        "it": r"aprire (?:una )?(?:contestazione|controversia) (?:su |con )?paypal"
        r"|storno|chargeback|contestare (?:il |l')?(?:pagamento|addebito)"
        r"|(?:contestazione|reclamo) (?:su |con )?paypal",
        "nl": r"terugboeking|storno|betaling terugdraaien|paypal[- ]geschil",
        "pt": r"abrir (?:uma )?disputa (?:no|do|com o) paypal"
        r"|estorno|chargeback|contestar (?:o )?(?:pagamento|cartao)|disputa (?:no|do) paypal",
        "pl": r"chargeback|obciazeni\w* zwrotn\w*|spor (?:w|na) paypal\w*",
    },
    "threat_claim": {
        "fr": r"(?:ouvr\w*|deposer|lancer|faire) (?:un |une |de )?(?:lit[ie]?ge|reclamation)"
        r"|lit[ie]?ge|garantie (?:a-?z|de a a z|a a z)",
        "en": r"a-?to-?z(?: claim| guarantee)?|(?:open\w*|fil(?:e|ing)|start\w*|rais\w*) "
        r"(?:a |an )?(?:case|claim|dispute)|ebay case|item not received case",
        "de": r"a-?bis-?z(?:-garantie)?|(?:fall|streitfall|konflikt) (?:er)?offnen|streitfall"
        r"|garantieantrag",
        "es": r"(?:abrir|abrire|poner) (?:una )?(?:disputa|reclamacion|caso)"
        r"|garantia de la a a la z|disputa",
        "it": r"(?:aprire|apriro|aprir\w*) (?:una |un )?(?:contestazione|controversia|reclamo|"
        r"disputa|caso)|garanzia dalla a alla z|contestazione|controversia",
        "nl": r"geschil|claim indienen|zaak openen|a-tot-z(?:-garantie)?",
        "pt": r"(?:abrir|abrirei) (?:uma )?(?:disputa|reclamacao)|disputa|garantia de a a z",
        "pl": r"(?:otworz\w*|otwieram|zglos\w*) (?:spor|sprawe|reklamacj\w*)|spor"
        r"|gwarancj\w* od a do z",
    },
    "threat_review": {
        "fr": r"(?:mauvais\w*|negati\w*) (?:avis|commentaires?|evaluations?|notes?)"
        r"|(?:avis|commentaire|evaluation|note) (?:tres )?negati\w*|(?:1|une) etoile"
        r"|laisser (?:un )?avis",
        "en": r"(?:bad|negative|poor|terrible|1[- ]star|one[- ]star) (?:review|feedback|rating)s?"
        r"|leave (?:a |my )?(?:review|feedback)|trustpilot",
        "de": r"(?:schlecht|negativ)\w* (?:bewertung|rezension|feedback)\w*|(?:1|einen) stern"
        r"|bewertung (?:abgeben|schreiben)",
        "es": r"(?:mala|negativa|pesima) (?:valoracion|opinion|resena|calificacion)"
        r"|(?:valoracion|opinion|resena|calificacion) negativa|(?:1|una) estrella",
        "it": r"(?:recensione|valutazione|feedback) negativ[oa]|(?:pessim|cattiv)[ao] "
        r"(?:recensione|valutazione)|(?:1|una) stella",
        "nl": r"(?:slechte|negatieve) (?:review|beoordeling|recensie)|(?:1|een) ster",
        "pt": r"(?:avaliacao|opiniao|critica) negativa|(?:ma|pessima) avaliacao|(?:1|uma) estrela",
        "pl": r"negatywn\w* (?:opini\w*|komentarz\w*|ocen\w*)|zl\w* (?:opini\w*|ocen\w*)"
        r"|(?:1|jedn\w*) gwiazdk\w*",
    },
    "threat_legal": {
        "fr": r"avocat\w*|tribunal|justice|(?:porter |deposer )?plainte|police|gendarmerie"
        r"|dgccrf|que choisir|ufc|60 millions|associations? de (?:defense des )?consommateurs"
        r"|mise en demeure|huissier|conciliateur|signal ?conso|poursuites",
        "en": r"lawyers?|attorney|solicitor|sue|suing|legal action|(?:small claims|to) court"
        r"|court action|police|trading standards|consumer (?:protection|rights|association|"
        r"council|agency)|ombudsman|better business bureau",
        "de": r"(?:rechts)?anwalt\w*|gericht\w*|klage|verklagen|polizei|anzeige erstatten"
        r"|strafanzeige|verbraucherzentrale|verbraucherschutz|mahnverfahren"
        r"|rechtliche schritte",
        "es": r"abogad[oa]s?|demanda|denuncia\w*|tribunal|juzgado|policia|guardia civil|omic"
        r"|oficina de consumo|facua|ocu|hoja de reclamaciones|accion(?:es)? legal(?:es)?",
        "it": r"avvocat[oi]|tribunale|giudice|denuncia\w*|polizia|carabinieri|codacons"
        r"|altroconsumo|associazion\w* (?:dei )?consumatori|azioni legali|vie legali|diffida",
        "nl": r"advocaat|rechter|rechtbank|politie|aangifte|consumentenbond"
        r"|geschillencommissie|juridische stappen",
        "pt": r"advogad[oa]s?|tribunal|policia|queixa|denuncia\w*|deco|livro de reclamacoes"
        r"|procon|acao judicial|justica",
        "pl": r"prawnik\w*|adwokat\w*|(?:do|w) sad(?:u|zie)|pozew|policj\w*|uokik"
        r"|rzecznik\w* (?:praw )?konsument\w*",
    },
    "threat_mediation": {
        "fr": r"(?:contacter|contacte|saisir|prevenir|alerter|signaler (?:a|au)|ecrire a|appeler"
        r"|voir avec|passer par) (?:le service client (?:d'|de )?)?" + _MP,
        "en": r"(?:contact\w*|report\w*(?: you| this| it)? to|escalat\w*(?: this| it)? to"
        r"|complain\w* to|involv\w*|get) " + _MP,
        "de": rf"(?:an|bei) {_MP} (?:wenden|melden|beschweren)|{_MP} (?:einschalten|kontaktieren|"
        r"informieren)",
        "es": rf"(?:contactar|contactare|avisar|informar|escribir|quejarme) (?:a|con) {_MP}",
        "it": rf"(?:contattare|contattero|segnalare|segnalero|informare|scrivere) (?:ad? )?{_MP}",
        "nl": rf"(?:contact opnemen met|melden bij|klagen bij) {_MP}",
        "pt": rf"(?:contactar|contatar|falar com|reclamar (?:com|na|junto d[ao])) (?:a )?{_MP}",
        "pl": rf"(?:skontaktuje sie z|zglosze (?:to )?do|napisze do) {_MP}",
    },
    "repeat": {
        "fr": r"(?:troisieme|3e|3eme|quatrieme|4e|enieme|nieme|plusieurs) (?:messages?|mails?"
        r"|fois|relances?)|toujours (?:pas|aucune) (?:de )?repon[sc]e|(?:2e|deuxieme) relance"
        r"|je vous ai deja (?:ecrit|relance)|reste sans repon[sc]e",
        "en": r"(?:third|3rd|fourth|4th|several|multiple) (?:times?|messages?|emails?|attempts?)"
        r"|still no (?:answer|reply|response)|no (?:answer|reply|response) yet"
        r"|(?:already )?(?:written|wrote|contacted|emailed) (?:you )?(?:several|many|multiple"
        r"|\d+) times",
        "de": r"zum (?:dritten|vierten|x-ten|wiederholten) mal|(?:immer noch|noch immer)"
        r" keine (?:antwort|ruckmeldung)|bereits mehrfach|schon mehrmals geschrieben",
        "es": r"(?:tercera|cuarta|enesima) vez|(?:tercer|cuarto) mensaje|todavia sin respuesta"
        r"|sigo sin (?:recibir )?respuesta|aun sin respuesta",
        "it": r"(?:terza|quarta|ennesima) volta|(?:terzo|quarto) messaggio"
        r"|ancora nessuna risposta|ancora senza risposta",
        "nl": r"(?:derde|vierde) keer|nog steeds geen (?:antwoord|reactie)",
        "pt": r"(?:terceira|quarta) vez|ainda sem resposta|ainda nao (?:tive|recebi) resposta",
        "pl": r"(?:trzeci|czwarty) raz|po raz (?:trzeci|kolejny)|(?:nadal|wciaz) (?:brak|bez) "
        r"odpowiedzi",
    },
    "safety": {
        "fr": r"fumee|(?:pris|prend|en) feu|incendie|brul\w*|flammes?|explos\w*|choc electrique"
        r"|electrocut\w*|etincelles?|court-?circuit|surchauff\w*|dangereu\w*",
        "en": r"smoke|smoking|caught fire|on fire|fire|burn\w*|flames?|explod\w*|explosion"
        r"|electric(?:al)? shock|electrocut\w*|sparks?|sparking|short circuit|overheat\w*"
        r"|melt\w*|dangerous|hazard\w*",
        "de": r"rauch\w*|feuer|in brand|brennt|verbrannt|verbrennung\w*|stromschlag|funken"
        r"|kurzschluss|uberhitz\w*|explodiert|geschmolzen|gefahrlich",
        "es": r"humo|fuego|incendio|quem\w*|descarga electrica|chispas?|cortocircuito"
        r"|sobrecalent\w*|explot\w*|peligros\w*",
        "it": r"fumo|fuoco|incendio|bruciat\w*|ustion\w*|scossa|scintill\w*|cortocircuito"
        r"|surriscald\w*|esplos\w*|pericolos\w*",
        "nl": r"rook|vlam gevat|in brand|vuur|verbrand\w*|elektrische schok|vonken"
        r"|kortsluiting|oververhit\w*|ontploft|gevaarlijk",
        "pt": r"fumaca|fumo|fogo|incendio|queim\w*|choque eletrico|faiscas?|curto-?circuito"
        r"|superaquec\w*|explod\w*|perigos\w*",
        "pl": r"dym|dymi\w*|ogien|pozar|spalil\w*|poparz\w*|porazeni\w* pradem|iskr\w*"
        r"|zwarci\w*|przegrz\w*|wybuch\w*|niebezpieczn\w*",
    },
    "angry": {
        "fr": r"inadmissible|scandal\w*|hont\w*|inacceptable|lamentable|arnaqu\w*|escro\w*"
        r"|voleurs?|ridicule|degoute\w*|decu\w*|decevant|deception|furieu\w*|enerve\w*|colere"
        r"|n'importe quoi|incompeten\w*|catastroph\w*|mecontent\w*|insupportable|merde"
        r"|putain|bordel|foutage|pas (?:du tout )?(?:content|satisfait)e?s?",
        "en": r"unacceptable|disgrace\w*|disgusting|outrage\w*|ridiculous|pathetic|terrible"
        r"|awful|horrible|worst|scam\w*|fraud\w*|thie(?:f|ves)|rip-?off|useless|incompetent"
        r"|disappoint\w*|angry|furious|fed up|shameful|appalling|rubbish|crap|shit\w*|wtf"
        r"|not (?:happy|satisfied|pleased)|unhappy",
        "de": r"frechheit|unverschamt\w*|skandal\w*|unmoglich|enttausch\w*|katastroph\w*"
        r"|betrug|betruger\w*|abzocke|sauerei|verarsch\w*|wutend|argerlich|inakzeptabel"
        r"|zumutung|schlechteste\w*|scheiss\w*|(?:nicht|un)zufrieden",
        "es": r"inaceptable|vergonzos\w*|verguenza|indignante|estafa\w*|ladron\w*|pesim\w*"
        r"|horrible|decepcion\w*|decepcionad\w*|enfadad\w*|furios\w*|hart[oa]|ridicul\w*"
        r"|incompetentes?|mierda|joder|cabread\w*|insatisfech\w*",
        "it": r"vergogn\w*|inaccettabile|scandalos\w*|truff\w*|ladri|pessim\w*|schifo"
        r"|delus\w*|deludente|arrabbiat\w*|furios\w*|ridicol\w*|incompetent\w*|assurdo"
        r"|merda|cazzo|insoddisfatt\w*",
        "nl": r"schandalig|onacceptabel|belachelijk|oplicht\w*|teleurgesteld|teleurstellend"
        r"|boos|woedend|waardeloos|slecht\w*|klote|bedrog|ontevreden",
        "pt": r"inaceitavel|vergonh\w*|absurdo|ridicul\w*|golpe|burla|ladr\w*|pessim\w*"
        r"|horrivel|decepcion\w*|decepcao|irritad\w*|furios\w*|palhacada|insatisfeit\w*",
        "pl": r"skandal\w*|nie do przyjecia|oszu\w*|zlodzie\w*|rozczarowan\w*|zenuj\w*"
        r"|wsciek\w*|beznadziej\w*|fataln\w*|najgorsz\w*|zenada|kpina|kurwa|niezadowolon\w*",
    },
    "thanks": {
        "fr": r"merci\w*|remercie\w*",
        "en": r"thanks?|thank you|thx|many thanks|appreciated?",
        "de": r"danke\w*|vielen dank|herzlichen dank",
        "es": r"gracias|agradec\w*",
        "it": r"grazie|ringrazi\w*",
        "nl": r"bedankt|dank (?:je|u)(?: wel)?|dankjewel",
        "pt": r"obrigad[oa]s?|agradec\w*",
        "pl": r"dziekuj\w*|dzieki",
    },
    "praise": {
        "fr": r"super|parfait\w*|genial\w*|excellent\w*|ravie?s?|satisfaite?s?|bravo"
        r"|impeccable|nickel|formidable|au top|tres contente?s?",
        "en": r"great|perfect\w*|excellent|awesome|amazing|wonderful|love it|happy|pleased"
        r"|satisfied|brilliant|fantastic|well done",
        "de": r"super|perfekt|toll|klasse|prima|zufrieden|hervorragend|ausgezeichnet"
        r"|wunderbar",
        "es": r"genial|perfect\w*|excelente|estupendo|encantad[oa]|satisfech[oa]|maravillos\w*",
        "it": r"perfett\w*|ottim\w*|eccellente|fantastic\w*|soddisfatt\w*|bravissim\w*",
        "nl": r"super|perfect|geweldig|tevreden|blij|fantastisch|uitstekend",
        "pt": r"perfeit\w*|excelente|otimo|maravilh\w*|satisfeit\w*|adorei",
        "pl": r"super|swietn\w*|doskonal\w*|idealn\w*|zadowolon\w*|polecam",
    },
}
_NEGATION = re.compile(
    r"\b(?:ne|pas|jamais|not|never|no|nicht|kein\w*|nie|non|niet|geen|nao|nunca|mai)\b|n't\b|n'"
)
_NEGATION_WINDOW = 14  # characters before a match, within its clause
_CLAUSE_END = re.compile(r"[.,;:!?\n]")
_EXCLAMATIONS = re.compile(r"!{3,}|(?:! ?){3,}")
_LETTER = re.compile(r"[^\W\d_]")
_UPPER = re.compile(r"[A-ZÀ-ÖØ-ÞĄĆĘŁŃŚŹŻ]")
_SHOUT = re.compile(r"\b[A-ZÀ-ÖØ-Þ]{4,}\b")
# Smiling faces, heart eyes, thumbs up, folded hands, heart, party; angry faces, thumbs down,
# sad and crying faces.
_POSITIVE_EMOJI = re.compile(
    "[\U0001f600-\U0001f60d\U0001f642\U0001f970\U0001f44d\U0001f64f\u2764\u263a\U0001f389]"
)
_NEGATIVE_EMOJI = re.compile(
    "[\U0001f620\U0001f621\U0001f624\U0001f92c\U0001f44e\U0001f61e\U0001f622\U0001f62d]"
)


def _alternatives(regex: str) -> list[str]:
    """`regex` split at its top-level "|" (brackets and escapes respected)."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(regex):
        c = regex[i]
        if c == "\\":
            i += 1
        elif c in "([":
            depth += 1
        elif c in ")]":
            depth -= 1
        elif c == "|" and depth == 0:
            parts.append(regex[start:i])
            start = i + 1
        i += 1
    return [*parts, regex[start:]]


def _expanded(alternatives: list[str]) -> list[str]:
    """ "(?:bad|poor) review" as "bad review" and "poor review": alternatives that start with a
    letter join their letter's group, and keep their rank against the other reasons there."""
    out = []
    for alternative in alternatives:
        close = alternative.find(")")
        inner = alternative[3:close]
        simple = alternative.startswith("(?:") and "(" not in inner and "[" not in inner
        if simple and alternative[close + 1 : close + 2] not in ("?", "*", "+", "{"):
            out += [part + alternative[close + 1 :] for part in inner.split("|")]
        else:
            out.append(alternative)
    return out


@cache
def _pattern(languages: tuple[str, ...]) -> tuple[re.Pattern[str], tuple[str, ...]]:
    """One regex for these languages, compiled once, and the reason of each of its groups.

    Each alternative ends with an empty group that names its reason (`lastindex`), and the
    alternatives are merged into a tree of their first letters: the regex engine rules out a
    whole branch with one comparison, which is what makes a thousand words cheap to look for."""
    items = [
        (alternative, reason)
        for reason, by_language in _LEXICON.items()
        for code in languages
        for alternative in _expanded(_alternatives(by_language[code]))
    ]
    reasons = [""]
    regex = re.compile(r"\b(?:" + _tree(items, _TREE_DEPTH, reasons) + r")\b")
    return regex, tuple(reasons)


_TREE_DEPTH = 6
_QUANTIFIERS = ("?", "*", "+", "{")


def _tree(items: list[tuple[str, str]], depth: int, reasons: list[str]) -> str:
    """(regex, reason) pairs as one alternation sharing their literal first letters; `reasons`
    receives each group's reason in the order the groups appear."""
    by_head: dict[str, list[tuple[str, str]]] = {}
    others: list[tuple[str, str]] = []
    for regex, reason in items:
        head, rest = regex[:1], regex[1:]
        literal = head.isalnum() or head in " '-"
        if depth and literal and not rest.startswith(_QUANTIFIERS):
            by_head.setdefault(head, []).append((rest, reason))
        else:
            others.append((regex, reason))
    parts = []
    for head, group in by_head.items():
        parts.append(f"{re.escape(head)}(?:{_tree(group, depth - 1, reasons)})")
    for regex, reason in others:
        parts.append(f"{regex}()")
        reasons.append(reason)
    return "|".join(parts)


def _languages(language: str) -> tuple[str, ...]:
    if language in LANGUAGES:
        return (language,) if language == "en" else (language, "en")
    return LANGUAGES


def read(text: str, language: str = "", *, unanswered: int = 0, intent: str = "") -> Reading:
    """Urgency and sentiment of a buyer's message, with the reasons for both."""
    text = text[: MAX_CHARS * 2]
    # The quote stripper costs most of the time: only texts that seem to quote pay for it.
    new = (quotes.new_text(text) if _MAY_QUOTE.search(text) else text)[:MAX_CHARS]
    folded = _fold(new)
    counts = _matches(folded, language)
    if unanswered >= 3:
        counts["repeat"] = counts.get("repeat", 0) + 1
    if _EXCLAMATIONS.search(new):
        counts["exclamations"] = 1
    if _shouting(new):
        counts["shouting"] = 1
    counts["emoji_positive"] = len(_POSITIVE_EMOJI.findall(new))
    counts["emoji_negative"] = len(_NEGATIVE_EMOJI.findall(new))
    sentiment = _sentiment(counts, len(new), intent)
    high = any(counts.get(reason) for reason in HIGH_REASONS)
    if high:
        urgency = "high"
    elif intent == "thanks_or_closing" or (intent in CALM_INTENTS and sentiment != "negative"):
        urgency = "low"
    else:
        urgency = "normal"
    reasons = tuple(reason for reason, n in counts.items() if n)
    return Reading(urgency, sentiment, reasons)


def _fold(text: str) -> str:
    """Lower case without accents ("Réponse" -> "reponse"), in C for most of the work."""
    text = text.lower()
    if text.isascii():
        return text
    text = _COMBINING.sub("", unicodedata.normalize("NFD", text))
    return text.translate(_FOLD) if not text.isascii() else text


def _matches(folded: str, language: str) -> dict[str, int]:
    """How often each reason's words occur, leaving out negated threats and compliments."""
    pattern, reason_of = _pattern(_languages(language))
    counts: dict[str, int] = {}
    for m in pattern.finditer(folded):
        reason = reason_of[m.lastindex or 0]
        if reason in NEGATABLE and _negated(folded, m.start()):
            continue
        counts[reason] = counts.get(reason, 0) + 1
    return counts


def _negated(folded: str, start: int) -> bool:
    before = folded[max(0, start - _NEGATION_WINDOW) : start]
    clause = _CLAUSE_END.split(before)[-1]
    return bool(_NEGATION.search(clause))


def _shouting(text: str) -> bool:
    """Whole words in capitals: three or more, or most of a text's letters."""
    words = _SHOUT.findall(text)
    if len(words) >= 3:
        return True
    letters = len(_LETTER.findall(text))
    return letters >= 12 and len(_UPPER.findall(text)) > 0.7 * letters


def _sentiment(counts: dict[str, int], length: int, intent: str) -> str:
    """Negative words (threats, repeats and hazards count too) against praise; a polite
    "merci" in a long message is politeness, not a mood."""
    negative = sum(counts.get(r, 0) for r in ("angry", "exclamations", "shouting"))
    negative += counts.get("emoji_negative", 0) + sum(bool(counts.get(r)) for r in HIGH_REASONS)
    positive = counts.get("praise", 0) + counts.get("emoji_positive", 0)
    if counts.get("thanks") and (length <= 120 or intent == "thanks_or_closing"):
        positive += counts["thanks"]
    if negative and negative >= positive:
        return "negative"
    if positive > negative:
        return "positive"
    return "neutral"
