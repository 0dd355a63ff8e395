"""`notify`: who is told about what, and by which means (the in-app list, an email now or in
the digest, webhooks), in a fixed number of queries whatever the number of conversations."""

from __future__ import annotations

import functools
import logging
import re
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Q
from django.utils import timezone, translation

from comptoir.accounts import permissions
from comptoir.accounts.models import Role, Team, User
from comptoir.inbox import permissions as inbox_permissions
from comptoir.lib.text import chunks
from comptoir.notifications.actions.payloads import webhook_body
from comptoir.notifications.actions.webhooks import enqueue_webhook
from comptoir.notifications.kinds import Kind

if TYPE_CHECKING:
    from comptoir.notifications.models import Webhook, WebhookDelivery

log = logging.getLogger("comptoir.notifications.actions")

# Read at most this many conversation ids per query (SQLite allows 32,766 parameters).
ID_CHUNK = 5000
# Who hears about a conversation nobody is assigned to and no team owns.
FALLBACK_ROLES = (Role.OWNER, Role.ADMIN, Role.SUPERVISOR)
CHANNEL_ROLES = (Role.OWNER, Role.ADMIN)


def flood_limit() -> int:
    """Past this many notifications within the window, a user's next ones wait for the digest."""
    return int(settings.NOTIFY_FLOOD_LIMIT)


def flood_window() -> timedelta:
    return timedelta(minutes=int(settings.NOTIFY_DIGEST_MINUTES))


@dataclass
class ConvRow:
    """A conversation as notify reads it: what decides who is told, and what they are told."""

    pk: int
    assignee_id: int | None
    team_id: int | None
    channel_id: int
    channel_team_id: int | None
    subject: str
    channel_name: str
    marketplace: str
    recipients: list[int] = field(default_factory=list)


# A recipient and the conversation they are told about (None: about the channel, or nothing).
Pair = tuple[int, int | None]


@dataclass
class _Subject:
    """What the notification is about, and who might be told (before the scope check)."""

    convs: list[ConvRow]
    channel: Mapping[str, Any] | None
    candidates: set[int]


@dataclass
class _Means:
    """How each recipient is told: the email state of their notifications and their webhooks."""

    per_user: dict[int, int]  # notifications per recipient
    state: dict[int, str]  # an EmailState per recipient
    muted: set[int]  # neither email nor webhook: nothing is stored for them
    hook_users: set[int]  # their own webhooks hear of it

    @property
    def emails_now(self) -> bool:
        from comptoir.notifications.models import EmailState

        return any(
            self.state[uid] == EmailState.QUEUED for uid in self.per_user if uid not in self.muted
        )


def notify(
    kind: str,
    *,
    conversations: Sequence[int] = (),
    users: Sequence[int] = (),
    channel_id: int | None = None,
    actor_id: int | None = None,
    text: str | Callable[[], str] = "",
    now: datetime | None = None,
) -> int:
    """Queue the notification of `kind` about these conversations (ids) or this channel.

    Recipients are `users` (ids) when given, else resolved from the kind: a conversation's
    assignee, else the members of its team, else supervisors and admins (and owners); for a
    channel, the owners and admins. Only those who may see the conversation (or channel) are
    kept, never the actor. Each recipient's preferences choose email at once, in the digest, or
    none, and whether their own webhooks hear of it; webhooks without a user hear of everything
    of their kinds. Returns the number of notifications stored; delivery runs in tasks after
    the caller's transaction commits.

    `text` is the words themselves (a buyer's, an agent's), or a function that writes them in
    the active language: then each recipient's notification is written in their own language,
    and webhooks in the site's.

    Set-based: a sweep passing thousands of conversations costs a fixed number of queries
    (one per 5,000 ids read), never one per conversation.
    """
    kind = Kind(kind).value
    now = now or timezone.now()
    subject = _subject(conversations, sorted(set(users)), channel_id)
    if subject is None:
        return 0
    subject.candidates.discard(actor_id)  # type: ignore[arg-type]
    pairs, people = _pairs_in_scope(subject)
    means = _means(kind, pairs, people, now)
    batch = uuid.uuid4().hex
    written = _Written(text, people)
    rows = _notification_rows(kind, pairs, means, subject, actor_id, written, batch, now)
    site_text = written.in_language(settings.LANGUAGE_CODE)
    deliveries = _webhook_deliveries(kind, site_text, subject, pairs, means.hook_users, now)
    if not rows and not deliveries:
        return 0
    _store(rows, deliveries, batch, emails_now=means.emails_now)
    log.debug("notify %s: %d notifications, %d webhook posts", kind, len(rows), len(deliveries))
    return len(rows)


# -- who is told ---------------------------------------------------------------------------------


def _subject(
    conversations: Sequence[int], explicit: list[int], channel_id: int | None
) -> _Subject | None:
    """The conversations or the channel read, and the candidates: `explicit` when given, else
    whom the conversations or the channel name. None when the channel is gone."""
    if conversations:
        convs = _read_conversations(conversations)
        return _Subject(convs, None, _conversation_candidates(convs, explicit))
    if channel_id is None:
        return _Subject([], None, set(explicit))
    from comptoir.inbox.models import Channel

    row = (
        Channel.objects.filter(pk=channel_id).values("pk", "name", "team_id", "marketplace")
    ).first()
    if row is None:
        return None
    return _Subject([], row, set(explicit) or _role_ids(CHANNEL_ROLES))


def _read_conversations(ids: Iterable[int]) -> list[ConvRow]:
    from comptoir.inbox.models import Conversation

    wanted = sorted(set(ids))
    out: list[ConvRow] = []
    for part in chunks(wanted, ID_CHUNK):
        rows = Conversation.objects.filter(
            pk__in=part, deleted_at__isnull=True, merged_into__isnull=True
        ).values_list(
            "pk",
            "assignee_id",
            "team_id",
            "channel_id",
            "channel__team_id",
            "subject",
            "channel__name",
            "channel__marketplace",
        )
        out.extend(ConvRow(*row) for row in rows)
    return out


def _conversation_candidates(convs: list[ConvRow], explicit: list[int]) -> set[int]:
    """Fill each conversation's `recipients`; return everyone named."""
    if explicit:
        for c in convs:
            c.recipients = explicit
        return set(explicit)
    unassigned = [c for c in convs if c.assignee_id is None]
    owner_teams = {t for c in unassigned if (t := c.team_id or c.channel_team_id) is not None}
    members: dict[int, list[int]] = defaultdict(list)
    if owner_teams:
        rows = Team.members.through.objects.filter(
            team_id__in=owner_teams, user__is_active=True
        ).values_list("team_id", "user_id")
        for team_id, user_id in rows:
            members[team_id].append(user_id)
    fallback: list[int] | None = None
    everyone: set[int] = set()
    for c in convs:
        if c.assignee_id is not None:
            c.recipients = [c.assignee_id]
        else:
            team = c.team_id or c.channel_team_id
            c.recipients = members.get(team, []) if team else []
            if not c.recipients:
                if fallback is None:
                    fallback = sorted(_role_ids(FALLBACK_ROLES))
                c.recipients = fallback
        everyone.update(c.recipients)
    return everyone


def _role_ids(roles: Iterable[str]) -> set[int]:
    return set(
        User.objects.filter(is_active=True)
        .filter(Q(role__in=list(roles)) | Q(is_superuser=True))
        .values_list("pk", flat=True)
    )


def _pairs_in_scope(subject: _Subject) -> tuple[list[Pair], dict[int, User]]:
    """The (user, conversation) pairs whose user is active and may see what it is about, and
    those users."""
    people = {
        u.pk: u
        for u in User.objects.filter(pk__in=subject.candidates, is_active=True).only(
            "pk", "role", "is_superuser", "is_active", "email", "language"
        )
    }
    teams = permissions.team_ids_by_user(
        [pk for pk, u in people.items() if not permissions.sees_everything(u)]
    )
    if subject.convs:
        pairs: list[Pair] = [
            (uid, c.pk)
            for c in subject.convs
            for uid in c.recipients
            if (user := people.get(uid)) is not None
            and inbox_permissions.sees_conversation_row(
                user,
                teams.get(uid, ()),
                channel_team_id=c.channel_team_id,
                conversation_team_id=c.team_id,
            )
        ]
    elif subject.channel is not None:
        team_id = subject.channel["team_id"]
        pairs = [
            (uid, None)
            for uid, user in people.items()
            if inbox_permissions.sees_channel_row(user, teams.get(uid, ()), team_id)
        ]
    else:
        pairs = [(uid, None) for uid in people]
    return pairs, people


# -- by which means ------------------------------------------------------------------------------


def _means(kind: str, pairs: list[Pair], people: Mapping[int, User], now: datetime) -> _Means:
    from comptoir.notifications.models import EmailState

    per_user: dict[int, int] = defaultdict(int)
    for uid, _conv in pairs:
        per_user[uid] += 1
    choices = _choices(kind, per_user, people)
    state = _email_states(choices, per_user, now)
    # A kind with neither email nor webhook is off: nothing to store either.
    muted = {uid for uid in per_user if state[uid] == EmailState.NONE and not choices[uid][1]}
    hook_users = {uid for uid in per_user if uid not in muted and choices[uid][1]}
    return _Means(per_user, state, muted, hook_users)


def _choices(
    kind: str, recipients: Iterable[int], people: Mapping[int, User]
) -> dict[int, tuple[str, bool]]:
    """Each recipient's (email choice, whether their webhooks hear of it) for `kind`: their
    preference, else email now and webhooks; no email for a user without an address."""
    from comptoir.notifications.models import EmailChoice, Preference

    wanted = set(recipients)
    saved = {
        uid: (email, hook)
        for uid, email, hook in Preference.objects.filter(
            user_id__in=wanted, kind=kind
        ).values_list("user_id", "email", "webhook")
    }
    choices: dict[int, tuple[str, bool]] = {}
    for uid in wanted:
        email, hook = saved.get(uid, (EmailChoice.NOW, True))
        choices[uid] = (email if people[uid].email else EmailChoice.OFF, hook)
    return choices


def _email_states(
    choices: Mapping[int, tuple[str, bool]], per_user: Mapping[int, int], now: datetime
) -> dict[int, str]:
    """Email at once, in the digest (by choice, or past the flood limit), or none."""
    from comptoir.notifications.models import EmailChoice, EmailState, Notification

    now_users = [uid for uid in per_user if choices[uid][0] == EmailChoice.NOW]
    recent: dict[int, int] = {}
    if now_users:
        recent = dict(
            Notification.objects.filter(user_id__in=now_users, created_at__gte=now - flood_window())
            .values("user_id")
            .annotate(n=Count("id"))
            .values_list("user_id", "n")
        )
    limit = flood_limit()
    state: dict[int, str] = {}
    for uid, count in per_user.items():
        choice = choices[uid][0]
        if choice == EmailChoice.OFF:
            state[uid] = EmailState.NONE
        elif choice == EmailChoice.DIGEST or recent.get(uid, 0) + count > limit:
            state[uid] = EmailState.DIGEST
        else:
            state[uid] = EmailState.QUEUED
    return state


# -- with which payload --------------------------------------------------------------------------


class _Written:
    """A notification's text for each recipient: as given, or written once per language."""

    def __init__(self, text: str | Callable[[], str], people: Mapping[int, User]) -> None:
        self.text, self.people = text, people
        self.by_language: dict[str, str] = {}

    def in_language(self, language: str) -> str:
        if isinstance(self.text, str):
            return self.text
        if language not in self.by_language:
            with translation.override(language):
                self.by_language[language] = self.text()
        return self.by_language[language]

    def for_user(self, uid: int) -> str:
        user = self.people.get(uid)
        return self.in_language((user.language if user else "") or settings.LANGUAGE_CODE)


def _notification_rows(
    kind: str,
    pairs: list[Pair],
    means: _Means,
    subject: _Subject,
    actor_id: int | None,
    written: _Written,
    batch: str,
    now: datetime,
) -> list[tuple[Any, ...]]:
    """The in-app notifications, as rows for `_insert_notifications` (muted users have none)."""
    channel_pk = subject.channel["pk"] if subject.channel else None
    at = connection.ops.adapt_datetimefield_value(now)
    return [
        (
            uid,
            kind,
            conv_id,
            channel_pk,
            actor_id,
            written.for_user(uid)[:5000],
            batch,
            at,
            means.state[uid],
            0,
            "",
        )
        for uid, conv_id in pairs
        if uid not in means.muted
    ]


def _webhook_deliveries(
    kind: str,
    text: str,
    subject: _Subject,
    pairs: list[Pair],
    hook_users: set[int],
    now: datetime,
) -> list[WebhookDelivery]:
    """Webhooks without a user hear everything of their kinds; a user's own hear what that
    user was notified of, if they want it."""
    from comptoir.notifications.models import Webhook, WebhookDelivery

    hooks = [
        h
        for h in Webhook.objects.filter(is_active=True).filter(
            Q(user__isnull=True) | Q(user_id__in=hook_users)
        )
        if h.wants(kind)
    ]
    if not hooks:
        return []
    by_user: dict[int, set[int]] = defaultdict(set)
    for uid, conv_id in pairs:
        if conv_id is not None:
            by_user[uid].add(conv_id)
    deliveries: list[WebhookDelivery] = []
    for hook in hooks:
        about = _hook_hears_of(hook, subject, pairs, by_user, hook_users)
        if about is None:
            continue
        with translation.override(settings.LANGUAGE_CODE):
            body = webhook_body(hook.format, kind, text, about, subject.channel, now)
        deliveries.append(WebhookDelivery(webhook=hook, kind=kind, body=body, created_at=now))
    return deliveries


def _hook_hears_of(
    hook: Webhook,
    subject: _Subject,
    pairs: list[Pair],
    by_user: Mapping[int, set[int]],
    hook_users: set[int],
) -> list[ConvRow] | None:
    """The conversations `hook` is told about, or None when it hears nothing."""
    if hook.user_id is None:
        if not subject.convs and subject.channel is None and not pairs:
            return None
        return subject.convs
    if hook.user_id not in hook_users:
        return None
    mine = by_user.get(hook.user_id, set())
    return [c for c in subject.convs if c.pk in mine]


# -- storing, then delivering after the commit ---------------------------------------------------


def _store(
    rows: list[tuple[Any, ...]],
    deliveries: list[WebhookDelivery],
    batch: str,
    *,
    emails_now: bool,
) -> None:
    from comptoir.notifications.models import WebhookDelivery

    with transaction.atomic():
        _insert_notifications(rows)
        WebhookDelivery.objects.bulk_create(deliveries)
        if emails_now:
            transaction.on_commit(functools.partial(_enqueue_emails, batch))
        for d in deliveries:
            transaction.on_commit(functools.partial(enqueue_webhook, d.pk))


def _enqueue_emails(batch: str) -> None:
    from comptoir.notifications.tasks import send_notification_emails

    send_notification_emails.enqueue(batch)


_COLUMNS = (
    "user_id",
    "kind",
    "conversation_id",
    "channel_id",
    "actor_id",
    "text",
    "batch",
    "created_at",
    "email_state",
    "email_attempts",
    "email_error",
)


def _insert_notifications(rows: list[tuple[Any, ...]]) -> None:
    """One statement run for every row (executemany): building thousands of model instances
    and their SQL through bulk_create took ~0.5 s for 4,500 rows, this takes a few ms."""
    from comptoir.notifications.models import Notification

    if not rows:
        return
    qn = connection.ops.quote_name
    table = qn(Notification._meta.db_table)
    columns = ", ".join(qn(c) for c in _COLUMNS)
    marks = ", ".join(["%s"] * len(_COLUMNS))
    with connection.cursor() as cursor:
        cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)


# -- mentions ----------------------------------------------------------------------------------

# Django usernames: letters, digits and @ . + - _ ; a mention ends before trailing punctuation.
MENTION = re.compile(r"(?<![\w@.+-])@([\w.+-]*\w)")


def mentioned_usernames(text: str) -> list[str]:
    return sorted({m.group(1) for m in MENTION.finditer(text)})


def notify_mentions(conversation_id: int, text: str, *, actor_id: int | None) -> int:
    """Tell the users named `@username` in a note; those who may not see it are left out."""
    names = mentioned_usernames(text)
    if not names:
        return 0
    ids = list(User.objects.filter(username__in=names, is_active=True).values_list("pk", flat=True))
    if not ids:
        return 0
    return notify(
        Kind.MENTIONED, conversations=[conversation_id], users=ids, actor_id=actor_id, text=text
    )
