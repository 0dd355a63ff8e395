"""Delivering notifications: mail now, mail in a digest, webhook posts (with retries)."""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMessage
from django.db.models import F
from django.tasks import task
from django.template.loader import render_to_string
from django.utils import timezone, translation

from comptoir.accounts.models import User
from comptoir.jobs.periodic import periodic
from comptoir.jobs.retry import retry_later
from comptoir.lib import http
from comptoir.notifications.actions import (
    channel_url,
    conversation_url,
    flood_window,
    headline,
    sign,
)
from comptoir.notifications.kinds import Kind
from comptoir.notifications.models import (
    DeliveryState,
    EmailState,
    Notification,
    Webhook,
    WebhookDelivery,
)

logger = logging.getLogger("comptoir.notifications")

MAX_EMAIL_ATTEMPTS = 4
# Base of the backoff between mail attempts, in seconds (1 min, 2 min, 4 min... with jitter).
EMAIL_BACKOFF = 60.0
MAX_WEBHOOK_ATTEMPTS = 6
WEBHOOK_TIMEOUT = 10.0
# Base of the backoff between webhook attempts, in seconds (10 s, 20 s, 40 s... with jitter).
WEBHOOK_BACKOFF = 10.0
# A digest lists at most this many conversations per kind.
DIGEST_LINES = 100


def _language(user: User) -> str:
    return user.language or settings.LANGUAGE_CODE


def _lines(notes: list[Notification]) -> list[dict[str, str]]:
    out = []
    for n in notes:
        if n.conversation_id is not None and n.conversation is not None:
            label = f"#{n.conversation_id} {n.conversation.subject or ''}".strip()
            url = conversation_url(n.conversation_id)
        elif n.channel_id is not None and n.channel is not None:
            label, url = n.channel.name, channel_url(n.channel_id)
        else:
            label, url = "", ""
        out.append({"label": label, "url": url})
    return out


def _compose(user: User, notes: list[Notification]) -> EmailMessage:
    """One mail for one user's notifications of one notify() call."""
    first = notes[0]
    with translation.override(_language(user)):
        subject = headline(
            first.kind,
            len(notes),
            channel_name=first.channel.name if first.channel else "",
            subject=first.conversation.subject if first.conversation and len(notes) == 1 else "",
        )
        body = render_to_string(
            "notifications/email.txt",
            {
                "user": user,
                "kind": first.kind,
                "title": subject,
                "text": first.text,
                "actor": first.actor.display_name if first.actor else "",
                "lines": _lines(notes),
                "settings_url": settings.SITE_URL + "/settings/notifications/",
            },
        )
    return EmailMessage(f"[Comptoir] {subject}", body, None, [user.email])


@task()
def send_notification_emails(batch: str, attempt: int = 1) -> str:
    """Mail each recipient of one notify() call their notifications, in one message each.

    A failure for one recipient leaves the others sent; the failed ones are retried with a
    backoff, then marked failed with the error (the notification list shows it).
    """
    pending: dict[int, list[int]] = defaultdict(list)
    rows = Notification.objects.filter(batch=batch, email_state=EmailState.QUEUED)
    for pk, user_id in rows.values_list("pk", "user_id"):
        pending[user_id].append(pk)
    sent = failed = 0
    retry = False
    for user_id, ids in pending.items():
        claimed = Notification.objects.filter(pk__in=ids, email_state=EmailState.QUEUED).update(
            email_state=EmailState.SENDING, email_attempts=F("email_attempts") + 1
        )
        if not claimed:
            continue  # another worker has them
        notes = list(
            Notification.objects.filter(pk__in=ids, email_state=EmailState.SENDING)
            .select_related("user", "conversation", "channel", "actor")
            .order_by("pk")
        )
        if not notes:
            continue
        try:
            _compose(notes[0].user, notes).send()
        except Exception as exc:
            final = attempt >= MAX_EMAIL_ATTEMPTS
            logger.warning("notification mail to user %s failed: %s", user_id, exc)
            Notification.objects.filter(pk__in=[n.pk for n in notes]).update(
                email_state=EmailState.FAILED if final else EmailState.QUEUED,
                email_error=f"{type(exc).__name__}: {exc}"[:2000],
            )
            failed += 1
            retry = retry or not final
        else:
            Notification.objects.filter(pk__in=[n.pk for n in notes]).update(
                email_state=EmailState.SENT, emailed_at=timezone.now(), email_error=""
            )
            sent += 1
    if retry:
        retry_later(send_notification_emails, batch, attempt=attempt, base=EMAIL_BACKOFF)
    return f"{sent} mails sent, {failed} failed"


@task()
def deliver_webhook(delivery_id: int, attempt: int = 1) -> str:
    """POST one payload; 5xx, 429, timeouts and refused connections are retried with a
    backoff, other answers fail at once. The webhook keeps its last status and error."""
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_id, state__in=[DeliveryState.QUEUED, DeliveryState.RETRYING]
    ).update(state=DeliveryState.SENDING, attempts=F("attempts") + 1)
    if not claimed:
        return "not queued"
    delivery = WebhookDelivery.objects.select_related("webhook").get(pk=delivery_id)
    hook = delivery.webhook
    body = delivery.body.encode()
    now = timezone.now()
    timestamp = str(int(now.timestamp()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Comptoir-Webhook/1",
        "X-Comptoir-Event": delivery.kind,
        "X-Comptoir-Delivery": str(delivery.pk),
    }
    secret = hook.secret
    if secret:
        headers["X-Comptoir-Timestamp"] = timestamp
        headers["X-Comptoir-Signature"] = sign(secret, timestamp, body)
    status: int | None = None
    error = ""
    transient = False
    try:
        response = http.post(hook.url, content=body, headers=headers, timeout=WEBHOOK_TIMEOUT)
        status = response.status_code
        if not 200 <= status < 300:
            error = http.status_line(response)  # never the body: the URL may lead anywhere
            transient = status >= 500 or status == 429
    except http.HttpError as exc:  # no answer (timed out, refused, cut off): may come back
        # ...unless the address is refused: that needs the URL changed.
        error, transient = str(exc), not exc.permanent
    except Exception as exc:  # a malformed URL, say: no retry can fix it
        error = f"{type(exc).__name__}: {exc}"
    ok = not error
    retry = transient and attempt < MAX_WEBHOOK_ATTEMPTS
    delivery.status_code = status
    delivery.error = error[:2000]
    if ok:
        delivery.state, delivery.delivered_at = DeliveryState.SENT, now
    else:
        delivery.state = DeliveryState.RETRYING if retry else DeliveryState.FAILED
    delivery.save(update_fields=["state", "status_code", "error", "delivered_at"])
    fields = {"last_attempt_at": now, "last_status": status, "last_error": error[:2000]}
    if ok:
        fields["last_success_at"] = now
    Webhook.objects.filter(pk=hook.pk).update(**fields)
    if retry:
        retry_later(deliver_webhook, delivery_id, attempt=attempt, base=WEBHOOK_BACKOFF, since=now)
    if ok:
        return f"delivered ({status})"
    return f"{'retrying' if retry else 'failed'}: {error}"


@periodic("notifications.digest", every=timedelta(minutes=5))
@task()
def send_digests(now: datetime | None = None) -> str:
    """One mail per user gathering the notifications that waited for the digest.

    Runs often; a user's digest goes out once the oldest waiting notification is a window old
    (so a flood becomes one mail per window, not one per run).
    """
    now = now or timezone.now()
    due_before = now - flood_window()
    waiting = Notification.objects.filter(email_state=EmailState.DIGEST)
    users = waiting.filter(created_at__lte=due_before).values_list("user_id", flat=True).distinct()
    sent = 0
    for user_id in list(users):
        ids = list(waiting.filter(user_id=user_id).values_list("pk", flat=True))
        claimed = Notification.objects.filter(pk__in=ids, email_state=EmailState.DIGEST).update(
            email_state=EmailState.SENDING, email_attempts=F("email_attempts") + 1
        )
        if not claimed:
            continue
        notes = list(
            Notification.objects.filter(pk__in=ids, email_state=EmailState.SENDING)
            .select_related("user", "conversation", "channel")
            .order_by("pk")
        )
        user = notes[0].user
        try:
            if user.email and user.is_active:
                _digest(user, notes).send()
        except Exception as exc:
            # Left waiting: the next run tries again.
            logger.warning("digest mail to user %s failed: %s", user_id, exc)
            Notification.objects.filter(pk__in=[n.pk for n in notes]).update(
                email_state=EmailState.DIGEST, email_error=f"{type(exc).__name__}: {exc}"[:2000]
            )
            continue
        Notification.objects.filter(pk__in=[n.pk for n in notes]).update(
            email_state=EmailState.DIGESTED, emailed_at=now, email_error=""
        )
        sent += 1
    return f"{sent} digests sent"


def _digest(user: User, notes: list[Notification]) -> EmailMessage:
    by_kind: dict[str, list[Notification]] = defaultdict(list)
    seen: set[tuple[str, int | None, int | None]] = set()
    for n in notes:
        key = (n.kind, n.conversation_id, n.channel_id)
        if key not in seen:  # the same conversation at risk twice is listed once
            seen.add(key)
            by_kind[n.kind].append(n)
    with translation.override(_language(user)):
        sections = []
        for kind in Kind.values:
            group = by_kind.get(kind)
            if group:
                lines = _lines(group)
                sections.append(
                    {
                        "label": str(Kind(kind).label),
                        "count": len(lines),
                        "lines": lines[:DIGEST_LINES],
                        "more": max(0, len(lines) - DIGEST_LINES),
                    }
                )
        conversations = len({n.conversation_id for n in notes if n.conversation_id})
        subject = translation.gettext("Digest: %(n)d notifications, %(c)d conversations") % {
            "n": len(notes),
            "c": conversations,
        }
        body = render_to_string(
            "notifications/digest.txt",
            {
                "user": user,
                "sections": sections,
                "settings_url": settings.SITE_URL + "/settings/notifications/",
                "list_url": settings.SITE_URL + "/notifications/",
            },
        )
    return EmailMessage(f"[Comptoir] {subject}", body, None, [user.email])


# A claim older than this belongs to a worker that died mid-send: the work is queued again
# (a mail may then arrive twice, which beats never).
STUCK_AFTER = timedelta(minutes=30)
KEEP_NOTIFICATIONS = timedelta(days=90)
KEEP_DELIVERIES = timedelta(days=30)


@periodic("notifications.maintenance", every=timedelta(minutes=15))
@task()
def notifications_maintenance(now: datetime | None = None) -> str:
    """Requeue what a dead worker left half-sent; forget old notifications and deliveries."""
    now = now or timezone.now()
    purged, _ = Notification.objects.filter(created_at__lt=now - KEEP_NOTIFICATIONS).delete()
    old, _ = WebhookDelivery.objects.filter(created_at__lt=now - KEEP_DELIVERIES).delete()
    stuck_before = now - STUCK_AFTER
    stuck = Notification.objects.filter(email_state=EmailState.SENDING, created_at__lt=stuck_before)
    batches = sorted(set(stuck.values_list("batch", flat=True)[:1000]))
    requeued = Notification.objects.filter(
        batch__in=batches, email_state=EmailState.SENDING
    ).update(email_state=EmailState.QUEUED)
    for batch in batches:
        send_notification_emails.enqueue(batch)
    hooks = list(
        WebhookDelivery.objects.filter(
            state=DeliveryState.SENDING, created_at__lt=stuck_before
        ).values_list("pk", "attempts")[:1000]
    )
    for pk, attempts in hooks:
        if WebhookDelivery.objects.filter(pk=pk, state=DeliveryState.SENDING).update(
            state=DeliveryState.RETRYING
        ):
            deliver_webhook.enqueue(pk, attempt=attempts + 1)
    return f"{requeued} mails and {len(hooks)} posts requeued, {purged + old} old rows removed"
