"""The demo's story, conversation by conversation: who writes, about what, what the agents do.

Pure data, no database: `build_plan` draws everything from one `random.Random(seed)`, so the
same arguments always give the same plan (the order of the draws is part of that promise).
"""

from __future__ import annotations

import random
import string
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from datetime import time as dtime
from zoneinfo import ZoneInfo

from django.conf import settings

from comptoir.accounts.models import Role
from comptoir.demo import phrases
from comptoir.demo.clock import Clock
from comptoir.demo.order_plans import plan_order
from comptoir.demo.plan import (
    AgentStep,
    Buyer,
    BuyerMessage,
    ConversationPlan,
    Ids,
    OrderPlan,
    ascii_fold,
    random_uuid,
    template_fields,
    weighted,
)
from comptoir.demo.world import (
    AGENT_PACE,
    CHANNELS,
    DAY,
    HISTORY_INTENTS,
    OPEN_DAYS,
    OUTCOMES,
    SHOPS,
    USERS,
    ChannelSpec,
)
from comptoir.inbox.models import Priority, Status


def build_plan(
    *, seed: int, conversations: int, days: int, now: datetime
) -> list[ConversationPlan]:
    """The whole demo as data; the same arguments always give the same plan."""
    planner = _Planner(random.Random(seed), now=now, days=days)
    outcomes = live_outcomes(planner.rng, conversations, days)
    return [planner.conversation(i, outcome=o) for i, o in enumerate(outcomes)]


def live_outcomes(rng: random.Random, conversations: int, days: int) -> list[str]:
    """Each live conversation's outcome: `OPEN_DAYS` days' worth of them still open (each open
    outcome at least once, in the proportions of `OUTCOMES`), the others resolved. Open ones
    all date from the last days: as many as a day's evening backlog, not weeks' worth."""
    still = {o: w for o, w in OUTCOMES.items() if o != "resolved"}
    weight = sum(still.values())
    most = conversations * weight // sum(OUTCOMES.values())
    n_open = min(round(OPEN_DAYS * conversations / max(days, 1)), most)
    out = [o for o, w in still.items() for _ in range(max(1, round(n_open * w / weight)))]
    out = out[:conversations] if n_open else []
    out += ["resolved"] * (conversations - len(out))
    rng.shuffle(out)
    return out


@dataclass(frozen=True)
class HistoryDay:
    """One day of the year's history: how many conversations open on it per channel, how
    slowly the agents answer then (1: their usual pace), and which intents the season brings
    more of (a weight multiplier each)."""

    day: date
    counts: dict[str, int]
    slowness: float = 1.0
    intents: dict[str, float] | None = None


def build_history(
    *, seed: int, days: Sequence[HistoryDay], now: datetime, first_index: int = 0
) -> list[ConversationPlan]:
    """The year before the live weeks, as data: conversations the agents resolved, each opened
    on its day, answered at its agent's pace (see `world.AGENT_PACE`), about what its
    marketplace and the season bring (`world.HISTORY_INTENTS`)."""
    planner = _Planner(random.Random(seed), now=now, days=365)
    planner.history = True
    plans: list[ConversationPlan] = []
    for day in days:
        planner.clock.first_day = day.day
        planner.season_slowness = day.slowness
        planner.season_intents = day.intents or {}
        for key, count in day.counts.items():
            spec = next(c for c in CHANNELS if c.key == key)
            for _ in range(count):
                plans.append(planner.conversation(first_index + len(plans), spec=spec))
    return plans


@dataclass
class _Story:
    """What one conversation is about, decided before its messages are written."""

    spec: ChannelSpec
    lang: str
    intent: str
    outcome: str
    order: OrderPlan | None
    ctx: dict[str, str]
    n: int  # exchanges (a buyer message and the agents' step after it)
    thanks_close: bool  # the buyer's last message is a thank-you
    partial: bool  # the last step is triage only, the reply is still owed
    assignee: str


class _Planner:
    def __init__(self, rng: random.Random, *, now: datetime, days: int) -> None:
        self.rng = rng
        self.now = now
        self.tz = ZoneInfo(settings.TIME_ZONE)
        self.ids = Ids(rng, self.tz)
        self.clock = Clock(rng, now=now, days=days, tz=self.tz)
        self.buyers: dict[tuple[str, str], list[Buyer]] = {}
        self.users = {u.username: u for u in USERS}
        self.noted = False  # at most one internal note per conversation
        # The year's history (`build_history`): every conversation resolved, the agents' pace.
        self.history = False
        self.season_slowness = 1.0
        self.season_intents: dict[str, float] = {}

    def pick(self, templates: Sequence[str], ctx: dict[str, str]) -> str:
        """A template whose fields all have a value here (no tracking number → no "suivi ...")."""
        usable = [t for t in templates if all(ctx.get(f) for f in template_fields(t))]
        return self.rng.choice(usable or list(templates)).format(**ctx)

    # - the conversation -

    def conversation(
        self, index: int, *, spec: ChannelSpec | None = None, outcome: str = "resolved"
    ) -> ConversationPlan:
        """One conversation (the history's are all resolved)."""
        rng = self.rng
        spec = spec or weighted(rng, [(c, c.weight) for c in CHANNELS])
        lang = weighted(rng, spec.languages)
        intents = [
            (i, w)
            for i, w in phrases.INTENT_WEIGHTS.items()
            if i != "thanks" or outcome == "resolved"  # a thank-you is closed, never left open
        ]
        if self.history:
            mix = HISTORY_INTENTS.get(spec.marketplace, {})
            intents = [
                (i, max(1, round(w * mix.get(i, 1.0) * self.season_intents.get(i, 1.0))))
                for i, w in intents
            ]
        intent = weighted(rng, intents)
        buyer = self.buyer(spec, lang)
        thread_id = "" if spec.is_email else self.ids.thread_id(spec)
        self.noted = False

        n = self.exchange_count(intent, outcome)
        thanks_close = outcome == "resolved" and n >= 2 and rng.random() < 0.3
        partial = outcome == "needs_reply" and rng.random() < 0.4
        if self.history:
            # Who answers is known before when: a slow agent's replies come later.
            assignee = self.agent(spec, lang) if rng.random() < 0.9 else ""
            self.clock.slowness = AGENT_PACE.get(assignee, 1.0) * self.season_slowness
        buyer_times, agent_times = self.clock.timeline(outcome, n, partial)
        order = plan_order(rng, self.ids, spec, intent, outcome, buyer_times[0], now=self.now)
        if spec.key == "fnac":
            # Fnac has no thread ids: the connector names a thread by what it is about (see
            # connectors/fnac), and a reply goes to that order or offer.
            thread_id = f"ORDER:{order.external_id}" if order else f"OFFER:{thread_id}"

        product, other = self.products(spec, order)
        ctx = self.context(spec, lang, buyer, order, product, other)
        if not self.history:
            assignee = self.agent(spec, lang) if rng.random() < 0.8 else ""
        story = _Story(spec, lang, intent, outcome, order, ctx, n, thanks_close, partial, assignee)
        exchanges = self.exchanges(story, buyer, buyer_times, agent_times)
        return ConversationPlan(
            index, spec, lang, intent, outcome, buyer, thread_id, order, exchanges
        )

    def exchange_count(self, intent: str, outcome: str) -> int:
        if intent == "thanks":
            return 1
        shapes: dict[str, tuple[tuple[int, int], ...]] = {
            "resolved": ((1, 50), (2, 35), (3, 15)),
            "needs_reply": ((1, 60), (2, 30), (3, 10)),
            "pending": ((1, 60), (2, 40)),
            "snoozed": ((1, 70), (2, 30)),
            "open_replied": ((1, 60), (2, 40)),
        }
        return weighted(self.rng, shapes[outcome])

    def exchanges(
        self,
        story: _Story,
        buyer: Buyer,
        buyer_times: list[datetime],
        agent_times: list[datetime | None],
    ) -> list[tuple[BuyerMessage, AgentStep | None]]:
        exchanges: list[tuple[BuyerMessage, AgentStep | None]] = []
        previous_ids: list[str] = []
        subject = ""
        for k, (b_at, a_at) in enumerate(zip(buyer_times, agent_times, strict=True)):
            last = k == story.n - 1
            if k == 0:
                text = self.pick(phrases.OPENINGS[story.intent][story.lang], story.ctx)
                subject = self.first_subject(story)
                msg_subject = subject
            else:
                text = self.pick(self.follow_ups(story, last=last), story.ctx)
                msg_subject = f"Re: {subject}" if story.spec.is_email else subject
            message = self.buyer_message(story, buyer, b_at, msg_subject, text, previous_ids)
            step = None
            if a_at is not None:
                step = self.agent_step(story, a_at, k=k, last=last)
            exchanges.append((message, step))
        return exchanges

    def first_subject(self, story: _Story) -> str:
        if story.spec.key == "amazon" and story.order:
            return phrases.AMAZON_SUBJECT[story.lang].format(**story.ctx)
        return self.pick(phrases.SUBJECTS[story.intent][story.lang], story.ctx)

    def follow_ups(self, story: _Story, *, last: bool) -> Sequence[str]:
        if last and story.thanks_close:
            return phrases.THANKS_FOLLOW_UPS[story.lang]
        return phrases.FOLLOW_UPS[phrases.INTENT_GROUP[story.intent]][story.lang]

    def buyer_message(
        self,
        story: _Story,
        buyer: Buyer,
        at: datetime,
        subject: str,
        text: str,
        previous_ids: list[str],
    ) -> BuyerMessage:
        """The message signed; by mail, threaded under the buyer's earlier ones."""
        spec = story.spec
        sign_off = self.pick(phrases.BUYER_SIGN_OFFS[story.lang], story.ctx)
        message = BuyerMessage(
            at=at,
            subject=subject,
            text=f"{text}\n\n{sign_off}" if sign_off else text,
            external_id="",
        )
        if spec.is_email:
            message.message_id = self.ids.message_id(spec, buyer)
            message.external_id = message.message_id
            if previous_ids:
                message.in_reply_to = previous_ids[-1]
                message.references = list(previous_ids)
            previous_ids.append(message.message_id)
        else:
            message.external_id = self.ids.external_id(spec)
        return message

    # - the agents -

    def agent_step(self, story: _Story, at: datetime, *, k: int, last: bool) -> AgentStep:
        rng = self.rng
        actor = story.assignee or self.agent(story.spec, story.lang)
        step = AgentStep(at=at, actor=actor)
        if k == 0:
            self.triage(step, story)
        if not self.noted and rng.random() < 0.2:
            step.note = self.pick(phrases.NOTES[story.intent], story.ctx)
            self.noted = True
        if story.partial and last:
            return step  # triaged (assigned, tagged) but not answered yet

        ctx = {**story.ctx, "agent": self.signature_name(actor)}
        body = self.reply_body(story, ctx, k=k, last=last)
        if body:
            greeting = phrases.GREETINGS[story.lang].format(**ctx)
            signature = phrases.SIGNATURES[story.lang].format(**ctx)
            step.reply = f"{greeting}\n\n{body}\n\n{signature}"
            step.delivery_id = (
                self.ids.message_id(story.spec, None)
                if story.spec.is_email
                else self.ids.external_id(story.spec)
            )
        if not last and body and story.outcome != "pending" and rng.random() < 0.12:
            # Closed too early: the buyer's next message reopens it (the reopen-rate KPI).
            step.status = Status.RESOLVED
        if last:
            self.close(step, story.outcome)
        return step

    def triage(self, step: AgentStep, story: _Story) -> None:
        """The first step: assigned, tagged, and made urgent when the buyer has a case."""
        rng = self.rng
        intent = story.intent
        if story.assignee:
            step.assign_to = story.assignee
            step.assign_by = "supervisor" if rng.random() < 0.35 else story.assignee
        if rng.random() < 0.9:
            step.tags.append(phrases.TAGS_BY_INTENT[intent])
        atoz = (
            story.spec.key == "amazon"
            and intent in ("not_received", "refund")
            and rng.random() < 0.25
        )
        if atoz:
            step.tags.append("A-to-z")
            step.priority = Priority.URGENT
        elif intent in ("not_received", "damaged") and rng.random() < 0.3:
            step.priority = Priority.HIGH
        if story.ctx["repeat"]:
            step.tags.append("client fidèle")
        if intent in ("damaged", "not_received", "wrong_item") and rng.random() < 0.1:
            step.tags.append("geste commercial")

    def reply_body(self, story: _Story, ctx: dict[str, str], *, k: int, last: bool) -> str:
        """What the agent writes (empty: nothing to write back)."""
        lang, intent = story.lang, story.intent
        if last and story.outcome == "pending":
            return self.pick(phrases.ASK_REPLIES[lang], ctx)
        if last and story.thanks_close:
            return ""  # the buyer said thanks: resolve without writing back
        if intent == "thanks":
            return self.pick(phrases.REPLIES[intent][lang], ctx) if self.rng.random() < 0.3 else ""
        if k == 0:
            order = story.order
            late = intent == "where_is_order" and order is not None and order.shipped_at is None
            pool = phrases.LATE_REPLIES[lang] if late else phrases.REPLIES[intent][lang]
            return self.pick(pool, ctx)
        return self.pick(phrases.SECOND_REPLIES[lang], ctx)

    def close(self, step: AgentStep, outcome: str) -> None:
        """The last step leaves the conversation in its planned final state."""
        step.status = {
            "resolved": Status.RESOLVED,
            "pending": Status.PENDING,
            "snoozed": Status.SNOOZED,
        }.get(outcome, "")
        if outcome == "snoozed":
            local = self.now.astimezone(self.tz) + self.rng.randint(1, 4) * DAY
            step.snooze_until = datetime.combine(
                local.date(), dtime(9, 0), tzinfo=self.tz
            ).astimezone(UTC)

    # - people -

    def buyer(self, spec: ChannelSpec, lang: str) -> Buyer:
        rng = self.rng
        pool = self.buyers.setdefault((spec.key, lang), [])
        if pool and rng.random() < 0.12:
            known = rng.choice(pool)
            return Buyer(known.first, known.name, known.email, spec.identity_kind,
                         known.identity_value, repeat=True)  # fmt: skip
        while True:
            first = rng.choice(phrases.FIRST_NAMES[lang])
            last = rng.choice(phrases.LAST_NAMES[lang])
            provider = rng.choice(phrases.EMAIL_PROVIDERS[lang])
            number = str(rng.randint(1, 99)) if rng.random() < 0.4 else ""
            email = f"{ascii_fold(first)}.{ascii_fold(last)}{number}@{provider}.example"
            value = email
            if spec.key == "amazon":
                alias = "".join(rng.choices(string.ascii_lowercase + string.digits, k=16))
                value = email = f"{alias}@marketplace.amazon.{phrases.AMAZON_TLD[lang]}"
            elif spec.key == "cdiscount":
                value, email = str(rng.randrange(10**7, 10**8)), ""
            elif spec.key == "fnac":
                value, email = random_uuid(rng).hex[:20].upper(), ""
            elif spec.key == "darty":
                value, email = f"darty-{rng.randrange(10**6, 10**7)}", ""
            elif spec.key == "ebay":
                value = f"{ascii_fold(first)}_{ascii_fold(last)[:5]}{rng.randint(1, 999)}"
                email = ""
            elif spec.key == "spartoo":  # Spartoo's address for the exchange (guessed form)
                token = "".join(rng.choices(string.ascii_lowercase + string.digits, k=10))
                value = email = f"msg-{token}@messagerie.spartoo.fr"
            elif spec.key == "rakuten":  # a pseudo, as Rakuten shows buyers
                value, email = f"{ascii_fold(first)}{ascii_fold(last)[:3]}{rng.randint(10, 99)}", ""
            if value not in self.ids.used and (not email or email not in self.ids.used):
                break
        self.ids.used.update({value, email} - {""})
        buyer = Buyer(first, f"{first} {last}", email, spec.identity_kind, value)
        pool.append(buyer)
        return buyer

    def agent(self, spec: ChannelSpec, lang: str) -> str:
        team = [u for u in USERS if u.role == Role.AGENT and spec.team in u.teams]
        speakers = [u for u in team if lang in u.languages]
        return self.rng.choice(speakers or team).username

    def signature_name(self, username: str) -> str:
        user = self.users[username]
        return f"{user.first_name} {user.last_name[:1]}."

    # - time -

    # - what the messages say -

    def products(self, spec: ChannelSpec, order: OrderPlan | None) -> tuple[str, str]:
        catalogue = phrases.CATALOGUE[spec.shop]
        titles = [title for _, title, _ in catalogue]
        product = str(order.items[0]["title"]) if order else self.rng.choice(titles)
        other = self.rng.choice([t for t in titles if t != product])
        return product, other

    def context(
        self,
        spec: ChannelSpec,
        lang: str,
        buyer: Buyer,
        order: OrderPlan | None,
        product: str,
        other: str,
    ) -> dict[str, str]:
        shop = next(s.name for s in SHOPS if s.slug == spec.shop)

        def day(value: datetime | None) -> str:
            if value is None:
                return ""
            local = value.astimezone(self.tz)
            return local.strftime("%d.%m." if lang == "de" else "%d/%m")

        total = ""
        if order:
            amount = f"{order.total:.2f}"
            total = f"€{amount}" if lang == "en" else f"{amount.replace('.', ',')} €"
        return {
            "order": order.external_id if order else "",
            "product": product,
            "other": other,
            "carrier": order.carrier if order else "",
            "tracking": order.tracking_number if order else "",
            "first": buyer.first,
            "customer": buyer.name,
            "shop": shop,
            "agent": "",
            "ordered": day(order.ordered_at) if order else "",
            "shipped": day(order.shipped_at) if order else "",
            "delivered": day(order.expected_delivery_at) if order else "",
            "eta": day(order.expected_delivery_at) if order else "",
            "total": total,
            "repeat": "yes" if buyer.repeat else "",
        }
