"""Full-text search over conversations: their messages (replies and notes included), their
buyer's name, emails and aliases (`CustomerIdentity` values) and their order number.

One small interface, two engines:
- SQLite: FTS5 tables kept by triggers (`search_message`, `search_customer`: words with case
  and accents folded; `search_identity`, `search_order`: trigrams, for exact, prefix and partial
  identifiers). The triggers write in the same statement as the row, at no extra round trip:
  ingest, actions and the admin need no code of their own.
- PostgreSQL: a stored generated `tsvector` column on messages with a GIN index, an expression
  GIN index on customer names (a text search configuration `comptoir_search`: `simple` with
  `unaccent`), and `pg_trgm` GIN indexes on identity values and order numbers.

`matching(qs, q)` narrows a conversation queryset to those matching `q`: it stays a filter, so
scope (`inbox.permissions`), views, other filters and keyset pages apply as ever, newest
first by default. One capped probe (one statement) picks the plan for the messages:
- few matches (a rare word): their conversations' ids, listed;
- a middling number: a subquery the database runs once;
- many (a common word): a per-row EXISTS, checked only on the rows the page walks in its index
  order, which fills a page long before it has seen every match; buyers and orders then go
  into the same statement as subqueries run once, and the word is remembered as common for a
  while per process (`_COMMON`), so its next searches are one statement with no count.
No plan builds the full match set of a common word. Buyers and orders: listed ids, or a
subquery past CONVERSATION_CAP. Every plan finds the same conversations: the probes and the
remembered counts choose how, never what.
`ranked(qs, q)` orders by relevance, but only a capped set of the newest candidates.

Creating and rebuilding the tables, triggers and indexes this reads: `search.indexes`.
"""

from __future__ import annotations

import json
import re
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import BooleanField, Expression, F, Q, QuerySet
from django.db.models.expressions import RawSQL

from comptoir.inbox.models import Conversation, Message
from comptoir.inbox.search.indexes import ensure_installed, install, reindex, uninstall

__all__ = [
    "Found",
    "Terms",
    "ensure_installed",
    "found",
    "install",
    "listed_condition",
    "listed_value",
    "matching",
    "ranked",
    "reindex",
    "uninstall",
]

# Below MESSAGE_PROBE matching messages in at most CONVERSATION_CAP conversations, their ids
# are listed; so are buyers' and orders' conversations up to CONVERSATION_CAP (past it, a
# subquery).
MESSAGE_PROBE = 2000
CONVERSATION_CAP = 300
# Past this many matching messages, a term counts as common: checked row by row as the page
# walks its index order (a common word fills a page within the first few hundred rows).
COMMON_MATCHES = 10_000
# Identifiers need three characters: trigram indexes cannot serve fewer.
MIN_IDENTIFIER = 3
# How many of the newest candidates `ranked` orders by relevance.
RANK_CANDIDATES = 200

_WORD = re.compile(r"\w", re.UNICODE)


@dataclass(frozen=True)
class Terms:
    """What the user typed, as each engine wants it."""

    raw: str
    fts: str  # SQLite FTS5: one quoted phrase per whitespace-separated chunk, all required
    identifier: str  # lowercased, for identity values and order numbers ("" when not usable)

    @classmethod
    def parse(cls, q: str) -> Terms | None:
        raw = " ".join(q.split())[:200]
        chunks = [c for c in raw.split(" ") if _WORD.search(c)]
        if not chunks:
            return None
        # A quoted FTS5 string is tokenized like the text: "123-456-789" becomes the phrase
        # 123 456 789, "jean.dupont@example.com" the phrase jean dupont example com.
        fts = " ".join('"' + c.replace('"', '""') + '"' for c in chunks)
        ident = raw.lower() if len(raw) >= MIN_IDENTIFIER and " " not in raw else ""
        return cls(raw=raw, fts=fts, identifier=ident)


def matching(qs: QuerySet[Conversation], q: str) -> QuerySet[Conversation]:
    """The conversations of `qs` that match `q` (nothing when `q` has no word in it)."""
    terms = Terms.parse(q)
    if terms is None:
        return qs.none()
    return qs.filter(_engine().condition(terms))


@dataclass(frozen=True)
class Found:
    """What `q` matches, its probes run: the condition `matching` adds, and the conversations'
    ids when the condition is nothing but their list (a rare word, an order number), else None
    (a subquery or a per-row check is in it)."""

    condition: Q
    ids: list[int] | None


def found(q: str) -> Found:
    """`matching`'s plan for `q`, its probes run now (`inbox.list_page` runs a listed one from
    SQL it keeps, the ids given as one parameter: `listed_condition`)."""
    terms = Terms.parse(q)
    if terms is None:
        return Found(Q(pk__in=[]), [])
    return _engine().plan(terms)


def listed_condition(stand_in: Any) -> Q:
    """A conversation's id is in a list given as one parameter (`listed_value(ids)` in place of
    `stand_in`): the same SQL whatever the ids and however many, unlike `pk__in`."""
    return _engine().listed_condition(stand_in)


def listed_value(ids: list[int]) -> Any:
    """The parameter `listed_condition` takes for `ids`."""
    return _engine().listed_value(ids)


def plan_is_sql_only(q: str) -> bool:
    """Whether `matching(qs, q)` adds SQL that depends on nothing but `q`: a word known to be
    common (no probe runs; its condition is subqueries only), or no word at all. Otherwise its
    SQL lists what the probes found now."""
    terms = Terms.parse(q)
    return terms is None or _known_common(terms)


def ranked(qs: QuerySet[Conversation], q: str, limit: int = 20) -> list[Conversation]:
    """The best matches first, ranked among the newest RANK_CANDIDATES matching conversations
    (ranking every match of a common word takes seconds)."""
    candidates = list(
        matching(qs, q)
        .order_by(F("last_message_at").desc(nulls_last=True), "-id")
        .values_list("pk", flat=True)[:RANK_CANDIDATES]
    )
    terms = Terms.parse(q)
    if not candidates or terms is None:
        return []
    scores = _engine().scores(terms, candidates)
    # Best score first; among equals, the newest (candidates come newest first).
    position = {pk: i for i, pk in enumerate(candidates)}
    best = sorted(candidates, key=lambda pk: (-scores.get(pk, 0.0), position[pk]))[:limit]
    rows = qs.in_bulk(best)
    return [rows[pk] for pk in best if pk in rows]


# -- the engines ------------------------------------------------------------------------------


class _RowMatch(Expression):
    """A boolean condition on one row, as raw SQL with `{id}` standing for the row's id column
    and `{table}` for its table alias (both follow Django's aliases inside subqueries)."""

    conditional = True
    output_field = BooleanField()

    def __init__(self, template: str, params: list[Any], ref: Any = None) -> None:
        super().__init__(output_field=BooleanField())
        self.template, self.params = template, params
        self.ref = ref if ref is not None else F("id")

    def get_source_expressions(self) -> list[Any]:
        return [self.ref]

    def set_source_expressions(self, exprs: Any) -> None:
        (self.ref,) = exprs

    def as_sql(self, compiler: Any, connection: BaseDatabaseWrapper) -> Any:
        column, column_params = compiler.compile(self.ref)
        table = column.rsplit(".", 1)[0]
        sql = self.template.format(id=column, table=table)
        return sql, [*self.params, *column_params]


class _Engine(ABC):
    def condition(self, terms: Terms) -> Q:
        """Messages OR buyer OR order, each as a list of ids when short, else as SQL."""
        return self.plan(terms).condition

    def plan(self, terms: Terms) -> Found:
        if _known_common(terms):
            return Found(self.common_condition(terms), None)
        estimate = self.estimate(terms)
        if estimate is not None and estimate >= COMMON_MATCHES:
            # A common word: most recent conversations have it, the page stops early. All in
            # the page's statement, no probe: buyers and orders are subqueries run once.
            _remember_common(terms, estimate)
            return Found(self.common_condition(terms), None)
        probes = self.probes(terms)
        if not self.exact_estimate:
            probes.insert(0, ("count", self.message_count_sql(), [self.match_param(terms)]))
        found = _run_probes(probes)
        cond = Q(pk__in=[])
        (matches,) = found.pop("count", [estimate or 0])
        msg_ids = set(found.get("message", []))
        if matches >= COMMON_MATCHES:
            _remember_common(terms, matches)
            cond |= Q(self.messages_exist(terms))
        elif matches >= MESSAGE_PROBE or len(msg_ids) > CONVERSATION_CAP:
            # Too many to list, too few to meet early walking the page's order.
            cond |= Q(pk__in=self.message_conversations_subquery(terms))
        else:
            found.setdefault("conv", []).extend(msg_ids)
        if len(found.get("customer", [])) > CONVERSATION_CAP:
            cond |= Q(customer_id__in=self.customer_subquery(terms))
        else:
            found.setdefault("conv", []).extend(found.get("customer", []))
        if len(found.get("order", [])) > CONVERSATION_CAP:
            cond |= Q(self.order_condition(terms))
        else:
            found.setdefault("conv", []).extend(found.get("order", []))
        ids = sorted(set(found.get("conv", [])))
        listed_only = cond == Q(pk__in=[])  # no subquery or per-row check was added
        if ids:
            cond |= Q(pk__in=ids)
        return Found(cond, ids if listed_only else None)

    @abstractmethod
    def listed_condition(self, stand_in: Any) -> Q: ...

    @abstractmethod
    def listed_value(self, ids: list[int]) -> Any: ...

    def common_condition(self, terms: Terms) -> Q:
        """The cheap checks first: buyers and orders (sets built once), then the messages."""
        cond = Q(customer_id__in=self.customer_subquery(terms))
        if terms.identifier:
            cond |= Q(self.order_condition(terms))
        return cond | Q(self.messages_exist(terms))

    @abstractmethod
    def probes(self, terms: Terms) -> list[tuple[str, str, list[Any]]]: ...

    @abstractmethod
    def match_param(self, terms: Terms) -> str: ...

    # Whether `estimate` counts (capped at COMMON_MATCHES) rather than guesses.
    exact_estimate = False

    def estimate(self, terms: Terms) -> int | None:
        """How many messages match, when the engine can tell cheaply."""
        return None

    @abstractmethod
    def message_count_sql(self) -> str: ...

    @abstractmethod
    def message_conversations_subquery(self, terms: Terms) -> RawSQL: ...

    @abstractmethod
    def messages_exist(self, terms: Terms) -> Expression: ...

    @abstractmethod
    def customer_subquery(self, terms: Terms) -> RawSQL: ...

    @abstractmethod
    def order_condition(self, terms: Terms) -> Expression: ...

    @abstractmethod
    def scores(self, terms: Terms, conversation_ids: list[int]) -> dict[int, float]: ...


# Terms found common (`estimate` >= COMMON_MATCHES), per database, with when that expires: the
# next searches for them skip the count. It only picks the plan, and every plan finds the same
# conversations: a term that stopped being common (a purge) is only searched more slowly.
_COMMON: dict[tuple[str, str, str], tuple[int, float]] = {}
COMMON_SECONDS = 600
_COMMON_KEPT = 256


def _common_key(terms: Terms) -> tuple[str, str, str]:
    return (connection.alias, str(connection.settings_dict["NAME"]), terms.fts)


def _known_common(terms: Terms) -> bool:
    """Whether `terms` were found common lately (and still are by today's bar)."""
    kept = _COMMON.get(_common_key(terms))
    return kept is not None and kept[1] > time.monotonic() and kept[0] >= COMMON_MATCHES


def _remember_common(terms: Terms, matches: int) -> None:
    if len(_COMMON) >= _COMMON_KEPT:
        _COMMON.clear()  # many different common words: start again rather than track ages
    _COMMON[_common_key(terms)] = (matches, time.monotonic() + COMMON_SECONDS)


def _run_probes(probes: list[tuple[str, str, list[Any]]]) -> dict[str, list[int]]:
    """All probes in one statement (one round trip): `(source, conversation id)` rows."""
    sql = " UNION ALL ".join(f"SELECT * FROM ({s}) AS p{i}" for i, (_, s, _) in enumerate(probes))
    params = [p for _, _, ps in probes for p in ps]
    found: dict[str, list[int]] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for source, conv_id in cursor.fetchall():
            found.setdefault(source, []).append(conv_id)
    return found


_MESSAGES = Message._meta.db_table
_CONVERSATIONS = Conversation._meta.db_table


# The rowids of conversation {id}'s messages in `search_message` (`indexes._ROWID`).
_RANGE = "search_message.rowid BETWEEN ({id} << 32) AND (({id} << 32) | 4294967295)"


class _SQLite(_Engine):
    exact_estimate = True

    def listed_condition(self, stand_in: Any) -> Q:
        # Each id looked up by rowid, as for a literal list (checked at 1,000,000). A lookup,
        # not a boolean expression: SQLite would get "(...) = 1", which no index serves.
        return Q(pk__in=RawSQL("SELECT value FROM json_each(%s)", [stand_in]))

    def listed_value(self, ids: list[int]) -> Any:
        return json.dumps(ids)

    def estimate(self, terms: Terms) -> int | None:
        # FTS5 counts 10,000 rowids of one doclist in about a millisecond, and a common word
        # then skips the probe of its conversations.
        with connection.cursor() as cursor:
            cursor.execute(self.message_count_sql(), [terms.fts])
            return int(cursor.fetchone()[1])

    def probes(self, terms: Terms) -> list[tuple[str, str, list[Any]]]:
        probes = [
            (
                "message",
                # The conversation is the rowid's high half (`indexes._ROWID`): no join.
                "SELECT DISTINCT 'message', rowid >> 32 FROM search_message "
                f"WHERE search_message MATCH %s LIMIT {CONVERSATION_CAP + 1}",
                [terms.fts],
            ),
            (
                "customer",
                f"SELECT 'customer', c.id FROM {_CONVERSATIONS} c "
                f"WHERE c.customer_id IN ({self._customers_sql(terms)}) "
                f"LIMIT {CONVERSATION_CAP + 1}",
                self._customers_params(terms),
            ),
        ]
        if terms.identifier:
            probes.append(
                (
                    "order",
                    "SELECT 'order', rowid FROM search_order WHERE order_number LIKE %s "
                    f"LIMIT {CONVERSATION_CAP + 1}",
                    [_like(terms.identifier, escape=False)],
                )
            )
        return probes

    def match_param(self, terms: Terms) -> str:
        return terms.fts

    def message_count_sql(self) -> str:
        return (
            "SELECT 'count', count(*) FROM (SELECT rowid FROM search_message "
            f"WHERE search_message MATCH %s LIMIT {COMMON_MATCHES})"
        )

    def message_conversations_subquery(self, terms: Terms) -> RawSQL:
        return RawSQL(
            "SELECT rowid >> 32 FROM search_message WHERE search_message MATCH %s", [terms.fts]
        )

    def _customers_sql(self, terms: Terms) -> str:
        sql = "SELECT rowid FROM search_customer WHERE search_customer MATCH %s"
        if terms.identifier:
            sql += (
                " UNION SELECT customer_id FROM inbox_customeridentity WHERE id IN "
                "(SELECT rowid FROM search_identity WHERE value LIKE %s)"
            )
        return sql

    def _customers_params(self, terms: Terms) -> list[Any]:
        params: list[Any] = [terms.fts]
        if terms.identifier:
            params.append(_like(terms.identifier, escape=False))
        return params

    def messages_exist(self, terms: Terms) -> Expression:
        # Each conversation the page walks is one range of the word's list (its rowids,
        # `indexes._ROWID`), sought from the nearer end: FTS5 steps through a list's index
        # from where it starts reading, and a page walks the newest conversations, at the
        # list's end (at 1,000,000 conversations, from the start: 85 us a conversation, from
        # the end: 21 us; by message id, one seek per message: 130 us).
        return _RowMatch(
            f"CASE WHEN {{id}} > (SELECT max(id) / 2 FROM {_CONVERSATIONS}) "
            f"THEN (SELECT rowid FROM search_message WHERE search_message MATCH %s "
            f"AND {_RANGE} ORDER BY rowid DESC LIMIT 1) IS NOT NULL "
            f"ELSE EXISTS (SELECT 1 FROM search_message WHERE search_message MATCH %s "
            f"AND {_RANGE}) END",
            [terms.fts, terms.fts],
        )

    def customer_subquery(self, terms: Terms) -> RawSQL:
        return RawSQL(self._customers_sql(terms), self._customers_params(terms))

    def order_condition(self, terms: Terms) -> Expression:
        return _RowMatch(
            "{id} IN (SELECT rowid FROM search_order WHERE order_number LIKE %s)",
            [_like(terms.identifier, escape=False)],
        )

    def scores(self, terms: Terms, conversation_ids: list[int]) -> dict[int, float]:
        # One range of rowids per candidate conversation.
        values = ", ".join(["(%s)"] * len(conversation_ids))
        sql = (
            f"WITH c(id) AS (VALUES {values}) "
            "SELECT c.id, bm25(search_message) FROM c JOIN search_message "
            f"ON search_message MATCH %s AND {_RANGE.format(id='c.id')}"
        )
        best: dict[int, float] = {}
        with connection.cursor() as cursor:
            cursor.execute(sql, [*conversation_ids, terms.fts])
            for cid, score in cursor.fetchall():  # bm25: lower is better (an aggregate refuses it)
                best[cid] = max(best.get(cid, float("-inf")), -float(score))
        return best


class _Postgres(_Engine):
    TSQUERY = "plainto_tsquery('comptoir_search', %s)"

    def listed_condition(self, stand_in: Any) -> Q:
        # The primary key's index, in the custom and the generic plan (checked at 1,000,000).
        return Q(_RowMatch("{id} = ANY(%s::bigint[])", [stand_in]))

    def listed_value(self, ids: list[int]) -> Any:
        return list(ids)

    def probes(self, terms: Terms) -> list[tuple[str, str, list[Any]]]:
        probes = [
            (
                "message",
                f"SELECT 'message', conversation_id FROM {_MESSAGES} "
                f"WHERE search_vector @@ {self.TSQUERY} LIMIT {MESSAGE_PROBE}",
                [terms.raw],
            ),
            (
                "customer",
                f"SELECT 'customer', c.id FROM {_CONVERSATIONS} c "
                f"WHERE c.customer_id IN ({self._customers_sql(terms)}) "
                f"LIMIT {CONVERSATION_CAP + 1}",
                self._customers_params(terms),
            ),
        ]
        if terms.identifier:
            probes.append(
                (
                    "order",
                    f"SELECT 'order', id FROM {_CONVERSATIONS} WHERE order_number ILIKE %s "
                    f"LIMIT {CONVERSATION_CAP + 1}",
                    [_like(terms.identifier)],
                )
            )
        return probes

    def match_param(self, terms: Terms) -> str:
        return terms.raw

    def estimate(self, terms: Terms) -> int | None:
        # The planner's guess (from the lexeme statistics ANALYZE keeps) costs a fraction of a
        # millisecond; counting even 10,000 matches of a common word reads 25,000 rows.
        with connection.cursor() as cursor:
            cursor.execute(
                f"EXPLAIN (FORMAT JSON) SELECT 1 FROM {_MESSAGES} "
                f"WHERE search_vector @@ {self.TSQUERY}",
                [terms.raw],
            )
            (plan,) = cursor.fetchone()
        if isinstance(plan, str):
            plan = json.loads(plan)
        return int(plan[0]["Plan"]["Plan Rows"])

    def message_count_sql(self) -> str:
        return (
            f"SELECT 'count', count(*) FROM (SELECT 1 FROM {_MESSAGES} "
            f"WHERE search_vector @@ {self.TSQUERY} LIMIT {COMMON_MATCHES}) AS c"
        )

    def message_conversations_subquery(self, terms: Terms) -> RawSQL:
        # OFFSET 0 keeps the planner from turning this into a semi-join that walks the page's
        # index and probes each row's messages: for a word of a few thousand messages that
        # walk reads most of the table (measured 120 ms against 13 ms with the fence).
        return RawSQL(
            f"SELECT conversation_id FROM {_MESSAGES} WHERE search_vector @@ {self.TSQUERY} "
            "OFFSET 0",
            [terms.raw],
        )

    def _customers_sql(self, terms: Terms) -> str:
        sql = (
            "SELECT id FROM inbox_customer "
            f"WHERE to_tsvector('comptoir_search', name) @@ {self.TSQUERY}"
        )
        if terms.identifier:
            sql += " UNION SELECT customer_id FROM inbox_customeridentity WHERE value ILIKE %s"
        return sql

    def _customers_params(self, terms: Terms) -> list[Any]:
        params: list[Any] = [terms.raw]
        if terms.identifier:
            params.append(_like(terms.identifier))
        return params

    def messages_exist(self, terms: Terms) -> Expression:
        # OFFSET 0 keeps the EXISTS a check per row: beside the buyers' and orders' checks
        # (an OR) the planner would otherwise hash every match of the word first (384 ms at
        # 100,000 conversations for a word in 191,000 messages, against 1.6 ms).
        return _messages_exist(
            f"search_m.search_vector @@ {self.TSQUERY}", [terms.raw], tail="OFFSET 0"
        )

    def customer_subquery(self, terms: Terms) -> RawSQL:
        sql = f"SELECT id FROM ({self._customers_sql(terms)} OFFSET 0) AS buyers"
        return RawSQL(sql, self._customers_params(terms))

    def order_condition(self, terms: Terms) -> Expression:
        return _RowMatch("{table}.order_number ILIKE %s", [_like(terms.identifier)])

    def scores(self, terms: Terms, conversation_ids: list[int]) -> dict[int, float]:
        sql = (
            f"SELECT conversation_id, MAX(ts_rank(search_vector, {self.TSQUERY})) "
            f"FROM {_MESSAGES} WHERE conversation_id = ANY(%s) "
            f"AND search_vector @@ {self.TSQUERY} GROUP BY conversation_id"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [terms.raw, conversation_ids, terms.raw])
            return {cid: float(score) for cid, score in cursor.fetchall()}


def _messages_exist(match: str, params: list[Any], tail: str = "LIMIT 1") -> Expression:
    """Whether one of the row's conversation's messages (`search_m`) meets `match`: written
    out, as the ORM would write it, but without compiling a queryset on every search."""
    return _RowMatch(
        f"EXISTS (SELECT 1 FROM {_MESSAGES} search_m WHERE search_m.conversation_id = {{id}} "
        f"AND {match} {tail})",
        params,
    )


def _like(term: str, *, escape: bool = True) -> str:
    """`%term%`. PostgreSQL's LIKE escapes with a backslash; SQLite's trigram LIKE (no ESCAPE
    clause there) only loses `%`: a literal `_` then matches any one character, a superset."""
    if escape:
        term = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    else:
        term = term.replace("%", "")
    return f"%{term}%"


def _engine() -> _Engine:
    return _Postgres() if connection.vendor == "postgresql" else _SQLite()
