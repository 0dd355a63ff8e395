"""The conditions of a rule: nested all/any groups of leaf tests, as JSON checked by pydantic.

    {"all": [{"type": "marketplace", "values": ["amazon"]},
             {"any": [{"type": "keywords", "where": "any", "words": ["where is my order"]},
                      {"type": "intent", "values": ["order_tracking"]}]}]}

Evaluation is pure: it reads the conversation and the message it is given (the dry run relies on
that: it evaluates rules against history and must change nothing).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
)

from comptoir.lib import regex_guard

if TYPE_CHECKING:
    from comptoir.inbox.models import Conversation, Message

# Regexes search only this much of a text, so a pattern's cost is bounded by its own shape.
REGEX_TEXT_LIMIT = regex_guard.TEXT_LIMIT
MAX_DEPTH = 5
MAX_NODES = 100


class ConditionError(ValueError):
    """The conditions cannot be used as they are; the message says why, for a human."""


def validate_regex(pattern: str) -> str:
    """`lib.regex_guard.validate_regex`, refusing with a `ConditionError`."""
    try:
        return regex_guard.validate_regex(pattern)
    except regex_guard.UnsafePattern as exc:
        raise ConditionError(str(exc)) from None


# -- the schema --------------------------------------------------------------------------------

IN_TYPES = (
    "channel",
    "marketplace",
    "shop",
    "intent",
    "language",
    "urgency",
    "sentiment",
    "order_status",
    "assignee",
    "status",
    "tags",
    "customer_tag",
    "sla_state",
)


class _Leaf(BaseModel):
    model_config = ConfigDict(extra="forbid")
    negate: bool = Field(False, description="true: the test must fail")


class InCondition(_Leaf):
    """The conversation's field is one of `values` (tags: carries one of them; assignee:
    user ids or "none"; order_status: an order status or "none"; customer_tag: one of the
    customer's conversations carries one of them)."""

    type: Literal[
        "channel",
        "marketplace",
        "shop",
        "intent",
        "language",
        "urgency",
        "sentiment",
        "order_status",
        "assignee",
        "status",
        "tags",
        "customer_tag",
        "sla_state",
    ]
    values: list[str] = Field(min_length=1, max_length=200)

    @field_validator("values", mode="before")
    @classmethod
    def _strings(cls, v: Any) -> Any:
        if isinstance(v, str | int):
            v = [v]
        return [str(x).strip() for x in v] if isinstance(v, list) else v


Where = Literal["subject", "body", "any"]


class KeywordsCondition(_Leaf):
    """One of `words` (a word or phrase) appears, ignoring case, accents and the usual word
    endings ("cassé" finds "cassée" and "casse")."""

    type: Literal["keywords"]
    where: Where = "any"
    words: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        min_length=1, max_length=200
    )


class RegexCondition(_Leaf):
    type: Literal["regex"]
    where: Where = "any"
    pattern: str

    @field_validator("pattern")
    @classmethod
    def _guarded(cls, v: str, info: ValidationInfo) -> str:
        if info.context and info.context.get("stored"):
            # Checked (and timed) when the rule was saved; the pump loads rules often.
            return v
        try:
            return validate_regex(v)
        except ConditionError as exc:
            raise ValueError(str(exc)) from None


class PastConversationsCondition(_Leaf):
    """How many other conversations the customer has had (bounds included)."""

    type: Literal["past_conversations"]
    min: int | None = Field(None, ge=0)
    max: int | None = Field(None, ge=0)


class BusinessHoursCondition(_Leaf):
    """Whether the event happened within the channel's business hours (SLA calendar)."""

    type: Literal["business_hours"]
    value: bool = True


class SurveyScoreCondition(_Leaf):
    """The score of the survey answer that triggered the rule (bounds included): CSAT 1-5,
    NPS 0-10. Only a "survey answered" event carries a score; any other event fails it."""

    type: Literal["survey_score"]
    min: int | None = Field(None, ge=0, le=10)
    max: int | None = Field(None, ge=0, le=10)


class Group(BaseModel):
    model_config = ConfigDict(extra="forbid")
    all: list[Node] | None = None
    any: list[Node] | None = None
    negate: bool = False


# What triage reads in a buyer's message: a rule that tests one waits for the reading.
TRIAGE_TYPES = frozenset({"intent", "urgency", "sentiment", "language"})


def reads_triage(node: Any) -> bool:
    """Whether a condition tree tests something triage reads."""
    if isinstance(node, Group):
        return any(reads_triage(child) for child in [*(node.all or []), *(node.any or [])])
    return getattr(node, "type", None) in TRIAGE_TYPES


# What a rule's actions never change: the message's text (and the subject it falls back on), the
# event's data, the channel's calendar. A tree testing only these reads no conversation state.
_MESSAGE_ONLY = frozenset({"keywords", "regex", "survey_score", "business_hours"})


def reads_conversation(node: Any) -> bool:
    """Whether a condition tree tests what an earlier rule's actions may have changed (tags,
    assignee, status...): the pump reloads the conversation for it only then."""
    if isinstance(node, Group):
        return any(reads_conversation(c) for c in [*(node.all or []), *(node.any or [])])
    return getattr(node, "type", None) not in _MESSAGE_ONLY


def _kind(v: Any) -> str:
    t = v.get("type") if isinstance(v, dict) else getattr(v, "type", None)
    if t is None:
        return "group"
    return "in" if t in IN_TYPES else str(t)


Node = Annotated[
    Annotated[Group, Tag("group")]
    | Annotated[InCondition, Tag("in")]
    | Annotated[KeywordsCondition, Tag("keywords")]
    | Annotated[RegexCondition, Tag("regex")]
    | Annotated[PastConversationsCondition, Tag("past_conversations")]
    | Annotated[BusinessHoursCondition, Tag("business_hours")]
    | Annotated[SurveyScoreCondition, Tag("survey_score")],
    Discriminator(_kind),
]
Group.model_rebuild()


def parse(data: dict[str, Any] | None, *, stored: bool = False) -> Group:
    """Validate submitted conditions, or load `stored` ones (saved valid: regexes are not
    timed again); {} (or None) matches everything."""
    from pydantic import ValidationError

    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConditionError('conditions must be an object such as {"all": [...]}')
    try:
        group = Group.model_validate(data, context={"stored": stored})
    except ValidationError as exc:
        raise ConditionError(_describe(exc)) from None
    if group.all is not None and group.any is not None:
        raise ConditionError('a group has either "all" or "any", not both')
    nodes = _count(group, 1)
    if nodes > MAX_NODES:
        raise ConditionError(f"at most {MAX_NODES} conditions in a rule")
    return group


def _count(node: Any, depth: int) -> int:
    if not isinstance(node, Group):
        return 1
    if depth > MAX_DEPTH:
        raise ConditionError(f"groups may be nested {MAX_DEPTH} deep at most")
    if node.all is not None and node.any is not None:
        raise ConditionError('a group has either "all" or "any", not both')
    return 1 + sum(_count(n, depth + 1) for n in (node.all or node.any or []))


def _describe(exc: Any) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(x) for x in err["loc"])
        parts.append(f"{where}: {err['msg']}" if where else err["msg"])
    return "; ".join(parts)


# -- evaluation --------------------------------------------------------------------------------


@lru_cache(maxsize=64)
def fold(text: str) -> str:
    """Lower case without accents: "Où" and "ou" match, as buyers type either. (Cached: each
    rule folds the same message again.)"""
    if text.isascii():
        return text.lower()
    return unicodedata.normalize("NFKD", text.casefold()).translate(_MARKS)


class _Marks(dict[int, int | None]):
    """`str.translate`'s table dropping combining marks, filled as characters are met."""

    def __missing__(self, code: int) -> int | None:
        kept = None if unicodedata.combining(chr(code)) else code
        self[code] = kept
        return kept


_MARKS = _Marks()


@dataclass
class Facts:
    """What a rule's conditions look at: a conversation (its channel, customer, order and
    assignee loaded), the message that triggered it (or its latest inbound one), and when."""

    conversation: Conversation
    message: Message | None
    at: datetime
    tags: set[str] = field(default_factory=set)
    # The triggering event's data (a survey answer's score...); {} when there is no event.
    event: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def subject(self) -> str:
        m = self.message
        return (m.subject if m is not None and m.subject else "") or self.conversation.subject

    @cached_property
    def body(self) -> str:
        m = self.message
        return (m.new_text or m.text) if m is not None else ""

    def text(self, where: str) -> str:
        if where == "subject":
            return self.subject
        if where == "body":
            return self.body
        return f"{self.subject}\n{self.body}"

    @cached_property
    def customer_tags(self) -> set[str]:
        from comptoir.inbox.models import Tag as TagModel

        cid = self.conversation.customer_id
        if cid is None:
            return set(self.tags)
        names = TagModel.objects.filter(
            conversations__customer_id=cid, conversations__deleted_at__isnull=True
        ).values_list("name", flat=True)
        return set(names) | self.tags

    @cached_property
    def past_conversations(self) -> int:
        from comptoir.inbox.models import Conversation

        cid = self.conversation.customer_id
        if cid is None:
            return 0
        return (
            Conversation.objects.filter(
                customer_id=cid, deleted_at__isnull=True, merged_into__isnull=True
            )
            .exclude(pk=self.conversation.pk)
            .count()
        )

    def field(self, name: str) -> set[str]:
        read = FIELDS.get(name)
        if read is None:
            raise ConditionError(f"unknown condition {name!r}")
        return read(self)


# What each `in` condition compares: the conversation's values as strings ("none" for none).
FIELDS: dict[str, Callable[[Facts], set[str]]] = {
    "channel": lambda f: {str(f.conversation.channel_id)},
    "marketplace": lambda f: {f.conversation.channel.marketplace},
    "shop": lambda f: {str(f.conversation.shop_id)},
    "intent": lambda f: {f.conversation.intent or ""},
    "language": lambda f: {f.conversation.language or ""},
    # Triage's reading of the latest buyer message (rules on "message received" wait for it).
    "urgency": lambda f: {f.conversation.urgency or ""},
    "sentiment": lambda f: {f.conversation.sentiment or ""},
    "order_status": lambda f: {_order_status(f.conversation)},
    "assignee": lambda f: {str(f.conversation.assignee_id or "none")},
    "status": lambda f: {f.conversation.status},
    "tags": lambda f: f.tags,
    "customer_tag": lambda f: f.customer_tags,
    "sla_state": lambda f: {f.conversation.sla_state},  # none, ok, at_risk or breached
}


def _order_status(conv: Conversation) -> str:
    return conv.order.status if conv.order_id and conv.order else "none"


def matches(node: Any, facts: Facts) -> bool:
    result = _test(node, facts)
    return result != bool(getattr(node, "negate", False))


def _test(node: Any, facts: Facts) -> bool:
    if isinstance(node, Group):
        if node.any is not None:
            return any(matches(n, facts) for n in node.any) if node.any else True
        return all(matches(n, facts) for n in node.all or [])
    if isinstance(node, InCondition):
        wanted = {v.casefold() for v in node.values}
        return bool({v.casefold() for v in facts.field(node.type)} & wanted)
    if isinstance(node, KeywordsCondition):
        text = fold(facts.text(node.where))
        return any(_has_words(text, fold(w)) for w in node.words)
    if isinstance(node, RegexCondition):
        text = facts.text(node.where)[:REGEX_TEXT_LIMIT]
        return re.search(node.pattern, text, re.IGNORECASE) is not None
    if isinstance(node, PastConversationsCondition):
        n = facts.past_conversations
        return (node.min is None or n >= node.min) and (node.max is None or n <= node.max)
    if isinstance(node, BusinessHoursCondition):
        return is_business_hours(facts.conversation.channel_id, facts.at) == node.value
    if isinstance(node, SurveyScoreCondition):
        return _score_within(facts.event.get("score"), node.min, node.max)
    raise ConditionError(f"unknown condition {node!r}")


def _score_within(score: Any, low: int | None, high: int | None) -> bool:
    if not isinstance(score, int):
        return False
    return (low is None or score >= low) and (high is None or score <= high)


def _has_words(text: str, words: str) -> bool:
    """Whole words, in any of their usual forms: "cassé" finds "cassée", "cassés" and "casse",
    "damaged" finds "damage", but "order" never finds "border"."""
    wanted = " ".join(_stems(words))
    return bool(wanted) and f" {wanted} " in _stemmed_text(text)


# Inflections stripped from a folded word (French gender and number, English plurals and past
# tenses), longest first, one per word, and only when three letters remain: light enough never
# to make two unrelated words meet, as a full stemmer would ("ordre" and "order").
_ENDINGS = ("ees", "ee", "es", "ed", "e", "s", "x")
_WORD = re.compile(r"\w+")


def _stem(word: str) -> str:
    for ending in _ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) >= 3:
            return word[: -len(ending)]
    return word


def _stems(text: str) -> list[str]:
    return [_stem(w) for w in _WORD.findall(text)]


@lru_cache(maxsize=64)
def _stemmed_text(text: str) -> str:
    # A rule's keywords are checked against the same message many times (one call per word).
    return f" {' '.join(_stems(text))} "


def is_business_hours(channel_id: int, at: datetime) -> bool:
    """The channel's SLA calendar's answer (its opening hours, holidays and closures)."""
    from comptoir.sla.policies import is_business_hours as sla_is_business_hours

    return sla_is_business_hours(channel_id, at)
