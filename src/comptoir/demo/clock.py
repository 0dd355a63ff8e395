"""When things happen in the demo: buyers write in their waking hours, agents answer in
business hours, and each conversation's story ends where its outcome needs it."""

from __future__ import annotations

import math
import random
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from zoneinfo import ZoneInfo

from comptoir.demo.plan import weighted
from comptoir.demo.world import BUYER_HOUR_WEIGHTS, BUYER_HOURS, DAY, HOUR, MINUTE


class Clock:
    def __init__(self, rng: random.Random, *, now: datetime, days: int, tz: ZoneInfo) -> None:
        self.rng = rng
        self.now = now
        self.days = days
        self.tz = tz
        # The year's history (`planner.build_history`): the day its first message comes in,
        # and how slowly the agents answer (their own pace times the season's load).
        self.first_day: date | None = None
        self.slowness = 1.0

    def timeline(
        self, outcome: str, n: int, partial: bool
    ) -> tuple[list[datetime], list[datetime | None]]:
        """Times of each buyer message and agent step, placed in the window the outcome needs."""
        rng = self.rng
        base = self.first_day or (self.now - 400 * DAY).astimezone(self.tz).date()
        t = self.local(
            base, weighted(self.rng, list(zip(BUYER_HOURS, BUYER_HOUR_WEIGHTS, strict=True)))
        )
        buyer_times: list[datetime] = []
        agent_times: list[datetime | None] = []
        for k in range(n):
            buyer_times.append(t)
            if k == n - 1 and outcome == "needs_reply" and not partial:
                agent_times.append(None)
                break
            quick = k == n - 1 and partial
            delay = timedelta(minutes=rng.randint(5, 90)) if quick else self.reply_delay()
            answered = self.working_time(t + delay)
            agent_times.append(answered)
            t = self.buyer_time(answered + timedelta(minutes=rng.randint(60, 72 * 60)))

        if self.first_day is not None:
            return buyer_times, agent_times  # already on its day: no window to place it in
        start = buyer_times[0]
        end = buyer_times[-1] if outcome == "needs_reply" else agent_times[-1] or buyer_times[-1]
        now = self.now
        if outcome == "resolved":
            lo, hi = now - self.days * DAY + (end - start), now - HOUR
        elif outcome == "needs_reply":
            # Most came in yesterday (due soon, or just breached); a backlog is older.
            lo, hi = (
                (now - DAY, now - 10 * MINUTE)
                if rng.random() < 0.65
                else (now - 8 * DAY, now - DAY)
            )
        elif outcome == "pending":
            lo, hi = now - 6 * DAY, now - 30 * MINUTE
        elif outcome == "snoozed":
            lo, hi = now - 5 * DAY, now - 30 * MINUTE
        else:
            lo, hi = now - 4 * DAY, now - 30 * MINUTE
        # Whole days, so that the hours of the day (business hours for agents) are kept.
        k_min, k_max = math.ceil((lo - end) / DAY), math.floor((hi - end) / DAY)
        shift = (rng.randint(k_min, k_max) if k_min <= k_max else k_max) * DAY
        buyer_times = [b + shift for b in buyer_times]
        agent_times = [a + shift if a else None for a in agent_times]
        if agent_times[-1] is not None and agent_times[-1] > now - MINUTE:
            agent_times[-1] = None  # a triage step that would be in the future: not done yet
        return buyer_times, agent_times

    def local(self, day: date, hour: int) -> datetime:
        minutes = hour * 60 + self.rng.randrange(60)
        moment = datetime.combine(day, dtime(0, 0), tzinfo=self.tz) + timedelta(
            minutes=minutes, seconds=self.rng.randrange(60)
        )
        return moment.astimezone(UTC)

    def reply_delay(self) -> timedelta:
        r = self.rng.random()
        if r < 0.4:
            minutes = self.rng.randint(10, 120)
        elif r < 0.75:
            minutes = self.rng.randint(120, 8 * 60)
        elif r < 0.95:
            minutes = self.rng.randint(8 * 60, 24 * 60)
        else:
            minutes = self.rng.randint(24 * 60, 48 * 60)
        return timedelta(minutes=minutes * self.slowness)

    def working_time(self, t: datetime) -> datetime:
        """Agents work Monday to Saturday noon, 8:30 to 19:00: move `t` into those hours."""
        local = t.astimezone(self.tz)
        for _ in range(3):
            closes = 13 if local.weekday() == 5 else 19
            if local.weekday() == 6 or local.hour >= closes:
                day = local.date() + DAY
            elif local.hour < 8:
                day = local.date()
            else:
                break
            local = datetime.combine(day, dtime(8, 30), tzinfo=self.tz) + timedelta(
                minutes=self.rng.randint(0, 120)
            )
        return local.astimezone(UTC)

    def buyer_time(self, t: datetime) -> datetime:
        local = t.astimezone(self.tz)
        if local.hour < 7:
            local = local.replace(hour=self.rng.randint(7, 10))
        return local.astimezone(UTC)
