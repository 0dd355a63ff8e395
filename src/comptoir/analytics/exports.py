"""Exports: conversations, messages and the KPI tables as typed columns and batches of rows,
for `analytics.writers` to write as CSV or Parquet (docs/exports.md).

Who exports: owners, admins, supervisors and analysts (the dashboards' readers, who all see
every conversation). What buyers and agents wrote (subjects, message texts) only when asked, and
only for owners, admins and supervisors: analysts read figures, not bodies. Rows are read in
keyset batches (`BATCH` at a time) so that a million rows never sit in memory at once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from django.db.models.functions import Length
from django.http import QueryDict

from comptoir.accounts.models import Role, Team, User
from comptoir.analytics import kpis
from comptoir.analytics.filters import BadFilter, Chosen, parse
from comptoir.analytics.models import ConversationFact
from comptoir.analytics.period import Durations, Filters, Period, Share
from comptoir.inbox.models import Channel, Conversation, Message, Shop

logger = logging.getLogger("comptoir.analytics.exports")

BATCH = 10_000
ROWS = ("conversations", "messages")
KPI_TABLES = ("overview", "channels", "agents", "teams", "volumes", "daily")
KINDS = ROWS + KPI_TABLES
EXPORTERS = frozenset({Role.OWNER, Role.ADMIN, Role.SUPERVISOR, Role.ANALYST})
BODY_READERS = frozenset({Role.OWNER, Role.ADMIN, Role.SUPERVISOR})

Row = tuple[Any, ...]
# Column kinds, as CSV writes them and as Parquet types them.
INT, FLOAT, TEXT, BOOL, TIME, DAY = "int", "float", "text", "bool", "time", "day"


@dataclass
class Table:
    """An export: its columns (name, kind) and its rows in batches, counted as they are read."""

    name: str
    columns: list[tuple[str, str]]
    batches: Iterable[list[Row]]
    rows: int = field(default=0, init=False)

    def __iter__(self) -> Iterator[list[Row]]:
        for batch in self.batches:
            self.rows += len(batch)
            yield batch


# -- who, and on what --------------------------------------------------------------------------


def can_export(user: User) -> bool:
    return user.is_active and (user.is_superuser or user.role in EXPORTERS)


def can_export_bodies(user: User) -> bool:
    return user.is_active and (user.is_superuser or user.role in BODY_READERS)


def check(user: User, *, with_bodies: bool) -> None:
    """403 for a role that may not export (agents), or may not read bodies (analysts)."""
    if not can_export(user):
        raise PermissionDenied("exports are for owners, admins, supervisors and analysts")
    if with_bodies and not can_export_bodies(user):
        raise PermissionDenied("message bodies are for owners, admins and supervisors")


def scope(query: Mapping[str, str]) -> tuple[Chosen, Filters]:
    """The dashboards' filters (`analytics.filters`: period or from/to, shop, channel,
    marketplace, team, assignee) from a URL's query or a plain mapping (the command's
    options). `BadFilter` when one is malformed."""
    chosen = parse(_querydict(query))
    return chosen, chosen.filters


def _querydict(query: Mapping[str, str]) -> QueryDict:
    if isinstance(query, QueryDict):
        return query
    qd = QueryDict(mutable=True)
    for key, value in query.items():
        if value not in (None, ""):
            qd[key] = str(value)
    return qd


def build(
    kind: str, period: Period, filters: Filters, *, with_bodies: bool = False, actor: str = ""
) -> Table:
    """The export `kind` (one of KINDS) of the period and filters; logged, as an export takes
    data out of the desk (`actor` says who: a username, or "cli")."""
    if kind not in KINDS:
        raise BadFilter(f"export: {kind!r} is not one of {', '.join(KINDS)}")
    logger.info(
        "export %s by %s: %s to %s, %s, bodies %s",
        kind,
        actor or "?",
        period.start.isoformat(),
        period.end.isoformat(),
        {k: v for k, v in vars(filters).items() if v is not None},
        "yes" if with_bodies else "no",
    )
    if kind == "conversations":
        return conversations(period, filters, with_bodies=with_bodies)
    if kind == "messages":
        return messages(period, filters, with_bodies=with_bodies)
    return kpi_table(kind, period, filters)


# -- conversations and messages ----------------------------------------------------------------


def _keyset(qs: QuerySet[Any], fields: list[str], size: int) -> Iterator[list[Row]]:
    """Rows in primary-key order, `size` at a time (the first field is the key): no cursor
    is held open between batches, so a slow download holds no transaction."""
    last = 0
    while True:
        rows = list(qs.filter(pk__gt=last).order_by("pk").values_list(*fields)[:size])
        if not rows:
            return
        yield rows
        last = rows[-1][0]


def _in_scope(prefix: str, filters: Filters) -> dict[str, Any]:
    """The filters as lookups on conversations (`prefix` "conversation__" from messages)."""
    lookups = {
        "shop_id": "shop_id",
        "channel_id": "channel_id",
        "team_id": "team_id",
        "marketplace": "channel__marketplace",
        "assignee_id": "assignee_id",
    }
    found = {
        prefix + lookup: getattr(filters, name)
        for name, lookup in lookups.items()
        if getattr(filters, name) is not None
    }
    # Deleted and merged-away conversations are in no figure and no export.
    return {**found, prefix + "deleted_at": None, prefix + "merged_into": None}


def _names() -> dict[str, dict[int, str]]:
    """The small tables' names, read once per export."""
    return {
        "shop": dict(Shop.objects.values_list("pk", "name")),
        "channel": dict(Channel.objects.values_list("pk", "name")),
        "user": dict(User.objects.values_list("pk", "username")),
        "team": dict(Team.objects.values_list("pk", "name")),
    }


CONVERSATION_FIELDS = [
    ("id", INT, "pk"),
    ("created_at", TIME, "created_at"),
    ("shop_id", INT, "shop_id"),
    ("channel_id", INT, "channel_id"),
    ("marketplace", TEXT, "channel__marketplace"),
    ("status", TEXT, "status"),
    ("priority", INT, "priority"),
    ("assignee_id", INT, "assignee_id"),
    ("team_id", INT, "team_id"),
    ("customer_id", INT, "customer_id"),
    ("order_number", TEXT, "order_number"),
    ("language", TEXT, "language"),
    ("intent", TEXT, "intent"),
    ("urgency", TEXT, "urgency"),
    ("sentiment", TEXT, "sentiment"),
    ("sla_state", TEXT, "sla_state"),
    ("respond_by", TIME, "respond_by"),
    ("first_inbound_at", TIME, "first_inbound_at"),
    ("first_response_at", TIME, "first_response_at"),
    ("last_message_at", TIME, "last_message_at"),
    ("resolved_at", TIME, "resolved_at"),
    ("reopened_count", INT, "reopened_count"),
    ("message_count", INT, "message_count"),
]
# Added after the columns above: names, the rollup's figures, the tags.
CONVERSATION_EXTRA = [
    ("shop", TEXT),
    ("channel", TEXT),
    ("assignee", TEXT),
    ("team", TEXT),
    ("first_response_hours", FLOAT),
    ("first_response_business_hours", FLOAT),
    ("resolution_hours", FLOAT),
    ("agent_replies", INT),
    ("first_contact_resolution", BOOL),
    ("within_sla", BOOL),
    ("no_response_needed", BOOL),
    ("tags", TEXT),
]
AT = {name: i for i, (name, _k, _f) in enumerate(CONVERSATION_FIELDS)}
FACT_FIELDS = (
    "first_response_seconds",
    "first_response_business_seconds",
    "resolution_seconds",
    "agent_replies",
    "fcr",
    "within_sla",
    "no_response_needed",
)


def _hours(seconds: float | None) -> float | None:
    return None if seconds is None else seconds / 3600


def conversations(period: Period, filters: Filters, *, with_bodies: bool = False) -> Table:
    """One row per conversation created in the period, with its figures from the rollup
    (empty until the worker computed them); its subject only `with_bodies`."""
    fields = [f for _n, _k, f in CONVERSATION_FIELDS] + (["subject"] if with_bodies else [])
    columns = [(n, k) for n, k, _f in CONVERSATION_FIELDS] + CONVERSATION_EXTRA
    if with_bodies:
        columns.append(("subject", TEXT))
    qs = Conversation.objects.filter(
        created_at__gte=period.start, created_at__lt=period.end, **_in_scope("", filters)
    )

    def batches() -> Iterator[list[Row]]:
        names = _names()
        for rows in _keyset(qs, fields, BATCH):
            yield _with_extra(rows, names, with_bodies)

    return Table("conversations", columns, batches())


def _with_extra(rows: list[Row], names: dict[str, dict[int, str]], bodies: bool) -> list[Row]:
    ids = [r[0] for r in rows]
    facts = {
        f[0]: f[1:]
        for f in ConversationFact.objects.filter(conversation_id__in=ids).values_list(
            "conversation_id", *FACT_FIELDS
        )
    }
    tags: dict[int, list[str]] = {}
    through = Conversation.tags.through.objects.filter(conversation_id__in=ids)
    for conv_id, tag in through.order_by("tag__name").values_list("conversation_id", "tag__name"):
        tags.setdefault(conv_id, []).append(tag)
    empty = (None,) * len(FACT_FIELDS)
    out = []
    for row in rows:
        base, subject = (row[:-1], row[-1:]) if bodies else (row, ())
        frs, frbs, res, replies, fcr, sla, nrn = facts.get(row[0], empty)
        extra = (
            names["shop"].get(base[AT["shop_id"]], ""),
            names["channel"].get(base[AT["channel_id"]], ""),
            names["user"].get(base[AT["assignee_id"]], ""),
            names["team"].get(base[AT["team_id"]], ""),
            _hours(frs),
            _hours(frbs),
            _hours(res),
            replies,
            fcr,
            sla,
            nrn,
            ", ".join(tags.get(row[0], [])),
        )
        out.append((*base, *extra, *subject))
    return out


MESSAGE_FIELDS = [
    ("id", INT, "pk"),
    ("conversation_id", INT, "conversation_id"),
    ("created_at", TIME, "created_at"),
    ("channel_id", INT, "channel_id"),
    ("marketplace", TEXT, "channel__marketplace"),
    ("direction", TEXT, "direction"),
    ("author_id", INT, "author_id"),
    ("author", TEXT, "author__username"),
    ("is_auto", BOOL, "is_auto"),
    ("delivery_state", TEXT, "delivery_state"),
    ("language", TEXT, "language"),
    ("intent", TEXT, "intent"),
    ("urgency", TEXT, "urgency"),
    ("sentiment", TEXT, "sentiment"),
    ("characters", INT, "characters"),
]


def messages(period: Period, filters: Filters, *, with_bodies: bool = False) -> Table:
    """One row per message (buyer's, reply, note) written in the period, in the conversations
    the filters choose; its length always, its subject and text only `with_bodies`."""
    fields = [f for _n, _k, f in MESSAGE_FIELDS]
    columns = [(n, k) for n, k, _f in MESSAGE_FIELDS]
    if with_bodies:
        fields += ["subject", "text"]
        columns += [("subject", TEXT), ("text", TEXT)]
    qs = Message.objects.filter(
        created_at__gte=period.start,
        created_at__lt=period.end,
        **_in_scope("conversation__", filters),
    ).annotate(characters=Length("text"))
    return Table("messages", columns, _keyset(qs, fields, BATCH))


# -- the KPI tables ----------------------------------------------------------------------------


def _durations(prefix: str, d: Durations) -> list[tuple[str, float | None]]:
    return [
        (f"{prefix}_count", d.count),
        (f"{prefix}_median_hours", d.median),
        (f"{prefix}_mean_hours", d.mean),
        (f"{prefix}_p90_hours", d.p90),
    ]


def _share(prefix: str, s: Share) -> list[tuple[str, float | None]]:
    return [(f"{prefix}_share", s.share), (f"{prefix}_part", s.part), (f"{prefix}_whole", s.whole)]


def overview_rows(period: Period, filters: Filters) -> list[tuple[str, float | None]]:
    """The overview as (metric, value) rows: every figure of `kpis.overview` and the surveys'."""
    o = kpis.overview(period, filters)
    sent, answered = kpis.survey_counts(period, filters)
    return [
        ("conversations", o.conversations),
        *_durations("first_response", o.first_response.calendar),
        *_durations("first_response_business", o.first_response.business),
        *_durations("next_response", o.next_response.calendar),
        *_durations("next_response_business", o.next_response.business),
        *_share("within_sla", o.within_sla),
        *_durations("resolution", o.resolution),
        *_share("first_contact_resolution", o.fcr),
        *_share("reopen", o.reopen),
        ("messages_per_conversation", o.messages_per_conversation),
        *_share("no_response_needed", o.no_response_needed),
        ("conversations_per_100_orders", kpis.conversations_per_100_orders(period, filters)),
        ("csat_percent", kpis.csat(period, filters)),
        ("nps", kpis.nps(period, filters)),
        ("survey_response_rate_percent", kpis.survey_response_rate(period, filters)),
        ("surveys_sent", sent),
        ("surveys_answered", answered),
    ]


def _one(rows: list[Row]) -> Iterator[list[Row]]:
    yield rows


def kpi_table(name: str, period: Period, filters: Filters) -> Table:
    """One of KPI_TABLES: small (a row per metric, channel, agent, team, value or day), built
    at once."""
    if name == "overview":
        rows: list[Row] = list(overview_rows(period, filters))
        return Table(name, [("metric", TEXT), ("value", FLOAT)], _one(rows))
    if name == "channels":
        return Table(name, CHANNEL_COLUMNS, _one(channel_rows(period, filters)))
    if name in ("agents", "teams"):
        rows = people_rows(name, period, filters)
        return Table(name, [(name[:-1] + "_id", INT), (name[:-1], TEXT), *PEOPLE], _one(rows))
    if name == "volumes":
        return Table(name, VOLUME_COLUMNS, _one(volume_rows(period, filters)))
    return Table(name, DAILY_COLUMNS, _one(daily_rows(period, filters)))


CHANNEL_COLUMNS = [
    ("channel_id", INT),
    ("channel", TEXT),
    ("marketplace", TEXT),
    ("conversations", INT),
    ("first_response_median_hours", FLOAT),
    ("first_response_mean_hours", FLOAT),
    ("first_response_p90_hours", FLOAT),
    ("within_sla_share", FLOAT),
    ("first_contact_resolution_share", FLOAT),
    ("reopen_share", FLOAT),
    ("csat_percent", FLOAT),
    ("nps", FLOAT),
]


def channel_rows(
    period: Period, filters: Filters, found: list[kpis.ChannelRow] | None = None
) -> list[Row]:
    """`kpis.per_channel` (`found`, when the caller has it already) with names, CSAT, NPS."""
    channels = {c.pk: c for c in Channel.objects.all()}
    out = []
    for r in kpis.per_channel(period, filters) if found is None else found:
        one = replace(filters, channel_id=r.channel_id)
        channel = channels.get(r.channel_id)
        out.append(
            (
                r.channel_id,
                channel.name if channel else "",
                channel.marketplace if channel else "",
                r.conversations,
                r.first_response.median,
                r.first_response.mean,
                r.first_response.p90,
                r.within_sla.share,
                r.fcr.share,
                r.reopen.share,
                kpis.csat(period, one),
                kpis.nps(period, one),
            )
        )
    return out


PEOPLE = [
    ("handled", INT),
    ("first_response_median_hours", FLOAT),
    ("first_response_p90_hours", FLOAT),
    ("resolution_median_hours", FLOAT),
    ("first_contact_resolution_share", FLOAT),
    ("csat_percent", FLOAT),
]


def people_rows(
    name: str, period: Period, filters: Filters, found: list[kpis.PersonRow] | None = None
) -> list[Row]:
    """`kpis.per_agent` or `kpis.per_team` (`found`, when the caller has it already), with
    each one's name and CSAT (None: unassigned or no team, whose CSAT is not told apart)."""
    key = "assignee_id" if name == "agents" else "team_id"
    names = _names()["user" if name == "agents" else "team"]
    if found is None:
        found = (kpis.per_agent if name == "agents" else kpis.per_team)(period, filters)
    out = []
    for r in found:
        one = (
            replace(filters, assignee_id=r.id)
            if key == "assignee_id"
            else replace(filters, team_id=r.id)
        )
        csat = None if r.id is None else kpis.csat(period, one)
        out.append(
            (
                r.id,
                names.get(r.id, "") if r.id is not None else "",
                r.handled,
                r.first_response.median,
                r.first_response.p90,
                r.resolution.median,
                r.fcr.share,
                csat,
            )
        )
    return out


VOLUME_COLUMNS = [("by", TEXT), ("value", TEXT), ("label", TEXT), ("conversations", INT)]


def volume_rows(period: Period, filters: Filters) -> list[Row]:
    """`kpis.volume` by each of its fields, one after the other (ids also named)."""
    names = _names()
    label = {"channel_id": names["channel"], "shop_id": names["shop"]}
    out: list[Row] = []
    for by in kpis.VOLUME_FIELDS:
        for value, n in kpis.volume(period, filters, by).items():
            named = label.get(by, {}).get(value, "") if by in label else ""
            out.append((by, "" if value is None else str(value), named, n))
    return out


DAILY_COLUMNS = [("day", DAY), ("conversations", INT), ("open_at_end_of_day", INT)]


def daily_rows(period: Period, filters: Filters) -> list[Row]:
    """Per day: conversations created (the shop's day, as the dashboards count them) and the
    backlog at the day's end (`kpis.backlog`, the shop's days too)."""
    created = {
        r["created_day"]: r["n"]
        for r in kpis.facts_in(period, filters)
        .values("created_day")
        .annotate(n=Count("pk"))
        .order_by()
    }
    backlog: dict[date, int] = dict(kpis.backlog(period, filters))
    days = sorted(set(backlog) | set(created))
    return [(day, created.get(day, 0), backlog.get(day)) for day in days]


def filename(kind: str, chosen: Chosen, fmt: str) -> str:
    return f"comptoir-{kind}-{chosen.start_day}-{chosen.end_day}.{fmt}"
