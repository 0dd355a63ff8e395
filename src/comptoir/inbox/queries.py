"""The inbox's queries, shared by the API and the web pages: filters, keyset pages."""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time as wall
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import TYPE_CHECKING, Any, cast

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from comptoir.inbox import search
from comptoir.inbox.models import Conversation, Event, SLAState, Status, Tag
from comptoir.inbox.permissions import visible_conversations
from comptoir.inbox.prepared import Prepared
from comptoir.lib import dates, intents

if TYPE_CHECKING:
    from comptoir.accounts.models import User

# Ids past a 64-bit integer cannot exist; SQLite would raise OverflowError on them.
MAX_ID = 2**63 - 1


class InvalidCursor(ValueError):
    """A page cursor that this listing did not hand out."""


@dataclass(frozen=True)
class KeysetOrder:
    """A keyset ordering on (field, id); rows with a null field come last."""

    name: str
    field: str
    descending: bool

    def order_by(self) -> tuple[Any, ...]:
        col = F(self.field)
        if self.descending:
            return (col.desc(nulls_last=True), F("id").desc())
        return (col.asc(nulls_last=True), F("id").asc())

    def after(self, value: datetime | None, pk: int) -> Q:
        cmp = "lt" if self.descending else "gt"
        if value is None:
            return Q(**{f"{self.field}__isnull": True, f"id__{cmp}": pk})
        return (
            Q(**{f"{self.field}__{cmp}": value})
            | Q(**{self.field: value, f"id__{cmp}": pk})
            | Q(**{f"{self.field}__isnull": True})
        )

    def encode(self, row: Any) -> str:
        value = getattr(row, self.field)
        data = {"o": self.name, "v": value.isoformat() if value else None, "id": row.pk}
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    def decode(self, cursor: str) -> tuple[datetime | None, int]:
        try:
            padded = cursor + "=" * (-len(cursor) % 4)
            data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
            value = datetime.fromisoformat(data["v"]) if data["v"] is not None else None
            if value is not None:
                if value.tzinfo is None:
                    raise ValueError("naive datetime")
                value = value.astimezone(UTC)  # overflows here, not in the database adapter
            pk = data["id"]
            ok = data["o"] == self.name and isinstance(pk, int) and 0 < pk <= MAX_ID
        except (ValueError, TypeError, KeyError, UnicodeError, OverflowError, binascii.Error):
            ok = False
        if not ok:
            raise InvalidCursor("invalid cursor: pass back the next_cursor of the previous page")
        return value, pk


ORDERS = {
    "recent": KeysetOrder("recent", "last_message_at", descending=True),
    "respond_by": KeysetOrder("respond_by", "respond_by", descending=False),
}
MESSAGE_ORDER = KeysetOrder("thread", "created_at", descending=False)

BREACHING_WITHIN = timedelta(hours=4)


def page[M: Any](
    qs: QuerySet[M], order: KeysetOrder, cursor: str | None, limit: int
) -> tuple[list[M], str | None]:
    if cursor:
        qs = qs.filter(order.after(*order.decode(cursor)))
    return page_of(list(qs.order_by(*order.order_by())[: limit + 1]), order, limit)


def page_of[R](rows: list[R], order: KeysetOrder, limit: int) -> tuple[list[R], str | None]:
    """`limit` + 1 rows read in `order` as a page and the next page's cursor (None: none)."""
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, order.encode(rows[-1])
    return rows, None


# The states the respond-by filter offers (the SLA sweep moves conversations between them).
SLA_FILTER_STATES = [
    (SLAState.BREACHED, _("Late")),
    (SLAState.AT_RISK, _("Due soon")),
    (SLAState.OK, _("On time")),
]


def _sla_filter(state: str) -> Q:
    if state not in dict(SLA_FILTER_STATES):
        states = ", ".join(str(s) for s, _ in SLA_FILTER_STATES)
        raise ValidationError(f"sla must be one of {states}, not {state!r}")
    return Q(needs_reply=True, sla_state=state)


def _id(name: str, value: str) -> int:
    if not value.isdigit() or int(value) > MAX_ID:
        raise ValidationError(f"{name} must be an id, not {value!r}")
    return int(value)


def _day(name: str, value: str, tz: tzinfo) -> datetime:
    try:
        return datetime.combine(dates.parse_day(value), time.min, tzinfo=tz)
    except ValueError:
        raise ValidationError(f"{name} must be a date (YYYY-MM-DD), not {value!r}") from None


# The intent filter's value for conversations with no intent (unsure, or not read yet).
NO_INTENT = "none"

# The inbox's filters as they appear in its URL (so a view can be bookmarked and shared).
FILTER_PARAMS = (
    "channel",
    "marketplace",
    "shop",
    "status",
    "assignee",
    "team",
    "tag",
    "intent",
    "urgency",
    "sentiment",
    "language",
    "sla",
    "from",
    "to",
    "has_order",
    "q",
)


def filters_from_params(params: Mapping[str, str], tz: tzinfo) -> dict[str, Any]:
    """The keyword arguments of `filter_conversations` for the URL's filters; dates are days in
    the user's timezone `tz`. Raises ValidationError naming a malformed one."""
    p = {k: (params.get(k) or "").strip() for k in FILTER_PARAMS}
    out: dict[str, Any] = {}
    for name in ("channel", "shop", "team"):
        if p[name]:
            out[name] = _id(name, p[name])
    for name in (
        *("marketplace", "status", "assignee", "tag", "intent", "urgency", "sentiment"),
        *("language", "sla", "q"),
    ):
        if p[name]:
            out[name] = p[name]
    if p["from"]:
        out["created_from"] = _day("from", p["from"], tz)
    if p["to"]:
        out["created_to"] = _day("to", p["to"], tz) + timedelta(days=1)
    if p["has_order"]:
        if p["has_order"] not in ("yes", "no"):
            raise ValidationError(f"has_order must be yes or no, not {p['has_order']!r}")
        out["has_order"] = p["has_order"] == "yes"
    return out


def filter_conversations(
    qs: QuerySet[Conversation],
    user: User,
    *,
    status: str | None = None,
    channel: int | None = None,
    marketplace: str | None = None,
    shop: int | None = None,
    assignee: str | None = None,
    team: int | None = None,
    needs_reply: bool | None = None,
    tag: str | None = None,
    intent: str | None = None,
    urgency: str | None = None,
    sentiment: str | None = None,
    language: str | None = None,
    sla: str | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    has_order: bool | None = None,
    order_number: str | None = None,
    q: str | None = None,
) -> QuerySet[Conversation]:
    """Narrow `qs` by the inbox's filters (None or empty: no filter); raises ValidationError
    naming a malformed one. Each is its own WHERE term, added in this order."""
    qs = _by_status(qs, status)
    qs = _by_place(qs, channel=channel, marketplace=marketplace, shop=shop, team=team)
    qs = _by_triage(qs, intent=intent, language=language, sla=sla)
    qs = _by_mood(qs, urgency=urgency, sentiment=sentiment)
    qs = _by_dates(qs, created_from, created_to)
    qs = _by_has_order(qs, has_order)
    qs = _by_handling(qs, user, assignee=assignee, needs_reply=needs_reply)
    qs = _by_tag(qs, tag)
    if order_number:
        qs = qs.filter(order_number=order_number.strip())
    if q and q.strip():
        qs = search.matching(qs, q)
    return qs


def _by_status(qs: QuerySet[Conversation], status: str | None) -> QuerySet[Conversation]:
    if not status:
        return qs
    if status not in Status.values:
        raise ValidationError(f"status must be one of {', '.join(Status.values)}")
    return qs.filter(status=status)


def _by_place(
    qs: QuerySet[Conversation],
    *,
    channel: int | None,
    marketplace: str | None,
    shop: int | None,
    team: int | None,
) -> QuerySet[Conversation]:
    """Where the conversation came in (channel, marketplace, shop) and which team owns it."""
    if channel is not None:
        qs = qs.filter(channel_id=channel)
    if marketplace:
        qs = qs.filter(channel__marketplace=marketplace)
    if shop is not None:
        qs = qs.filter(shop_id=shop)
    if team is not None:
        # A conversation belongs to a team by its own team, else by its channel's.
        qs = qs.filter(Q(team_id=team) | Q(team__isnull=True, channel__team_id=team))
    return qs


def _by_triage(
    qs: QuerySet[Conversation], *, intent: str | None, language: str | None, sla: str | None
) -> QuerySet[Conversation]:
    """What triage and the SLA sweep found: intent ("none": triage was unsure or has not read
    it; the conversation keeps no "unsure"), language, respond-by state."""
    if intent:
        qs = qs.filter(intent="" if intent in (NO_INTENT, intents.UNSURE) else intent)
    if language:
        qs = qs.filter(language=language)
    if sla:
        qs = qs.filter(_sla_filter(sla))
    return qs


def _by_mood(
    qs: QuerySet[Conversation], *, urgency: str | None, sentiment: str | None
) -> QuerySet[Conversation]:
    """How urgent and how unhappy triage read the latest buyer message."""
    for name, value, allowed in (
        ("urgency", urgency, intents.URGENCIES),
        ("sentiment", sentiment, intents.SENTIMENTS),
    ):
        if not value:
            continue
        if value not in allowed:
            raise ValidationError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
        qs = qs.filter(**{name: value})
    return qs


def _by_dates(
    qs: QuerySet[Conversation], created_from: datetime | None, created_to: datetime | None
) -> QuerySet[Conversation]:
    if created_from is not None:
        qs = qs.filter(created_at__gte=created_from)
    if created_to is not None:
        qs = qs.filter(created_at__lt=created_to)
    return qs


def _by_has_order(qs: QuerySet[Conversation], has_order: bool | None) -> QuerySet[Conversation]:
    if has_order is None:
        return qs
    has = Q(order__isnull=False) | ~Q(order_number="")
    return qs.filter(has if has_order else ~has)


def _by_handling(
    qs: QuerySet[Conversation], user: User, *, assignee: str | None, needs_reply: bool | None
) -> QuerySet[Conversation]:
    """Who handles it (`assignee`: a user id, "me" or "none") and whether it awaits a reply."""
    if assignee:
        if assignee == "me":
            qs = qs.filter(assignee=user)
        elif assignee == "none":
            qs = qs.filter(assignee__isnull=True)
        elif assignee.isdigit() and int(assignee) <= MAX_ID:
            qs = qs.filter(assignee_id=int(assignee))
        else:
            raise ValidationError(f"assignee must be a user id, 'me' or 'none', not {assignee!r}")
    if needs_reply is not None:
        qs = qs.filter(needs_reply=needs_reply)
    return qs


def _by_tag(qs: QuerySet[Conversation], tag: str | None) -> QuerySet[Conversation]:
    if not tag:
        return qs
    # A subquery rather than a join, so no row can come back twice.
    tagged = Tag.conversations.through.objects.filter(tag__name=tag.strip())
    return qs.filter(pk__in=tagged.values("conversation_id"))


# -- the inbox's views (Needs reply, Mine...) ------------------------------------------------

LIVE_STATUSES = [s for s in Status.values if s != Status.RESOLVED]


@dataclass(frozen=True)
class InboxView:
    key: str
    label: Any
    order: KeysetOrder

    def apply(self, qs: QuerySet[Conversation], user: User) -> QuerySet[Conversation]:
        now = timezone.now()
        # Listed rather than `~Q(status=resolved)`: an IN can walk the (assignee, status)
        # index, a NOT cannot (at 100,000 conversations: 1 ms instead of 50-120 ms).
        live = Q(status__in=LIVE_STATUSES)
        # Archived conversations are out of the way: only their own view shows them.
        if self.key == "archived":
            return qs.filter(archived=True)
        qs = qs.filter(archived=False)
        match self.key:
            case "needs_reply":
                return qs.filter(needs_reply=True).exclude(status=Status.SNOOZED)
            case "mine":
                return qs.filter(live, assignee=user)
            case "unassigned":
                return qs.filter(live, assignee__isnull=True)
            case "breaching":
                # Still due, not already missed: the late ones have the respond-by filter.
                return qs.filter(
                    needs_reply=True, respond_by__gte=now, respond_by__lt=now + BREACHING_WITHIN
                )
            case "snoozed":
                return qs.filter(status=Status.SNOOZED)
            case "resolved":
                return qs.filter(status=Status.RESOLVED)
        return qs


VIEWS = {
    v.key: v
    for v in [
        InboxView("needs_reply", _("Needs reply"), ORDERS["respond_by"]),
        InboxView("mine", _("Mine"), ORDERS["recent"]),
        InboxView("unassigned", _("Unassigned"), ORDERS["recent"]),
        InboxView("breaching", _("Breaching soon"), ORDERS["respond_by"]),
        InboxView("snoozed", _("Snoozed"), ORDERS["recent"]),
        InboxView("resolved", _("Resolved"), ORDERS["recent"]),
        InboxView("all", _("All"), ORDERS["recent"]),
        InboxView("archived", _("Archived"), ORDERS["recent"]),
    ]
}


COUNT_CAP = 1000  # past it the nav says "1000+"


@dataclass(frozen=True)
class SourceCount:
    """A marketplace or a channel of the nav, with how many of its conversations need a reply."""

    key: str
    label: str
    count: int


def source_counts_query(user: User) -> QuerySet[Any]:
    """(channel id, how many need a reply) for the channels `user` sees. Grouped by an
    expression, not the column: SQLite would otherwise walk every conversation through an index
    in channel order (3 s at 1,000,000) rather than read the ones that need a reply through
    theirs (0.1 s). `pk > 0` (every row) is the condition of the index `conv_waiting`, which
    holds all this reads (0.02 s): the needs-reply list, which lacks it, cannot take that index
    (SQLite did, and sorted everything waiting to show a page: 0.14 s)."""
    return (
        VIEWS["needs_reply"]
        .apply(visible_conversations(user), user)
        .filter(pk__gt=0)
        .order_by()
        .values(by_channel=F("channel_id") + 0)
        .annotate(n=models.Count("id"))
        .values_list("by_channel", "n")
    )


def marketplace_counts(
    user: User, latest: tuple[int, float] | None = None
) -> dict[str, list[SourceCount]]:
    """The nav's per-marketplace and per-channel views: one grouped query over what needs a
    reply (that set is small whatever the history), then summed per marketplace."""
    event = (latest or latest_event())[0]
    return dict(_counted(_counts_key("source-counts", user.pk), event, lambda: _sources(user)))


def _sources(user: User) -> dict[str, list[SourceCount]]:
    from comptoir.inbox.models import Marketplace
    from comptoir.inbox.permissions import visible_channels

    waiting = dict(source_counts_query(user))
    labels = dict(Marketplace.choices)
    by_marketplace: dict[str, int] = {}
    channels = []
    for pk, name, marketplace in (
        visible_channels(user).order_by("name").values_list("pk", "name", "marketplace")
    ):
        n = waiting.get(pk, 0)
        by_marketplace[marketplace] = by_marketplace.get(marketplace, 0) + n
        channels.append(SourceCount(str(pk), name, n))
    return {
        "marketplaces": [
            SourceCount(m, str(labels.get(m, m)), n) for m, n in sorted(by_marketplace.items())
        ],
        "channels": channels,
    }


# Counts are kept per user until something happens (every change writes an Event) or this
# many seconds pass (the "breaching soon" view moves with the clock alone).
COUNTS_TTL = 30
# ...but not recounted more often than this: on a busy desk (live ingest writes events every
# second) each page load recounted (up to 0.4 s of CPU at 1,000,000 conversations).
COUNTS_MIN_SECONDS = 5


def _clock() -> float:
    """Wall time, comparable between processes sharing the cache (patched by the tests)."""
    return wall.time()


def _newest_event() -> QuerySet[Event]:
    return Event.objects.order_by("-pk").only("pk", "created_at")[:1]


_NEWEST_EVENT = Prepared(_newest_event)


def latest_event() -> tuple[int, float]:
    """(id, time) of the newest Event: where a page's live stream starts, and what its cached
    counts depend on (every change writes one). Prepared: every inbox page reads it."""
    last = _NEWEST_EVENT.all()
    return (last[0].pk, last[0].created_at.timestamp()) if last else (0, 0.0)


def _counts_key(what: str, user_id: int) -> str:
    return f"inbox:{what}:{user_id}"


def forget_counts(events: Sequence[Event]) -> None:
    """Subscribed to `inbox.hooks.events_written`: the users who acted see their own change in
    their nav at once (the minimum age would hide it for up to COUNTS_MIN_SECONDS); everyone
    else within that age. Forgotten at once, not after the commit (an action's commit hooks
    are its deliveries): a count the same user's other tab makes before the commit is at
    most COUNTS_MIN_SECONDS stale."""
    keys = [
        _counts_key(what, pk)
        for pk in {e.actor_id for e in events if e.actor_id}
        for what in ("view-counts", "source-counts")
    ]
    if keys:
        cache.delete_many(keys)


def view_counts(user: User, latest: tuple[int, float] | None = None) -> dict[str, str]:
    """Each view's size for the user, capped: an exact count of a huge view is slow. Seven
    counts cost 5-30 ms at 100,000 conversations: they are cached until the next Event (one
    cheap query says which), but kept at least COUNTS_MIN_SECONDS whatever arrives."""
    event = (latest or latest_event())[0]
    return dict(_counted(_counts_key("view-counts", user.pk), event, lambda: _views(user)))


def _views(user: User) -> dict[str, str]:
    base = visible_conversations(user)
    counts = {}
    for key, view in VIEWS.items():
        n = view.apply(base, user)[: COUNT_CAP + 1].count()
        counts[key] = f"{COUNT_CAP}+" if n > COUNT_CAP else str(n)
    return counts


# One count at a time per key in a process: the requests in flight when the counts expire
# (every 30 s, and after an event) all missed the cache at once and each counted again (at
# 1,000,000 conversations, 5 requests x 0.4 s of CPU in one process). The others wait for the
# first and read what it kept. Striped: a bounded set of locks for unbounded keys.
_COUNTING = [threading.Lock() for _ in range(64)]


def _fresh(kept: Any, event: int) -> bool:
    """Whether counts kept as (event id, time counted, counts) still do for the newest
    `event`: counted at it, or too recently to count again; never past COUNTS_TTL."""
    if kept is None:
        return False
    at_event, counted_at, _ = kept
    age = _clock() - counted_at
    return 0 <= age < COUNTS_TTL and (at_event == event or age < COUNTS_MIN_SECONDS)


def _counted[T](key: str, event: int, count: Callable[[], T]) -> T:
    """`count()` kept under `key` with the newest event id it saw and when it ran."""
    kept = cache.get(key)
    if _fresh(kept, event):
        return cast(T, kept[2])
    with _COUNTING[hash(key) % len(_COUNTING)]:
        kept = cache.get(key)
        if _fresh(kept, event):
            return cast(T, kept[2])
        started = _clock()  # the counts' age runs from when they were read
        counts = count()
        cache.set(key, (event, started, counts), COUNTS_TTL)
        return counts


def others_present(conversation_id: int, user: User) -> list[dict[str, str]]:
    """The other agents who have the conversation open now, writers first (presence rows older
    than the heartbeat's TTL are ignored: a closed tab says nothing)."""
    return presence_on(conversation_id, user)[0]


def _presences(conversation: int) -> QuerySet[Any]:
    from comptoir.inbox.models import Presence

    return (
        Presence.objects.filter(conversation_id=conversation)
        .only("user", "state", "seen_at")
        .annotate(
            username=F("user__username"),
            first_name=F("user__first_name"),
            last_name=F("user__last_name"),
        )
        .order_by("-state", "user__username")  # "viewing" < "replying": writers first
    )


# A conversation has a row per agent who opened it (few): read all, the stale ones left out here.
_PRESENCES = Prepared(_presences, "conversation")


def presence_on(
    conversation_id: int, user: User
) -> tuple[list[dict[str, str]], tuple[str, datetime] | None]:
    """`others_present` and, from the same query, `user`'s own (state, seen_at) if fresh: the
    conversation page writes its presence only when that says something new."""
    from comptoir.accounts.models import User as UserModel
    from comptoir.inbox.actions import PRESENCE_TTL_SECONDS

    since = timezone.now() - timedelta(seconds=PRESENCE_TTL_SECONDS)
    others, mine = [], None
    for p in _PRESENCES.all(conversation=conversation_id):
        if p.seen_at < since:
            continue
        if p.user_id == user.pk:
            mine = (p.state, p.seen_at)
        else:
            who = UserModel(username=p.username, first_name=p.first_name, last_name=p.last_name)
            others.append({"name": who.display_name, "state": p.state})
    return others, mine
