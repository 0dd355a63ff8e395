"""The rollup the KPIs read: one `ConversationFact` per conversation, one `ResponseFact` per
buyer message that opened a wait (the first of the conversation, or the first after a reply),
one `BuyerMessageFact` per buyer message.

Rows are derived, never edited: `analytics.facts.refresh` rewrites those of the conversations it
is given from the raw rows (`comptoir analytics rebuild` rewrites all). Ids of shops, channels,
teams and users are plain integers: a fact never holds up the deletion of what it describes.
"""

from __future__ import annotations

from django.db import models

from comptoir.analytics import histogram


class ConversationFact(models.Model):
    conversation_id = models.BigIntegerField(primary_key=True)
    shop_id = models.IntegerField()
    channel_id = models.IntegerField()
    marketplace = models.CharField(max_length=16)
    team_id = models.IntegerField(null=True)
    assignee_id = models.IntegerField(null=True)
    intent = models.CharField(max_length=32, blank=True, default="")
    language = models.CharField(max_length=8, blank=True, default="")
    created_at = models.DateTimeField()
    created_day = models.DateField()  # in the shop's timezone
    # The shop's local hour (0-23) and weekday (Monday = 0) of creation: the heatmap's cell.
    local_hour = models.PositiveSmallIntegerField()
    local_weekday = models.PositiveSmallIntegerField()
    first_inbound_at = models.DateTimeField(null=True)
    first_response_at = models.DateTimeField(null=True)
    first_response_seconds = models.FloatField(null=True)
    first_response_business_seconds = models.FloatField(null=True)
    resolved_at = models.DateTimeField(null=True)  # set only while the conversation is resolved
    resolution_seconds = models.FloatField(null=True)
    agent_replies = models.PositiveIntegerField(default=0)
    reopened = models.BooleanField(default=False)
    fcr = models.BooleanField(default=False)
    no_response_needed = models.BooleanField(default=False)
    within_sla = models.BooleanField(null=True)  # None: no buyer message, or still in time
    message_count = models.PositiveIntegerField(default=0)
    computed_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["created_at"], name="fact_created"),
            models.Index(fields=["channel_id", "created_at"], name="fact_channel"),
            models.Index(fields=["shop_id", "created_at"], name="fact_shop"),
            models.Index(fields=["team_id", "created_at"], name="fact_team"),
            models.Index(fields=["assignee_id", "created_at"], name="fact_assignee"),
            models.Index(fields=["resolved_at"], name="fact_resolved"),
            models.Index(fields=["shop_id", "created_day"], name="fact_shop_day"),
            # The report's worst breaches: the longest first responses first.
            models.Index(fields=["-first_response_seconds"], name="fact_first_seconds"),
        ]

    def __str__(self) -> str:
        return f"fact of conversation {self.conversation_id}"


class ResponseFact(models.Model):
    """A wait: a buyer message nobody had answered yet, and the reply that ended it."""

    conversation_id = models.BigIntegerField()
    shop_id = models.IntegerField()
    channel_id = models.IntegerField()
    marketplace = models.CharField(max_length=16)
    team_id = models.IntegerField(null=True)
    assignee_id = models.IntegerField(null=True)
    first = models.BooleanField()  # the conversation's first wait (first response time)
    received_at = models.DateTimeField()
    answered_at = models.DateTimeField(null=True)
    seconds = models.FloatField(null=True)
    business_seconds = models.FloatField(null=True)

    class Meta:
        indexes = [
            models.Index(fields=["received_at"], name="rfact_received"),
            models.Index(fields=["conversation_id"], name="rfact_conversation"),
            models.Index(fields=["channel_id", "received_at"], name="rfact_channel"),
            # The report's longest waits: the largest first, not every wait sorted.
            models.Index(fields=["-seconds"], name="rfact_seconds"),
            # And those still waiting: a few among millions, not found by walking the dates.
            models.Index(
                fields=["received_at"],
                condition=models.Q(answered_at__isnull=True),
                name="rfact_unanswered",
            ),
        ]

    def __str__(self) -> str:
        return f"wait in conversation {self.conversation_id} from {self.received_at}"


class BuyerMessageFact(models.Model):
    """A buyer message with its first reply and first "no response needed" mark at or after
    it: what the marketplaces' late-response rates count (`analytics.late_rates`), without
    looking both up per message on the raw rows."""

    message_id = models.BigIntegerField(primary_key=True)
    conversation_id = models.BigIntegerField()
    channel_id = models.IntegerField()  # the message's own channel, as the marketplace counts
    received_at = models.DateTimeField()
    answered_at = models.DateTimeField(null=True)
    marked_at = models.DateTimeField(null=True)

    class Meta:
        indexes = [
            models.Index(fields=["channel_id", "received_at"], name="mfact_channel"),
            models.Index(fields=["conversation_id"], name="mfact_conversation"),
        ]

    def __str__(self) -> str:
        return f"buyer message {self.message_id}"


# -- the daily rollup: what the KPIs of long periods read ---------------------------------------
#
# One row per shop-local day and value of the filters (shop, channel with its marketplace, team,
# assignee): sums of the facts of that day, and histograms of durations (`analytics.histogram`:
# fixed log-spaced buckets, one integer column each, so that the database sums them). Month rows
# (`month`, `day` the 1st) sum a month's day rows: a year reads twelve of those and the ragged
# days around them. Durations are summed in whole milliseconds: integer sums do not depend on
# the order rows are added in, so a kept rollup and a rebuilt one are equal to the unit. Kept by
# `analytics.rollup` from the facts, never edited otherwise.


def _histogram(prefix: str) -> dict[str, models.Field[int, int]]:
    return {f"{prefix}{k}": models.IntegerField(default=0) for k in range(histogram.BUCKETS)}


class DayKey(models.Model):
    day = models.DateField()  # in the shop's timezone
    month = models.BooleanField(default=False, db_default=False)  # the month from `day`, summed
    shop_id = models.IntegerField()
    channel_id = models.IntegerField()
    marketplace = models.CharField(max_length=16)
    team_id = models.IntegerField(null=True)
    assignee_id = models.IntegerField(null=True)

    class Meta:
        abstract = True


class ConversationDay(DayKey):
    """The conversations created that day: counts behind the shares, and resolution times."""

    conversations = models.IntegerField(default=0)
    sla_part = models.IntegerField(default=0)
    sla_whole = models.IntegerField(default=0)
    fcr_part = models.IntegerField(default=0)
    fcr_whole = models.IntegerField(default=0)
    reopen_part = models.IntegerField(default=0)
    reopen_whole = models.IntegerField(default=0)
    no_response_needed = models.IntegerField(default=0)
    messages = models.BigIntegerField(default=0)  # sum of message_count
    resolved = models.IntegerField(default=0)  # with a resolution time
    resolution_ms = models.BigIntegerField(default=0)
    locals().update(_histogram("r"))  # r0..: resolution seconds

    class Meta:
        indexes = [models.Index(fields=["month", "day", "shop_id"], name="cday_day")]

    def __str__(self) -> str:
        return f"conversations of {self.day} on channel {self.channel_id}"


class WaitDay(DayKey):
    """The waits whose buyer message arrived that day (first waits apart): the answered ones'
    response times, calendar and business."""

    first = models.BooleanField()
    answered = models.IntegerField(default=0)
    seconds_ms = models.BigIntegerField(default=0)
    business_answered = models.IntegerField(default=0)
    business_ms = models.BigIntegerField(default=0)
    locals().update(_histogram("c"))  # c0..: calendar seconds
    locals().update(_histogram("b"))  # b0..: business seconds

    class Meta:
        indexes = [models.Index(fields=["month", "day", "shop_id"], name="wday_day")]

    def __str__(self) -> str:
        return f"waits of {self.day} on channel {self.channel_id}"


class VolumeDay(DayKey):
    """Conversations created that day, by intent and language as well (volumes only)."""

    intent = models.CharField(max_length=32, blank=True, default="")
    language = models.CharField(max_length=8, blank=True, default="")
    conversations = models.IntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["month", "day", "shop_id"], name="vday_day")]

    def __str__(self) -> str:
        return f"volume of {self.day} on channel {self.channel_id}"


def _cells() -> dict[str, models.Field[int, int]]:
    return {f"h{k}": models.IntegerField(default=0) for k in range(7 * 24)}


class HourDay(DayKey):
    """The conversations created that day per shop-local weekday and hour, the heatmap's cells:
    `h{weekday * 24 + hour}` (a day row fills the 24 of its weekday; month rows sum them)."""

    locals().update(_cells())

    class Meta:
        indexes = [models.Index(fields=["month", "day", "shop_id"], name="hday_day")]

    def __str__(self) -> str:
        return f"hours of {self.day} on channel {self.channel_id}"


class BacklogDay(DayKey):
    """The conversations created that day (`day`) by the shop-local day of their resolution
    (`resolved_day`, None while open): the backlog at the end of any day is a sum of these.
    Day rows only (a month row would mix the creation days)."""

    resolved_day = models.DateField(null=True)
    conversations = models.IntegerField(default=0)

    class Meta:
        indexes = [
            models.Index(fields=["day", "shop_id"], name="bday_day"),
            models.Index(fields=["resolved_day", "shop_id"], name="bday_resolved"),
        ]

    def __str__(self) -> str:
        return f"backlog of {self.day} on channel {self.channel_id}"


class DirtyDay(models.Model):
    """A slice of the rollup (a shop's day) whose facts changed since it was last summed. The
    facts refresh marks it in its own transaction; the worker recomputes each marked slice
    once per pass (`rollup.refresh_dirty`), however many refreshes touched it meanwhile.
    Several rows may name the same slice: a mark is only inserted, never looked up."""

    shop_id = models.IntegerField()
    day = models.DateField()  # in the shop's timezone

    def __str__(self) -> str:
        return f"shop {self.shop_id}'s {self.day} to recompute"


class FactSweep(models.Model):
    """How far the sweep for lost refreshes has read a table of raw rows (messages, events):
    the highest primary key it checked. See `facts.stale`."""

    source = models.CharField(max_length=16, primary_key=True)
    checked_to = models.BigIntegerField()

    def __str__(self) -> str:
        return f"{self.source} checked to {self.checked_to}"
