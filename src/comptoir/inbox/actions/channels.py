"""Channels and shops: polls, health, cursors, and the settings pages' changes."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from comptoir import audit
from comptoir.inbox import hooks
from comptoir.inbox.actions.common import _event
from comptoir.inbox.models import (
    Channel,
    ChannelKind,
    EventKind,
    Marketplace,
    Shop,
)

if TYPE_CHECKING:
    from comptoir.accounts.models import User
    from comptoir.connectors.base import ChannelInfo
    from comptoir.inbox.ingest import Result


def request_channel_poll(channel_id: int) -> None:
    """Poll one channel now (its source said something new is there)."""
    from comptoir.inbox.tasks import poll_channel

    transaction.on_commit(functools.partial(poll_channel.enqueue, channel_id))


def request_poll(*, marketplace: str) -> list[int]:
    """A marketplace said (by mail) that something new is waiting: poll its channels now
    rather than at the next tick. Returns the channels queued; none when no channel of that
    marketplace has a connector that fetches (the caller then keeps the notification)."""
    from comptoir.connectors.registry import CONNECTORS, connector_class
    from comptoir.inbox.tasks import poll_channel

    channels = Channel.objects.filter(
        marketplace=marketplace, is_active=True, is_healthy=True, kind__in=list(CONNECTORS)
    ).exclude(kind="email")
    ids = [c.pk for c in channels if connector_class(c.kind).can_fetch()]
    for channel_id in ids:
        transaction.on_commit(functools.partial(poll_channel.enqueue, channel_id))
    return ids


# -- channels ----------------------------------------------------------------------------------


# A channel whose polls fail this many times in a row, for at least this long, shows as failing
# and its owners and admins are told once (a marketplace down for a minute is no news).
FAILURES_BEFORE_ALERT = 5
FAILING_FOR_BEFORE_ALERT = timedelta(minutes=10)


def record_channel_error(
    channel: Channel, *, error: str, permanent: bool, retry_after: float | None = None
) -> bool:
    """Keep the channel's last error; a permanent one marks it unhealthy (polls stop until an
    admin acts). Transient ones are counted: after `FAILURES_BEFORE_ALERT` in a row over at
    least `FAILING_FOR_BEFORE_ALERT` the channel shows as failing (polls go on). `retry_after`
    (seconds the marketplace asked us to wait) holds the channel's next scheduled poll.

    Returns True when the channel has just turned unhealthy or failing: then, and only then,
    the owners and admins are told (not at every poll that fails the same way).
    """
    now = timezone.now()
    fields: dict[str, Any] = {"last_error": error[:5000], "last_error_at": now}
    if retry_after is not None and retry_after > 0:
        fields["poll_after"] = now + timedelta(seconds=retry_after)
    if not permanent:
        return _record_transient_failure(channel, fields, now)
    with transaction.atomic():
        turned = Channel.objects.filter(pk=channel.pk, is_healthy=True).update(
            is_healthy=False, **fields
        )
        if not turned:
            Channel.objects.filter(pk=channel.pk).update(**fields)
        else:
            _event(
                None,
                EventKind.CHANNEL_UNHEALTHY,
                None,
                "system",
                channel=channel.pk,
                error=error[:500],
            )
            # Someone must look (notifications tell the owners and admins).
            hooks.channel_failing.emit(channel.pk, error[:2000])
    channel.is_healthy, channel.last_error = False, error
    return bool(turned)


def _record_transient_failure(channel: Channel, fields: dict[str, Any], now: datetime) -> bool:
    with transaction.atomic():
        Channel.objects.filter(pk=channel.pk).update(
            failure_count=F("failure_count") + 1,
            failing_since=Coalesce(F("failing_since"), Value(now)),
            **fields,
        )
        # One conditional UPDATE: two workers failing at once escalate once.
        escalated = Channel.objects.filter(
            pk=channel.pk,
            is_healthy=True,
            degraded_at=None,
            failure_count__gte=FAILURES_BEFORE_ALERT,
            failing_since__lte=now - FAILING_FOR_BEFORE_ALERT,
        ).update(degraded_at=now)
        state = Channel.objects.values("failure_count", "failing_since", "degraded_at").get(
            pk=channel.pk
        )
        if escalated:
            since = state["failing_since"] or now
            minutes = int((now - since).total_seconds() // 60)
            text = _("Not read for %(minutes)d minutes (%(count)d failed attempts): %(error)s") % {
                "minutes": minutes,
                "count": state["failure_count"],
                "error": fields["last_error"],
            }
            _event(
                None,
                EventKind.CHANNEL_FAILING,
                None,
                "system",
                channel=channel.pk,
                error=fields["last_error"][:500],
                failures=state["failure_count"],
            )
            hooks.channel_failing.emit(channel.pk, text[:2000])
    channel.last_error, channel.last_error_at = fields["last_error"], now
    channel.failure_count = state["failure_count"]
    channel.failing_since, channel.degraded_at = state["failing_since"], state["degraded_at"]
    if "poll_after" in fields:
        channel.poll_after = fields["poll_after"]
    return bool(escalated)


def save_channel_cursor(channel: ChannelInfo, cursor: dict[str, Any]) -> None:
    """Keep a connector's cursor before its poll ends: for a source that forgets what it
    served once read (Rakuten's to-do list), the next poll must know it too."""
    Channel.objects.filter(pk=channel.pk).update(cursor=cursor)
    channel.cursor = cursor


def update_channel_settings(
    channel: ChannelInfo, change: Callable[[dict[str, Any]], dict[str, Any] | None]
) -> dict[str, Any]:
    """A connector's own change to its settings (an OAuth token refreshed), under a lock on the
    channel's row: `change` sees the settings as stored now, returns the new ones or None to
    keep them. Two workers wanting to refresh a token wait for each other, and the second sees
    the first one's token. (SQLite's IMMEDIATE transactions take the lock at BEGIN.)"""
    with transaction.atomic():
        row = (
            Channel.objects.select_for_update().only("pk", "settings_encrypted").get(pk=channel.pk)
        )
        current = row.get_settings()
        new = change(current)
        if new is not None:
            row.set_settings(new)
            Channel.objects.filter(pk=row.pk).update(settings_encrypted=row.settings_encrypted)
            current = new
    if isinstance(channel, Channel):  # the caller's copy reads the new settings too
        channel.settings_encrypted = row.settings_encrypted
    return current


def connect_channel_oauth(
    channel: Channel, *, actor: User, provider: str, grant: dict[str, Any]
) -> None:
    """A mailbox's admin granted access at `provider`: keep the grant (encrypted with the
    settings) and give the channel another go, as new settings do."""
    _require_channel_admin(actor, channel)
    with transaction.atomic():
        row = Channel.objects.select_for_update().get(pk=channel.pk)
        row.set_settings({**row.get_settings(), **grant, "auth": provider})
        Channel.objects.filter(pk=row.pk).update(
            settings_encrypted=row.settings_encrypted, is_healthy=True, last_error=""
        )
        # Which provider, never the tokens.
        audit.record("channel.connected", actor=actor, obj=channel, changes={"auth": provider})
    channel.settings_encrypted, channel.is_healthy, channel.last_error = (
        row.settings_encrypted,
        True,
        "",
    )


def record_channel_success(channel: Channel, *, cursor: dict[str, Any] | None = None) -> None:
    """A good poll: the channel works, and the errors of its bad days leave its page."""
    fields: dict[str, Any] = {
        "last_sync_at": timezone.now(),
        "is_healthy": True,
        "last_error": "",
        "last_error_at": None,
        "failure_count": 0,
        "failing_since": None,
        "degraded_at": None,
        "poll_after": None,
    }
    if cursor is not None:
        fields["cursor"] = cursor
    was_down = Q(is_healthy=False) | Q(degraded_at__isnull=False)
    if Channel.objects.filter(was_down, pk=channel.pk).update(**fields):
        _event(None, EventKind.CHANNEL_RECOVERED, None, "system", channel=channel.pk)
    else:
        Channel.objects.filter(pk=channel.pk).update(**fields)
    for name, value in fields.items():
        setattr(channel, name, value)


# -- shops and channels (the settings pages) ----------------------------------------------------


def _require_channel_admin(actor: User, channel: Channel | None = None) -> None:
    from comptoir.inbox.permissions import check_channel_settings

    check_channel_settings(actor, channel)


@transaction.atomic
def save_shop(
    shop: Shop | None,
    *,
    actor: User,
    name: str,
    language: str,
    country: str,
    timezone_name: str,
) -> Shop:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from django.utils.text import slugify

    _require_channel_admin(actor)
    name = name.strip()[:200]
    if not name:
        raise ValidationError("a shop needs a name")
    if not re.fullmatch(r"[a-z]{2}", language.strip()):
        raise ValidationError("the shop's language is a two-letter code such as fr")
    if not re.fullmatch(r"[A-Z]{2}", country.strip().upper()):
        raise ValidationError("the shop's country is a two-letter code such as FR")
    try:
        ZoneInfo(timezone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"unknown timezone {timezone_name!r}") from None
    if shop is None:
        base = slugify(name)[:40] or "shop"
        slug, n = base, 1
        while Shop.objects.filter(slug=slug).exists():
            n += 1
            slug = f"{base}-{n}"
        shop = Shop(slug=slug)
    before = _shop_fields(shop) if shop.pk else {}
    shop.name, shop.language = name, language.strip()
    shop.country, shop.timezone = country.strip().upper(), timezone_name
    shop.save()
    changes = audit.diff(before, _shop_fields(shop))
    if changes:
        audit.record(
            "shop.created" if not before else "shop.changed", actor=actor, obj=shop, changes=changes
        )
    return shop


def _shop_fields(shop: Shop) -> dict[str, Any]:
    return {k: getattr(shop, k) for k in ("name", "language", "country", "timezone")}


def _channel_fields(channel: Channel) -> dict[str, Any]:
    return {
        "shop": channel.shop_id,
        "marketplace": channel.marketplace,
        "name": channel.name,
        "team": channel.team_id,
        "is_active": channel.is_active,
    }


@transaction.atomic
def configure_channel(
    channel: Channel | None,
    *,
    actor: User,
    shop_id: int | None,
    kind: str,
    marketplace: str,
    name: str,
    team_id: int | None,
    is_active: bool,
    settings: dict[str, Any],
) -> Channel:
    """Create or change a channel. `settings` were validated by the connector's own model
    (connectors.forms); they are stored encrypted. New settings give the channel another go:
    it is polled again, and a still-wrong setting stops it again with one alert. The shop and
    the team are checked here, so the form and the API refuse an unknown one alike."""
    from comptoir.accounts.models import Team
    from comptoir.connectors.registry import CONNECTORS

    _require_channel_admin(actor, channel)
    if not shop_id:
        raise ValidationError(_("Choose the shop this channel belongs to."))
    shop = Shop.objects.filter(pk=shop_id).first()
    if shop is None:
        raise ValidationError(_("There is no shop %(id)s.") % {"id": shop_id})
    if team_id is not None and not Team.objects.filter(pk=team_id).exists():
        raise ValidationError(_("There is no team %(id)s.") % {"id": team_id})
    if kind not in CONNECTORS or kind not in ChannelKind.values:
        raise ValidationError(f"no connector for channels of kind {kind!r}")
    if marketplace not in Marketplace.values:
        raise ValidationError(f"unknown marketplace {marketplace!r}")
    name = name.strip()[:200]
    if not name:
        raise ValidationError("a channel needs a name")
    created = channel is None
    if channel is None:
        channel = Channel(kind=kind)
    elif channel.kind != kind:
        raise ValidationError("a channel's kind cannot change: add a new channel instead")
    before = {} if created else _channel_fields(channel)
    before_settings = {} if created else channel.get_settings()
    settings_changed = before_settings != settings
    channel.shop, channel.marketplace, channel.name = shop, marketplace, name
    channel.team_id, channel.is_active = team_id, is_active
    channel.set_settings(settings)
    if settings_changed:
        channel.is_healthy, channel.last_error = True, ""
    channel.save()
    changes: dict[str, Any] = audit.diff(before, _channel_fields(channel))
    if settings_changed:
        # Which settings changed, never their values (credentials among them).
        old = {} if created else before_settings
        changes["settings_changed"] = sorted(
            k for k in set(old) | set(settings) if old.get(k) != settings.get(k)
        )
    if changes:
        audit.record(
            "channel.created" if created else "channel.changed",
            actor=actor,
            obj=channel,
            changes=changes,
        )
    return channel


# -- failed inbound records (the settings page's retry) -----------------------------------------


def retry_inbound(record_id: int | None, *, actor: User) -> Result | None:
    """Process failed records again, as `comptoir inbound retry` does: one (`record_id`, among
    those the actor sees, else `NotVisible`) at once, returning its `ingest.Result` (None when
    another retry took it meanwhile); all (None) in a worker, as there may be many and big."""
    from comptoir.inbox.ingest import retry_failed
    from comptoir.inbox.permissions import failed_inbound
    from comptoir.inbox.tasks import retry_failed_inbound

    _require_channel_admin(actor)
    if record_id is None:
        retry_failed_inbound.enqueue()
        return None
    from comptoir.accounts.permissions import find_visible

    record = find_visible(failed_inbound(actor).only("pk"), record_id)
    results = retry_failed([record.pk])
    return results[0] if results else None
