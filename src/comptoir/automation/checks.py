"""Pre-send checks: what a reply must not say, or should say, before it leaves.

Each check returns `CheckResult`s (a code, a level, a message for the agent and the offending span
of the text). The composer shows them before sending; `inbox.actions.reply` runs them for every
reply (agents, rules, the API), refusing it on a blocking result. How seriously a check is taken
(block, warn, off) is a `CheckSetting`, for every channel or for one; without one, the defaults of
`CHECKS` apply.

What the marketplaces publish about answering buyers, and what follows here:

- **Amazon** (Selling Partner API, `messaging.json` in the shared specs): every message type says
  "Do not include HTML or email addresses" and "Only links related to <the message's purpose>
  are allowed" (order delivery, customization details, the digital access key...). Amazon's
  Buyer-Seller Messaging guidelines, which the seller accepts, further forbid phone numbers,
  external links that are not needed to complete the order, and marketing or review
  solicitation. Hence: links (other than a carrier's tracking page and Amazon's own pages), email
  addresses and phone numbers block by default on Amazon channels.
- **Mirakl operators** (Darty, Boulanger, Conforama, Leroy Merlin, Carrefour...): the seller API
  (`mmp-seller-openapi.json`, M12 "Reply to a thread") limits a message to 30 MB of attachments and
  an order to 50 attachments over all its threads; the operators' seller charters forbid
  contact details (email, phone, website) that take the buyer off the platform. Same defaults as
  Amazon.
- **Cdiscount** (Octopia, shared specs README): up to 3 attachments of 4 MB in all per reply.
- **eBay** (Message API, `commerce_message_v1_oas3.json`): up to 5 media per message, given as
  HTTPS URLs (pictures, PDF, Word and text); eBay enforces its own rules on off-platform
  contact, so links, emails and phones are not checked here by default.
- **Fnac**, **Rakuten** and the shop's own email: nothing published about content in the specs
  kept here; only the generic checks (empty, copy-paste, greeting, spelling) and a 25 MB total.

A marketplace's policy may change: the settings page lets an owner make a check block, warn or
stay silent, for every channel or one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from comptoir.automation.check_patterns import (
    ALLOWED_LINK_HOSTS,
    DISCOUNT_RE,
    EMAIL_RE,
    MARKETING_WORDS,
    PHONE_NO_TRUNK_RE,
    PHONE_RE,
    URL_RE,
    Found,
    buyer_names,
    fold,
    normalise,
    reply_language,
)
from comptoir.automation.models import CheckLevel, CheckSetting
from comptoir.automation.spelling import check_spelling
from comptoir.inbox.actions import Draft, NewAttachment
from comptoir.inbox.models import Channel, Direction, Message
from comptoir.lib import meta_window

if TYPE_CHECKING:
    from django.utils.functional import _StrPromise

    from comptoir.inbox.models import Conversation


@dataclass(frozen=True)
class CheckResult:
    code: str
    level: str  # CheckLevel.BLOCK or CheckLevel.WARN
    message: str
    # The offending part of the text, [start, end) (0, 0 when it is about the whole reply).
    start: int = 0
    end: int = 0
    excerpt: str = ""

    @property
    def blocks(self) -> bool:
        return self.level == CheckLevel.BLOCK


@dataclass(frozen=True)
class CheckSpec:
    code: str
    label: _StrPromise | str
    default: str
    # Defaults for some marketplaces that differ from `default` (see the module docstring).
    marketplace_defaults: tuple[tuple[frozenset[str], str], ...] = ()

    def default_for(self, channel: Channel) -> str:
        for marketplaces, level in self.marketplace_defaults:
            if channel.marketplace in marketplaces or (
                "mirakl" in marketplaces and channel.kind == "mirakl"
            ):
                return level
        return self.default


# Marketplaces whose rules forbid links, email addresses and phone numbers in an answer.
MIRAKL_OPERATORS = frozenset({"darty", "boulanger", "conforama", "leroymerlin", "carrefour"})
NO_CONTACT_MARKETPLACES = frozenset({"amazon", "mirakl"}) | MIRAKL_OPERATORS
_NO_CONTACT = ((NO_CONTACT_MARKETPLACES, CheckLevel.BLOCK),)

CHECKS: tuple[CheckSpec, ...] = (
    CheckSpec("empty", gettext_lazy("Empty answer"), CheckLevel.BLOCK),
    CheckSpec(
        "link", gettext_lazy("External links (where forbidden)"), CheckLevel.OFF, _NO_CONTACT
    ),
    CheckSpec(
        "email", gettext_lazy("Email addresses (where forbidden)"), CheckLevel.OFF, _NO_CONTACT
    ),
    CheckSpec(
        "phone", gettext_lazy("Phone numbers (where forbidden)"), CheckLevel.OFF, _NO_CONTACT
    ),
    CheckSpec(
        "marketing",
        gettext_lazy("Marketing wording"),
        CheckLevel.WARN,
        ((frozenset({"shop"}), CheckLevel.OFF),),
    ),
    CheckSpec("greeting", gettext_lazy("Greeting with the buyer's name"), CheckLevel.WARN),
    CheckSpec("spelling", gettext_lazy("Spelling"), CheckLevel.WARN),
    CheckSpec("copy", gettext_lazy("Copy-pasted answer"), CheckLevel.WARN),
    # A warning: the connectors refuse at send time what their marketplace would (the reply
    # then fails with the reason), and an agent may attach a file the rule here is unsure of.
    CheckSpec("attachments", gettext_lazy("Attachment limits"), CheckLevel.WARN),
    # Meta refuses what this check blocks (lib.meta_window): a block, so the agent knows now.
    CheckSpec(
        "meta_window",
        gettext_lazy("Messenger, Instagram and WhatsApp 24-hour window"),
        CheckLevel.BLOCK,
    ),
)
CHECKS_BY_CODE = {c.code: c for c in CHECKS}


def levels_for(channel: Channel) -> dict[str, str]:
    """The level of every check on `channel`: its own setting, else the all-channels setting,
    else the check's default (for that marketplace). One query."""
    levels = {spec.code: spec.default_for(channel) for spec in CHECKS}
    rows = CheckSetting.objects.filter(code__in=levels).filter(
        channel__isnull=True
    ) | CheckSetting.objects.filter(code__in=levels, channel=channel)
    # The channel's own rows last, so that they win.
    for row in sorted(rows, key=lambda r: r.channel_id is not None):
        levels[row.code] = row.level
    return levels


ATTACHMENT_LIMITS: dict[str, tuple[int, int, int, frozenset[str]]] = {
    # marketplace: (most files, largest file, most bytes in all, extensions allowed or none)
    # Amazon relays attachments by mail: 10 files, 7 MB in all, documents and pictures.
    "amazon": (
        10,
        7 * 1024 * 1024,
        7 * 1024 * 1024,
        frozenset({"pdf", "jpg", "jpeg", "png", "gif", "txt", "doc", "docx"}),
    ),
    # As the Cdiscount connector sends them (connectors/cdiscount/connector.py).
    "cdiscount": (
        3,
        4 * 1024 * 1024,
        4 * 1024 * 1024,
        frozenset({"png", "gif", "bmp", "jpg", "tif", "pdf", "jpeg", "doc", "docx", "xls"}),
    ),
    # eBay takes 5 media by HTTPS link, judged by content type by its connector.
    "ebay": (5, 12 * 1024 * 1024, 60 * 1024 * 1024, frozenset()),
    # Mirakl M12: 30 MB per message.
    "mirakl": (10, 30 * 1024 * 1024, 30 * 1024 * 1024, frozenset()),
}
DEFAULT_ATTACHMENT_LIMITS = (20, 25 * 1024 * 1024, 25 * 1024 * 1024, frozenset[str]())


# -- the checks ---------------------------------------------------------------------------------


def check_empty(draft: Draft) -> Iterable[Found]:
    if not draft.text.strip() and not draft.attachments:
        yield _("The answer is empty."), 0, 0


def _allowed_link(url: str, conv: Conversation) -> bool:
    order = conv.order
    if order is not None and order.tracking_url and url.rstrip("/.,;") in order.tracking_url:
        return True
    host = re.sub(r"^(?:https?://)?", "", url, flags=re.IGNORECASE).split("/")[0].lower()
    host = host.split(":")[0]
    return any(host == h or host.endswith("." + h) for h in ALLOWED_LINK_HOSTS)


def check_link(draft: Draft) -> Iterable[Found]:
    text = draft.text
    # An email address's domain is the email check's business.
    emails = [(m.start(), m.end()) for m in EMAIL_RE.finditer(text)]
    for match in URL_RE.finditer(text):
        if any(s <= match.start() < e for s, e in emails):
            continue
        if _allowed_link(match.group(0), draft.conversation):
            continue
        yield (
            _("%(marketplace)s does not allow links to other sites: %(link)s")
            % {
                "marketplace": draft.conversation.channel.get_marketplace_display(),
                "link": match.group(0),
            },
            match.start(),
            match.end(),
        )


def check_email(draft: Draft) -> Iterable[Found]:
    for match in EMAIL_RE.finditer(draft.text):
        yield (
            _("%(marketplace)s does not allow email addresses: %(email)s")
            % {
                "marketplace": draft.conversation.channel.get_marketplace_display(),
                "email": match.group(0),
            },
            match.start(),
            match.end(),
        )


def check_phone(draft: Draft) -> Iterable[Found]:
    conv = draft.conversation
    known = {conv.order_number}
    if conv.order is not None:
        known |= {conv.order.external_id, conv.order.tracking_number}
    known_digits = {re.sub(r"\D", "", k) for k in known if k}
    patterns = [PHONE_RE]
    if reply_language(conv) in ("es", "it"):
        patterns.append(PHONE_NO_TRUNK_RE)
    seen: set[int] = set()
    for pattern in patterns:
        for match in pattern.finditer(draft.text):
            digits = re.sub(r"\D", "", match.group(0))
            if match.start() in seen or any(digits in k for k in known_digits if k):
                continue
            # A date (12.05.2026) or an amount is not a phone number.
            if not 8 <= len(digits) <= 15:
                continue
            seen.add(match.start())
            yield (
                _("%(marketplace)s does not allow phone numbers: %(phone)s")
                % {
                    "marketplace": conv.channel.get_marketplace_display(),
                    "phone": match.group(0),
                },
                match.start(),
                match.end(),
            )


def check_marketing(draft: Draft) -> Iterable[Found]:
    folded = fold(draft.text)
    lang = reply_language(draft.conversation)
    words = MARKETING_WORDS.get(lang, ()) + (MARKETING_WORDS["en"] if lang != "en" else ())
    for phrase in words:
        pattern = re.compile(r"(?<!\w)" + re.escape(fold(phrase)) + r"(?!\w)")
        # Accents removed keep one character per character for the letters used here, so the
        # offsets found in the folded text hold in the original.
        for match in pattern.finditer(folded):
            yield (
                _("Marketing wording is not allowed in answers to buyers: “%(words)s”")
                % {"words": draft.text[match.start() : match.end()]},
                match.start(),
                match.end(),
            )
    for match in DISCOUNT_RE.finditer(draft.text):
        yield (
            _("Marketing wording is not allowed in answers to buyers: “%(words)s”")
            % {"words": match.group(0)},
            match.start(),
            match.end(),
        )


def check_greeting(draft: Draft) -> Iterable[Found]:
    names = buyer_names(draft.conversation)
    if not names or not draft.text.strip():
        return
    lines = [line for line in draft.text.splitlines() if line.strip()]
    opening = fold(" ".join(lines[:2]))[:200]
    if any(re.search(r"(?<!\w)" + re.escape(fold(n)) + r"(?!\w)", opening) for n in names):
        return
    first = lines[0]
    start = draft.text.find(first)
    yield (
        _("Greet the buyer by name (%(name)s).") % {"name": " ".join(names)},
        start,
        start + len(first),
    )


def check_copy(draft: Draft) -> Iterable[Found]:
    text = normalise(draft.text)
    if len(text) < 20:
        return
    earlier = Message.objects.filter(
        conversation_id=draft.conversation.pk, direction__in=(Direction.IN, Direction.OUT)
    ).order_by("-created_at")[:50]
    for message in earlier.only("direction", "text", "new_text"):
        for body in {message.text, message.new_text}:
            if body and normalise(body) == text:
                if message.direction == Direction.IN:
                    yield _("The answer repeats the buyer's own message."), 0, len(draft.text)
                else:
                    yield (
                        _("The same answer was already sent in this conversation."),
                        0,
                        len(draft.text),
                    )
                return


def _extension(filename: str) -> str:
    return filename.rsplit(".", 1)[-1].lower() if "." in filename else ""


def attachment_limits(channel: Channel) -> tuple[int, int, int, frozenset[str]]:
    key = "mirakl" if channel.kind == "mirakl" or channel.marketplace in MIRAKL_OPERATORS else ""
    return ATTACHMENT_LIMITS.get(key or channel.marketplace, DEFAULT_ATTACHMENT_LIMITS)


def check_attachments(draft: Draft) -> Iterable[Found]:
    files: Sequence[NewAttachment] = draft.attachments
    if not files:
        return
    channel = draft.conversation.channel
    most, largest, total, extensions = attachment_limits(channel)
    name = channel.get_marketplace_display()
    if len(files) > most:
        yield (
            _("%(marketplace)s accepts at most %(count)d files per message.")
            % {"marketplace": name, "count": most},
            0,
            0,
        )
    for f in files:
        if len(f.data) > largest:
            yield (
                _("%(file)s is too large for %(marketplace)s (at most %(size)d MB).")
                % {"file": f.filename, "marketplace": name, "size": largest // (1024 * 1024)},
                0,
                0,
            )
        if extensions and _extension(f.filename) not in extensions:
            yield (
                _("%(marketplace)s does not accept %(file)s (allowed: %(types)s).")
                % {"file": f.filename, "marketplace": name, "types": ", ".join(sorted(extensions))},
                0,
                0,
            )
    if sum(len(f.data) for f in files) > total:
        yield (
            _("The files are too large for %(marketplace)s together (at most %(size)d MB).")
            % {"marketplace": name, "size": total // (1024 * 1024)},
            0,
            0,
        )


def check_meta_window(draft: Draft) -> Iterable[Found]:
    """Meta's customer-service window (see `lib.meta_window`): past 24 hours since the buyer's
    last message, Messenger and Instagram take a human agent's answer for 7 days, WhatsApp
    only an approved template."""
    channel = draft.conversation.channel
    if channel.kind not in meta_window.META_KINDS:
        return
    # The names listed in the settings, and those the poll read from WhatsApp Manager.
    cached = [t for t in (channel.cursor or {}).get("templates") or [] if isinstance(t, dict)]
    approved = list(channel.get_settings().get("approved_templates") or [])
    approved += sorted({str(t.get("name")) for t in cached} - set(approved))
    verdict = meta_window.verdict(
        channel.kind,
        last_inbound_at=draft.conversation.last_inbound_at,
        now=timezone.now(),
        text=draft.text,
        approved_templates=frozenset(str(name) for name in approved),
    )
    if verdict.refused == "closed":
        yield (
            _(
                "The buyer last wrote more than 7 days ago: %(platform)s accepts no answer "
                "until they write again."
            )
            % {"platform": channel.get_kind_display()},
            0,
            0,
        )
    elif verdict.refused == "template_needed":
        yield (
            _(
                "The buyer last wrote more than 24 hours ago: WhatsApp only accepts an approved "
                "template now. Write /template followed by its name (approved: %(names)s)."
            )
            % {"names": ", ".join(map(str, approved)) or _("none listed in the channel settings")},
            0,
            0,
        )
    elif verdict.refused == "template_unknown":
        yield (
            _("%(name)s is not an approved template of this WhatsApp number (approved: %(names)s).")
            % {"name": verdict.template, "names": ", ".join(map(str, approved))},
            0,
            0,
        )
    elif verdict.template:
        language = str(channel.get_settings().get("template_language") or "fr")
        yield from _template_params(draft.text, verdict, cached, language)
    yield from _meta_files(draft, channel)


def _template_params(
    text: str, verdict: meta_window.Verdict, cached: list[dict[str, Any]], language: str
) -> Iterable[Found]:
    """A template WhatsApp listed takes exactly its {{n}} parameters, one per line."""
    given = len(meta_window.template_params(text))
    wanted = verdict.template_language or language
    for t in cached:
        if t.get("name") == verdict.template and t.get("language") == wanted:
            count = int(t.get("params") or 0)
            if given != count:
                yield (
                    _(
                        "The template %(name)s takes %(count)d parameters, one per line after "
                        "its name (given: %(given)d)."
                    )
                    % {"name": verdict.template, "count": count, "given": given},
                    0,
                    0,
                )
            return


def _meta_files(draft: Draft, channel: Channel) -> Iterable[Found]:
    """What Meta would refuse of the files (`lib.meta_window.file_verdict`), said before."""
    platform = channel.get_kind_display()
    if len(draft.attachments) > 1:
        yield _("%(platform)s takes one file per message.") % {"platform": platform}, 0, 0
    for f in draft.attachments:
        rule = meta_window.file_verdict(channel.kind, f.filename, f.content_type, len(f.data))
        if rule.refused == "type":
            types = ", ".join(meta_window.allowed_extensions(channel.kind))
            yield (
                _("%(platform)s does not take %(file)s (allowed: %(types)s).")
                % {"platform": platform, "file": f.filename, "types": types},
                0,
                0,
            )
        elif rule.refused == "size":
            yield (
                _("%(file)s is too large for %(platform)s (at most %(size)d MB).")
                % {"platform": platform, "file": f.filename, "size": rule.largest // (1 << 20)},
                0,
                0,
            )
    if channel.kind == "whatsapp" and draft.attachments and len(draft.text) > 1024:
        yield _("With a file, WhatsApp takes at most 1,024 characters of text."), 0, 0


CHECKERS: dict[str, Callable[[Draft], Iterable[Found]]] = {
    "empty": check_empty,
    "link": check_link,
    "email": check_email,
    "phone": check_phone,
    "marketing": check_marketing,
    "greeting": check_greeting,
    "spelling": check_spelling,
    "copy": check_copy,
    "attachments": check_attachments,
    "meta_window": check_meta_window,
}


def run_checks(
    draft: Draft, *, only_blocking: bool = False, levels: dict[str, str] | None = None
) -> list[CheckResult]:
    """Every check at its level for the draft's channel (blocking ones first)."""
    levels = levels if levels is not None else levels_for(draft.conversation.channel)
    results: list[CheckResult] = []
    for code, checker in CHECKERS.items():
        level = levels.get(code, CheckLevel.OFF)
        if level == CheckLevel.OFF or (only_blocking and level != CheckLevel.BLOCK):
            continue
        for message, start, end in checker(draft):
            results.append(
                CheckResult(code, level, message, start, end, draft.text[start:end][:200])
            )
    results.sort(key=lambda r: (r.level != CheckLevel.BLOCK, r.start))
    return results


def presend_checker(draft: Draft, only_blocking: bool) -> list[CheckResult]:
    """The checker inbox.actions.reply runs (registered in AutomationConfig.ready)."""
    return run_checks(draft, only_blocking=only_blocking)
