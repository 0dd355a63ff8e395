"""Who works a conversation (an agent, a team) and which order it is about."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import transaction

from comptoir.inbox import hooks, permissions
from comptoir.inbox.actions.common import _check_actor, _event, _locked, _sync
from comptoir.inbox.models import (
    Conversation,
    Customer,
    EventKind,
)
from comptoir.lib.buyers import better_name

if TYPE_CHECKING:
    from comptoir.accounts.models import User
    from comptoir.orders.models import Order


# -- conversation state ------------------------------------------------------------------------


@transaction.atomic
def assign_conversation(
    conv: Conversation, *, assignee: User | None, actor: User | None, via: str = ""
) -> None:
    """Give the conversation to `assignee` (None: to nobody). Who may, and to whom, is
    `permissions.check_assign`: a refused assignee raises `PermissionDenied`, an actor who
    cannot see the conversation `NotVisible`."""
    locked = _locked(conv)
    permissions.check_assign(actor, locked, assignee)
    if locked.assignee_id == (assignee.pk if assignee else None):
        return
    previous = locked.assignee_id
    locked.assignee = assignee
    locked.save(update_fields=["assignee", "updated_at"])
    if assignee is None:
        _event(locked, EventKind.UNASSIGNED, actor, via, previous=previous)
    else:
        _event(
            locked,
            EventKind.ASSIGNED,
            actor,
            via,
            assignee=assignee.pk,
            assignee_name=assignee.display_name,
            previous=previous,
        )
        hooks.conversation_assigned.emit(locked, assignee, actor)
    _sync(conv, locked)


def unassign_conversation(conv: Conversation, *, actor: User | None, via: str = "") -> None:
    assign_conversation(conv, assignee=None, actor=actor, via=via)


@transaction.atomic
def link_order(
    conv: Conversation, *, order: Order | None, actor: User | None, via: str = ""
) -> None:
    """Show this order beside the conversation (None unlinks): an agent's choice, or a
    connector that learnt which order the buyer means."""
    _check_actor(actor)
    locked = _locked(conv)
    if order is not None and order.shop_id != locked.shop_id:
        raise ValidationError(f"order {order.external_id} belongs to another shop")
    if locked.order_id == (order.pk if order else None):
        return
    previous = locked.order_id
    locked.order = order
    if order is not None:
        locked.order_number = order.external_id
    locked.save(update_fields=["order", "order_number", "updated_at"])
    _event(
        locked,
        EventKind.ORDER_LINKED,
        actor,
        via,
        order=order.pk if order else None,
        order_number=order.external_id if order else "",
        previous=previous,
    )
    _sync(conv, locked)


def name_order_buyers(order: Order, name: str) -> int:
    """The order knows the buyer's name: it replaces the handle (eBay's "eba-49291") or the
    empty name the marketplace's messages gave the buyers of the order's conversations.
    Returns how many buyers were renamed."""
    renamed = 0
    customers = Customer.objects.filter(conversations__order=order).distinct()
    for customer in customers.only("pk", "name"):
        better = better_name(customer.name, name)
        if better is not None:
            renamed += Customer.objects.filter(pk=customer.pk).update(name=better)
    return renamed


def link_conversations_to_order(order: Order) -> int:
    """An order stored after the buyer wrote about it: the shop's conversations that name it
    and show no order yet get it. Returns how many."""
    convs = Conversation.objects.filter(
        shop_id=order.shop_id,
        order_number=order.external_id,
        order__isnull=True,
        deleted_at__isnull=True,
        merged_into__isnull=True,
    )
    linked = 0
    for conv in convs:
        link_order(conv, order=order, actor=None, via="orders")
        linked += 1
    return linked


@transaction.atomic
def assign_team(
    conv: Conversation, *, team_id: int | None, actor: User | None, via: str = ""
) -> None:
    """Give the conversation to a team (None: to none); `permissions.check_team` says who may
    give it to which team."""
    locked = _locked(conv)
    permissions.check_team(actor, locked, team_id)
    if locked.team_id == team_id:
        return
    previous = locked.team_id
    locked.team_id = team_id
    locked.save(update_fields=["team", "updated_at"])
    _event(locked, EventKind.ASSIGNED, actor, via, team=team_id, previous_team=previous)
    _sync(conv, locked)
