"""What the batch store reads before it writes: channels (cached), messages already stored,
customers (created when new) and orders."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from comptoir.inbox import fastsql
from comptoir.inbox.ingest.base import _Pending
from comptoir.inbox.ingest.sql import _any_of, _table
from comptoir.inbox.models import (
    Channel,
    Customer,
    CustomerIdentity,
    Message,
)
from comptoir.lib.buyers import clean_name
from comptoir.orders.models import Order

# What ingest reads of a channel (shop, team, kind, marketplace) changes seldom; reading it for
# every message cost a query each. Saving a channel clears its entry in this process; other
# processes see the change within CHANNEL_CACHE_SECONDS.
CHANNEL_CACHE_SECONDS = 30.0


_channel_cache: dict[int, tuple[float, Channel]] = {}


def _channels(ids: set[int]) -> dict[int, Channel]:
    now = time.monotonic()
    found = {i: hit[1] for i in ids if (hit := _channel_cache.get(i)) and hit[0] > now}
    missing = ids - found.keys()
    if missing:
        for channel in Channel.objects.filter(pk__in=missing).only(
            "id", "shop_id", "team_id", "kind", "marketplace"
        ):
            _channel_cache[channel.pk] = (now + CHANNEL_CACHE_SECONDS, channel)
            found[channel.pk] = channel
    return found


@receiver([post_save, post_delete], sender=Channel)
def _forget_channel(sender: type[Channel], instance: Channel, **kwargs: Any) -> None:
    _channel_cache.pop(instance.pk, None)


def _existing_keys(pending: list[_Pending]) -> dict[tuple[int, str], int]:
    by_channel: dict[int, list[str]] = {}
    for p in pending:
        by_channel.setdefault(p.channel.pk, []).append(p.msg.external_id)
    where, params = _any_of("channel_id", "external_id", by_channel)
    rows = fastsql.select(
        f"SELECT channel_id, external_id, id FROM {_table(Message)} WHERE {where}", params
    )
    return {(c, e): i for c, e, i in rows}


def _customer_query(fresh: list[_Pending]) -> tuple[str, list[Any]]:
    wanted: dict[str, set[str]] = {}
    for p in fresh:
        sender = p.msg.sender
        wanted.setdefault(sender.identity_kind, set()).add(sender.identity_value.lower())
        if sender.email:
            wanted.setdefault("email", set()).add(sender.email.lower())
    if connection.vendor == "postgresql":
        # One lookup per pair, which only the unique (kind, value) index answers: with
        # `value IN (...)`, once ANALYZE had run, PostgreSQL read search's trigram index (it
        # serves equality too), whose lookup of an address walks the posting lists of its
        # common trigrams ("exa", "com"): 150 ms a batch among 3,000 buyers, 0.8 s once the
        # plan was generic; a join on the pairs did the same under the generic plan.
        pairs = [(kind, value) for kind, values in wanted.items() for value in sorted(values)]
        table = _table(CustomerIdentity)
        return (
            "SELECT kind, value, customer_id FROM (SELECT v.kind, v.value, "
            f"(SELECT i.customer_id FROM {table} i WHERE i.kind = v.kind AND i.value = v.value) "
            "AS customer_id FROM UNNEST(%s::text[], %s::text[]) AS v(kind, value)) AS found "
            "WHERE customer_id IS NOT NULL",
            [[k for k, _ in pairs], [v for _, v in pairs]],
        )
    where, params = _any_of("kind", "value", wanted)
    return f"SELECT kind, value, customer_id FROM {_table(CustomerIdentity)} WHERE {where}", params


def _resolve_customers(
    fresh: list[_Pending], now: datetime, rows: list[tuple[Any, ...]], ids: list[int]
) -> dict[tuple[str, str], int]:
    """Map (identity kind, value) → customer id, creating buyers seen for the first time.

    `rows` answer `_customer_query`; `ids` are reserved for new buyers (or empty). A new
    identity that carries an email already known joins that customer: the same buyer writing
    on another channel.
    """
    known = {(kind, value): cid for kind, value, cid in rows}
    new_customers: dict[tuple[str, str], Customer] = {}
    new_identities: list[tuple[tuple[str, str], CustomerIdentity]] = []
    for p in fresh:
        sender = p.msg.sender
        key = (sender.identity_kind, sender.identity_value.lower())
        if key in known or key in new_customers:
            continue
        email = sender.email.lower()
        identity = CustomerIdentity(kind=key[0], value=key[1], channel=p.channel)
        if email and ("email", email) in known:
            known[key] = known[("email", email)]
            new_identities.append((key, identity))
            continue
        if email and ("email", email) in new_customers:  # seen earlier in this batch
            new_customers[key] = new_customers[("email", email)]
            new_identities.append((key, identity))
            continue
        customer = Customer(
            id=ids.pop() if ids else None,
            name=clean_name(sender.name),  # the relay's dressing off, once
            email=email,
            language=p.msg.language,
            created_at=p.msg.sent_at,
        )
        new_customers[key] = customer
        new_identities.append((key, identity))
        if email and key != ("email", email):
            new_customers[("email", email)] = customer
            new_identities.append(
                (("email", email), CustomerIdentity(kind="email", value=email, channel=p.channel))
            )
    if new_customers:
        fastsql.insert(list({id(c): c for c in new_customers.values()}.values()))
        for key, customer in new_customers.items():
            known[key] = customer.pk
    for key, identity in new_identities:
        identity.customer_id = known[key]
        identity.created_at = now
    if new_identities:
        fastsql.insert([identity for _, identity in new_identities], returning=False)
    return known


def _order_query(fresh: list[_Pending]) -> tuple[str, list[Any]] | None:
    """The shop's orders the batch's messages name (an Amazon order may be known through
    another channel of the shop than the mailbox the buyer wrote to)."""
    wanted: dict[int, set[str]] = {}
    for p in fresh:
        if p.msg.order_number:
            wanted.setdefault(p.channel.shop_id, set()).add(p.msg.order_number)
    if not wanted:
        return None
    where, params = _any_of("shop_id", "external_id", wanted)
    return f"SELECT shop_id, external_id, channel_id, id FROM {_table(Order)} WHERE {where}", params


class _Orders:
    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self.found: dict[tuple[int, str], list[tuple[int, int]]] = {}
        for shop_id, number, channel_id, order_id in sorted(rows, key=lambda r: r[3]):
            self.found.setdefault((shop_id, number), []).append((channel_id, order_id))

    def pick(self, shop_id: int, number: str, channel_id: int) -> int | None:
        """The order of this number on the conversation's channel, else the shop's first."""
        candidates = self.found.get((shop_id, number), [])
        for order_channel, order_id in candidates:
            if order_channel == channel_id:
                return order_id
        return candidates[0][1] if candidates else None
