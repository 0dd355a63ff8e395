"""Data-protection requests and retention: the page, the API and the command call these.

Each checks its own rule (owners and admins: `check_privacy`) and writes the audit log. The
log names the customer ids and what was done, never who the buyer was.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from comptoir import audit
from comptoir.accounts.models import Role, User
from comptoir.inbox import actions as inbox_actions
from comptoir.inbox.models import Channel, Conversation, Customer, Shop
from comptoir.privacy import access, erasure
from comptoir.privacy.marketplace_rules import rule_for
from comptoir.privacy.models import Anonymised, ChannelRetention, RetentionMode, RetentionPolicy


def can_handle_requests(user: User | None) -> bool:
    return (
        user is not None
        and user.is_active
        and (user.is_superuser or user.role in {Role.OWNER, Role.ADMIN})
    )


def check_privacy(actor: User | None) -> None:
    """Access, erasure and retention are for owners and admins (and the command line)."""
    if actor is not None and not can_handle_requests(actor):
        raise PermissionDenied("data-protection requests are for owners and admins")


def _existing(customer_ids: list[int]) -> list[int]:
    ids = sorted(set(Customer.objects.filter(pk__in=customer_ids).values_list("pk", flat=True)))
    if not ids:
        raise ValidationError("no such buyer")
    return ids


def export_subject(customer_ids: list[int], *, actor: User | None) -> bytes:
    """Everything held about these buyers, as a ZIP (`privacy.access.archive`)."""
    check_privacy(actor)
    ids = _existing(customer_ids)
    data = access.archive(ids)
    audit.record(
        "gdpr.access_exported",
        actor=actor,
        object_type="inbox.customer",
        object_id=",".join(map(str, ids))[:64],
        changes={"customers": ids, "bytes": len(data)},
    )
    return data


def erase_subject(customer_ids: list[int], *, actor: User | None, confirm: str) -> erasure.Erased:
    """Anonymise these buyers everywhere; irreversible, so `confirm` must repeat the ids
    (`"12"`, or `"12,15"` for two)."""
    check_privacy(actor)
    ids = _existing(customer_ids)
    given = sorted({int(p) for p in confirm.replace(" ", "").split(",") if p.isdigit()})
    if given != ids:
        raise ValidationError("to confirm the erasure, type the buyer's number(s)")
    result = erasure.erase_customers(ids)
    audit.record(
        "gdpr.erased",
        actor=actor,
        object_type="inbox.customer",
        object_id=",".join(map(str, ids))[:64],
        changes={
            "customers": ids,
            "conversations": result.conversations,
            "messages": result.messages,
            "files": result.files,
            "other_rows": result.swept,
        },
    )
    return result


def _check_retention(days: int, mode: str) -> None:
    if days < 0 or days > 36500:
        raise ValidationError("retention: a number of days between 0 (for ever) and 36500")
    if mode not in RetentionMode.values:
        raise ValidationError(f"mode must be one of {', '.join(RetentionMode.values)}")


@transaction.atomic
def save_retention(shop: Shop, *, actor: User | None, days: int, mode: str) -> RetentionPolicy:
    check_privacy(actor)
    _check_retention(days, mode)
    policy, _ = RetentionPolicy.objects.get_or_create(shop=shop)
    changes = audit.diff({"days": policy.days, "mode": policy.mode}, {"days": days, "mode": mode})
    policy.days, policy.mode = days, mode
    policy.save()
    if changes:
        audit.record("retention.changed", actor=actor, obj=shop, changes=changes)
    return policy


@transaction.atomic
def save_channel_retention(
    channel: Channel, *, actor: User | None, days: int | None, mode: str
) -> ChannelRetention | None:
    """A channel's own retention (`days` 0: kept for ever), or None to follow its default
    again (its marketplace's rule, else the shop's)."""
    check_privacy(actor)
    own = ChannelRetention.objects.filter(channel=channel).first()
    before = {"days": own.days, "mode": own.mode} if own else {"days": None, "mode": None}
    if days is None:
        if own is not None:
            own.delete()
        after: dict[str, object] = {"days": None, "mode": None}
        own = None
    else:
        _check_retention(days, mode)
        own = own or ChannelRetention(channel=channel)
        own.days, own.mode = days, mode
        own.save()
        after = {"days": days, "mode": mode}
    if changes := audit.diff(before, after):
        audit.record("retention.changed", actor=actor, obj=channel, changes=changes)
    return own


@dataclass(frozen=True)
class Policy:
    days: int  # 0: kept for ever
    mode: str
    source: str  # channel (its own), marketplace (its rule), shop (the shop's own), default


def channel_policy(
    channel: Channel,
    own: dict[int, ChannelRetention],
    shops: dict[int, RetentionPolicy],
) -> Policy:
    """A channel's retention: its own if set; else the shorter of its marketplace's published
    maximum and the shop's retention (a marketplace's rule is a ceiling, a shop may be
    stricter)."""
    mine = own.get(channel.pk)
    if mine is not None:
        return Policy(mine.days, mine.mode, "channel")
    days, mode = policy_for(channel.shop, shops)
    shop_own = channel.shop_id in shops and bool(shops[channel.shop_id].days)
    rule = rule_for(channel.marketplace)
    if rule.days and (not days or rule.days < days):
        return Policy(rule.days, rule.mode, "marketplace")
    return Policy(days, mode, "shop" if shop_own else "default")


def channel_policies() -> list[tuple[Channel, Policy]]:
    own = {r.channel_id: r for r in ChannelRetention.objects.all()}
    shops = {p.shop_id: p for p in RetentionPolicy.objects.all()}
    channels = Channel.objects.select_related("shop").order_by("shop__name", "name", "pk")
    return [(c, channel_policy(c, own, shops)) for c in channels]


@dataclass
class Due:
    channel: Channel
    days: int
    mode: str
    conversation_ids: list[int]

    @property
    def shop(self) -> Shop:
        return self.channel.shop


def policy_for(shop: Shop, policies: dict[int, RetentionPolicy]) -> tuple[int, str]:
    """A shop's retention: its own, else the installation's (the environment)."""
    own = policies.get(shop.pk)
    if own is not None and own.days:
        return own.days, own.mode
    return settings.CONVERSATION_RETENTION_DAYS, settings.CONVERSATION_RETENTION_MODE


RETENTION_BATCH = 500


def due(now: datetime | None = None) -> list[Due]:
    """Per channel, the conversations whose last message is older than its retention and that
    are not yet anonymised (a batch per channel and run)."""
    now = now or timezone.now()
    out = []
    for channel, policy in channel_policies():
        if not policy.days:
            continue
        old = Conversation.objects.filter(
            channel=channel, deleted_at=None, last_message_at__lt=now - timedelta(days=policy.days)
        ).exclude(pk__in=Anonymised.objects.values("conversation_id"))
        ids = list(old.order_by("pk").values_list("pk", flat=True)[:RETENTION_BATCH])
        if ids:
            out.append(Due(channel, policy.days, policy.mode, ids))
    return out


def apply_retention(*, dry_run: bool = False, now: datetime | None = None) -> dict[str, int]:
    """The daily job: anonymise (or delete, into the trash and then the purge) what is due."""
    counts = {"anonymised": 0, "deleted": 0}
    for item in due(now):
        if item.mode == RetentionMode.DELETE:
            counts["deleted"] += len(item.conversation_ids)
            if not dry_run:
                for conv in Conversation.objects.filter(pk__in=item.conversation_ids):
                    inbox_actions.delete_conversation(conv, actor=None)
        else:
            counts["anonymised"] += len(item.conversation_ids)
            if not dry_run:
                erasure.anonymise_conversations(item.conversation_ids, reason="retention")
        if not dry_run:
            audit.record(
                "retention.applied",
                actor=None,
                obj=item.channel,
                changes={"mode": item.mode, "days": item.days, "count": len(item.conversation_ids)},
            )
    return counts
