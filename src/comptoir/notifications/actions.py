"""Telling people: the one entry point the SLA sweep, the rules and the inbox actions call.

Delivery (email, webhooks, digests, per-user preferences) is this app's business; callers only
say what happened and about what.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import logging
import re
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from comptoir.accounts import permissions
from comptoir.accounts.models import Role, Team, User
from comptoir.inbox import permissions as inbox_permissions
from comptoir.lib.text import chunks
from comptoir.notifications.kinds import TEST_KIND, Kind

if TYPE_CHECKING:
    from comptoir.notifications.models import (
        ReceivedPayload,
        TestReceiver,
        Webhook,
        WebhookDelivery,
    )

__all__ = ["Kind", "notify"]

log = logging.getLogger(__name__)

# Read at most this many conversation ids per query (SQLite allows 32,766 parameters).
ID_CHUNK = 5000
# A webhook payload lists at most this many conversations (and says how many there were).
PAYLOAD_CONVERSATIONS = 50
# Who hears about a conversation nobody is assigned to and no team owns.
FALLBACK_ROLES = (Role.OWNER, Role.ADMIN, Role.SUPERVISOR)
CHANNEL_ROLES = (Role.OWNER, Role.ADMIN)


def flood_limit() -> int:
    """Past this many notifications within the window, a user's next ones wait for the digest."""
    return int(settings.NOTIFY_FLOOD_LIMIT)


def flood_window() -> timedelta:
    return timedelta(minutes=int(settings.NOTIFY_DIGEST_MINUTES))


@dataclass
class _Conv:
    pk: int
    assignee_id: int | None
    team_id: int | None
    channel_id: int
    channel_team_id: int | None
    subject: str
    channel_name: str
    marketplace: str
    recipients: list[int] = field(default_factory=list)


def notify(
    kind: str,
    *,
    conversations: Sequence[int] = (),
    users: Sequence[int] = (),
    channel_id: int | None = None,
    actor_id: int | None = None,
    text: str = "",
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

    Set-based: a sweep passing thousands of conversations costs a fixed number of queries
    (one per 5,000 ids read), never one per conversation.
    """
    from comptoir.notifications.models import (
        EmailChoice,
        EmailState,
        Notification,
        Preference,
        Webhook,
        WebhookDelivery,
    )

    kind = Kind(kind).value
    now = now or timezone.now()
    explicit = sorted(set(users))
    convs: list[_Conv] = []
    channel_row: Mapping[str, Any] | None = None
    if conversations:
        convs = _read_conversations(conversations)
        candidates = _conversation_candidates(convs, explicit)
    elif channel_id is not None:
        from comptoir.inbox.models import Channel

        channel_row = (
            Channel.objects.filter(pk=channel_id).values("pk", "name", "team_id", "marketplace")
        ).first()
        if channel_row is None:
            return 0
        candidates = set(explicit) or _role_ids(CHANNEL_ROLES)
    else:
        candidates = set(explicit)
    candidates.discard(actor_id)  # type: ignore[arg-type]
    people = {
        u.pk: u
        for u in User.objects.filter(pk__in=candidates, is_active=True).only(
            "pk", "role", "is_superuser", "is_active", "email"
        )
    }
    teams = permissions.team_ids_by_user(
        [pk for pk, u in people.items() if not permissions.sees_everything(u)]
    )

    # (user, conversation) pairs that survive the scope check.
    pairs: list[tuple[int, int | None]] = []
    if convs:
        for c in convs:
            for uid in c.recipients:
                user = people.get(uid)
                if user is not None and inbox_permissions.sees_conversation_row(
                    user,
                    teams.get(uid, ()),
                    channel_team_id=c.channel_team_id,
                    conversation_team_id=c.team_id,
                ):
                    pairs.append((uid, c.pk))
    elif channel_row is not None:
        pairs = [
            (uid, None)
            for uid, user in people.items()
            if inbox_permissions.sees_channel_row(user, teams.get(uid, ()), channel_row["team_id"])
        ]
    else:
        pairs = [(uid, None) for uid in people]

    recipients = {uid for uid, _conv in pairs}
    prefs = {
        uid: (email, hook)
        for uid, email, hook in Preference.objects.filter(
            user_id__in=recipients, kind=kind
        ).values_list("user_id", "email", "webhook")
    }

    def email_choice(uid: int) -> str:
        if not people[uid].email:
            return EmailChoice.OFF
        return prefs.get(uid, (EmailChoice.NOW, True))[0]

    def wants_webhook(uid: int) -> bool:
        return prefs.get(uid, (EmailChoice.NOW, True))[1]

    per_user: dict[int, int] = defaultdict(int)
    for uid, _conv in pairs:
        per_user[uid] += 1
    now_users = [uid for uid in per_user if email_choice(uid) == EmailChoice.NOW]
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
        choice = email_choice(uid)
        if choice == EmailChoice.OFF:
            state[uid] = EmailState.NONE
        elif choice == EmailChoice.DIGEST or recent.get(uid, 0) + count > limit:
            state[uid] = EmailState.DIGEST
        else:
            state[uid] = EmailState.QUEUED
    # A kind with neither email nor webhook is off: nothing to store either.
    muted = {uid for uid in per_user if state[uid] == EmailState.NONE and not wants_webhook(uid)}

    batch = uuid.uuid4().hex
    channel_pk = channel_row["pk"] if channel_row else None
    at = connection.ops.adapt_datetimefield_value(now)
    body = text[:5000]
    rows = [
        (uid, kind, conv_id, channel_pk, actor_id, body, batch, at, state[uid], 0, "")
        for uid, conv_id in pairs
        if uid not in muted
    ]

    # Webhooks: those without a user hear everything of their kinds; a user's own hear what
    # that user was notified of, if they want it.
    hook_users = {uid for uid in per_user if uid not in muted and wants_webhook(uid)}
    hooks = [
        h
        for h in Webhook.objects.filter(is_active=True).filter(
            Q(user__isnull=True) | Q(user_id__in=hook_users)
        )
        if h.wants(kind)
    ]
    deliveries: list[WebhookDelivery] = []
    if hooks:
        by_user: dict[int, set[int]] = defaultdict(set)
        for uid, conv_id in pairs:
            if conv_id is not None:
                by_user[uid].add(conv_id)
        for hook in hooks:
            if hook.user_id is None:
                if not convs and channel_row is None and not pairs:
                    continue
                about = convs
            else:
                if hook.user_id not in hook_users:
                    continue
                mine = by_user.get(hook.user_id, set())
                about = [c for c in convs if c.pk in mine]
            with translation.override(settings.LANGUAGE_CODE):
                body = _payload(hook.format, kind, text, about, channel_row, now)
            deliveries.append(WebhookDelivery(webhook=hook, kind=kind, body=body, created_at=now))

    if not rows and not deliveries:
        return 0
    with transaction.atomic():
        _insert_notifications(rows)
        WebhookDelivery.objects.bulk_create(deliveries)
        if any(state[uid] == EmailState.QUEUED for uid in per_user if uid not in muted):
            transaction.on_commit(functools.partial(_enqueue_emails, batch))
        for d in deliveries:
            transaction.on_commit(functools.partial(_enqueue_webhook, d.pk))
    log.debug("notify %s: %d notifications, %d webhook posts", kind, len(rows), len(deliveries))
    return len(rows)


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


def _read_conversations(ids: Iterable[int]) -> list[_Conv]:
    from comptoir.inbox.models import Conversation

    wanted = sorted(set(ids))
    out: list[_Conv] = []
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
        out.extend(_Conv(*row) for row in rows)
    return out


def _conversation_candidates(convs: list[_Conv], explicit: list[int]) -> set[int]:
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


def conversation_url(conv_id: int) -> str:
    return settings.SITE_URL + reverse("inbox:conversation", args=[conv_id])


def channel_url(channel_id: int) -> str:
    return f"{settings.SITE_URL}{reverse('settings:channels')}#channel-{channel_id}"


# The kinds' labels speak for the user choosing ("Assigned to me"); a message speaks to them.
HEADLINES: dict[str, Any] = {
    Kind.ASSIGNED: gettext_lazy("Assigned to you"),
    Kind.MENTIONED: gettext_lazy("You were mentioned"),
}


def headline(kind: str, count: int, channel_name: str = "", subject: str = "") -> str:
    """One line saying what happened (the mail's subject, the Slack message's first line)."""
    if kind == Kind.CHANNEL_UNHEALTHY:
        return _("%(name)s has stopped: it needs you") % {"name": channel_name}
    if kind == TEST_KIND:
        return _("Test from Comptoir: this webhook works")
    label = str(HEADLINES.get(kind) or Kind(kind).label)
    if count == 1 and subject:
        return f"{label}: {subject}"
    if count > 1:
        return _("%(label)s: %(count)d conversations") % {"label": label, "count": count}
    return label


def _payload(
    fmt: str,
    kind: str,
    text: str,
    convs: Sequence[_Conv],
    channel: Mapping[str, Any] | None,
    now: datetime,
) -> str:
    shown = convs[:PAYLOAD_CONVERSATIONS]
    title = headline(
        kind,
        len(convs),
        channel_name=channel["name"] if channel else "",
        subject=convs[0].subject if len(convs) == 1 else "",
    )
    if fmt == "slack":
        lines = [f"*{title}*"]
        if text:
            lines.append(text)
        lines += [f"• <{conversation_url(c.pk)}|#{c.pk} {c.subject or '—'}>" for c in shown]
        if len(convs) > len(shown):
            lines.append(_("… and %(n)d more") % {"n": len(convs) - len(shown)})
        if channel:
            lines.append(f"<{channel_url(channel['pk'])}|{channel['name']}>")
        return json.dumps({"text": "\n".join(lines)}, ensure_ascii=False)
    data: dict[str, Any] = {
        "kind": kind,
        "title": title,
        "text": text,
        "at": now.isoformat(),
        "conversation_count": len(convs),
        "conversations": [
            {
                "id": c.pk,
                "subject": c.subject,
                "channel": c.channel_name,
                "marketplace": c.marketplace,
                "url": conversation_url(c.pk),
            }
            for c in shown
        ],
    }
    if channel:
        data["channel"] = {
            "id": channel["pk"],
            "name": channel["name"],
            "marketplace": channel["marketplace"],
            "url": channel_url(channel["pk"]),
        }
    return json.dumps(data, ensure_ascii=False)


def _enqueue_emails(batch: str) -> None:
    from comptoir.notifications.tasks import send_notification_emails

    send_notification_emails.enqueue(batch)


def _enqueue_webhook(delivery_id: int) -> None:
    from comptoir.notifications.tasks import deliver_webhook

    deliver_webhook.enqueue(delivery_id)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """`X-Comptoir-Signature`: HMAC-SHA256 of "<timestamp>." + body, hex, prefixed "sha256="."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


# -- sources -----------------------------------------------------------------------------------

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


# -- preferences, webhooks, the list -----------------------------------------------------------


def set_preferences(user: User, choices: Mapping[str, tuple[str, bool]]) -> None:
    """Save `user`'s choice (email, webhook) for each kind named."""
    from comptoir.notifications.models import EmailChoice, Preference

    for kind, (email, hook) in choices.items():
        Kind(kind)
        if email not in EmailChoice.values:
            raise ValidationError(f"unknown email choice {email!r}")
        Preference.objects.update_or_create(
            user=user, kind=kind, defaults={"email": email, "webhook": bool(hook)}
        )


def preferences_of(user: User) -> dict[str, tuple[str, bool]]:
    from comptoir.notifications.models import EmailChoice, Preference

    saved = {
        k: (e, w)
        for k, e, w in Preference.objects.filter(user=user).values_list("kind", "email", "webhook")
    }
    return {k: saved.get(k, (EmailChoice.NOW, True)) for k in Kind.values}


def _require_admin(actor: User) -> None:
    if not permissions.can_manage_channels(actor):
        raise PermissionDenied("webhooks are for owners and admins")


def create_webhook(
    *,
    actor: User,
    name: str,
    url: str,
    fmt: str,
    kinds: Sequence[str] = (),
    user: User | None = None,
    secret: str | None = None,
) -> Webhook:
    """A new webhook, with a generated signing secret unless one is given ('' for none)."""
    from comptoir.notifications.models import Webhook, WebhookFormat

    _require_admin(actor)
    if fmt not in WebhookFormat.values:
        raise ValidationError(f"unknown webhook format {fmt!r}")
    if not url.startswith(("http://", "https://")):
        raise ValidationError("a webhook URL starts with http:// or https://")
    hook = Webhook(
        name=name.strip() or url,
        url=url,
        format=fmt,
        kinds=[Kind(k).value for k in kinds],
        user=user,
        created_by=actor,
    )
    hook.set_secret(Webhook.new_secret() if secret is None else secret)
    hook.full_clean(exclude=["secret_encrypted", "kinds"])
    hook.save()
    return hook


def set_webhook_active(hook: Webhook, *, actor: User, active: bool) -> None:
    _require_admin(actor)
    type(hook).objects.filter(pk=hook.pk).update(is_active=active)
    hook.is_active = active


def delete_webhook(hook: Webhook, *, actor: User) -> None:
    _require_admin(actor)
    hook.delete()


def send_test(hook: Webhook, *, actor: User) -> WebhookDelivery:
    """Queue a test post to `hook` (active or not); the settings page shows how it went."""
    from comptoir.notifications.models import WebhookDelivery

    _require_admin(actor)
    now = timezone.now()
    body = _payload(
        hook.format,
        TEST_KIND,
        _("Sent by %(name)s from the notification settings.") % {"name": actor.display_name},
        [],
        None,
        now,
    )
    with transaction.atomic():
        delivery = WebhookDelivery.objects.create(
            webhook=hook, kind=TEST_KIND, body=body, created_at=now
        )
        transaction.on_commit(functools.partial(_enqueue_webhook, delivery.pk))
    return delivery


def mark_read(user: User, ids: Sequence[int] | None = None) -> int:
    """Mark the user's notifications read (these ids, or all of them)."""
    from comptoir.notifications.models import Notification

    qs = Notification.objects.filter(user=user, read_at__isnull=True)
    if ids is not None:
        qs = qs.filter(pk__in=list(ids))
    return qs.update(read_at=timezone.now())


def unread_count(user: User, cap: int = 99) -> int:
    from comptoir.notifications.models import Notification

    # Capped: the header needs "99+", not an exact count over a year of sweeps.
    return len(
        Notification.objects.filter(user=user, read_at__isnull=True).values_list("pk")[: cap + 1]
    )


# -- the test receiver -------------------------------------------------------------------------

RECEIVER_KEEP = 200


def create_receiver(*, actor: User, name: str) -> TestReceiver:
    from comptoir.notifications.models import TestReceiver

    _require_admin(actor)
    return TestReceiver.objects.create(name=name or "Test receiver", token=TestReceiver.new_token())


def receiver_url(receiver: TestReceiver) -> str:
    return settings.SITE_URL + reverse("test_hook", args=[receiver.token])


def record_received(
    receiver: TestReceiver, *, body: bytes, signature: str, timestamp: str
) -> ReceivedPayload:
    """Keep a payload the test receiver got; check its signature against the secrets of the
    webhooks that point at this receiver."""
    from comptoir.notifications.models import ReceivedPayload, Webhook

    valid: bool | None = None
    secrets = [
        h.secret
        for h in Webhook.objects.filter(url__endswith=f"/hooks/test/{receiver.token}/")
        if h.secret_encrypted
    ]
    if secrets:
        valid = bool(signature) and any(
            hmac.compare_digest(sign(s, timestamp, body), signature) for s in secrets
        )
    payload = ReceivedPayload.objects.create(
        receiver=receiver,
        body=body.decode("utf-8", errors="replace"),
        signature=signature[:200],
        signature_valid=valid,
    )
    # Keep the newest only: the receiver is open to anyone holding its token.
    old = ReceivedPayload.objects.filter(receiver=receiver).order_by("-id")[RECEIVER_KEEP:]
    stale = list(old.values_list("pk", flat=True)[:1000])
    if stale:
        ReceivedPayload.objects.filter(pk__in=stale).delete()
    return payload
