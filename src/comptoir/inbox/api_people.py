"""REST endpoints for buyers (customers) and their orders: read only, as the pages show them.

A user sees a buyer or an order when they see one of its conversations or its channel (an agent:
their teams'); anything else is 404, as a conversation is. No message text here: a buyer's
conversations are listed by subject and state, their words are at /conversations/{id}/messages.
Lists are keyset-paginated with an opaque cursor, newest first. Teams are here too: listed for
anyone, created and changed by owners and admins (the settings page's rules)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Query, Router, Schema
from ninja.responses import Status

from comptoir.accounts import actions as account_actions
from comptoir.accounts.models import Team, User
from comptoir.accounts.permissions import find_visible, sees_everything
from comptoir.accounts.tokens import require_admin_scope
from comptoir.inbox.api import _page, _user
from comptoir.inbox.models import Customer
from comptoir.inbox.permissions import visible_channels, visible_conversations
from comptoir.inbox.queries import MAX_ID, KeysetOrder
from comptoir.inbox.schemas import ErrorOut, OrderOut
from comptoir.lib.text import NO_NUL
from comptoir.orders.models import Order, OrderStatus

router = Router()

MAX_LIMIT = 100
# How many of a buyer's conversations and orders the detail lists (the newest).
DETAIL_ROWS = 50
_NEWEST = KeysetOrder("created", "created_at", descending=True)


class IdentityOut(Schema):
    kind: str = Field(description="email, amazon_alias, ebay_user...")
    value: str
    channel_id: int | None


class CustomerRowOut(Schema):
    id: int
    name: str
    email: str
    language: str
    created_at: datetime


class CustomerPage(Schema):
    items: list[CustomerRowOut]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page.")


class ConversationRowOut(Schema):
    id: int
    channel_id: int
    subject: str
    status: str
    order_number: str
    needs_reply: bool
    last_message_at: datetime | None
    created_at: datetime


class OrderRowOut(OrderOut):
    shop_id: int
    channel_id: int
    customer_id: int | None
    synced_at: datetime | None
    created_at: datetime


class OrderDetailOut(OrderRowOut):
    conversations: list[ConversationRowOut] = Field(
        description=f"the newest {DETAIL_ROWS} conversations about it that the caller sees"
    )

    @staticmethod
    def resolve_conversations(obj: Order) -> list[Any]:
        return list(obj.conversations_seen)  # type: ignore[attr-defined]


class CustomerOut(CustomerRowOut):
    identities: list[IdentityOut]
    conversations: list[ConversationRowOut] = Field(
        description=f"the newest {DETAIL_ROWS} the caller sees"
    )
    orders: list[OrderRowOut] = Field(description=f"the newest {DETAIL_ROWS} the caller sees")


class OrderPage(Schema):
    items: list[OrderRowOut]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page.")


def visible_orders(user: User) -> QuerySet[Order]:
    """Orders of the channels the user sees, or that a conversation they see is about."""
    if sees_everything(user):
        return Order.objects.all()
    about = visible_conversations(user).exclude(order=None).values("order_id")
    return Order.objects.filter(Q(channel__in=visible_channels(user)) | Q(pk__in=about))


def visible_customers(user: User) -> QuerySet[Customer]:
    if sees_everything(user):
        return Customer.objects.all()
    wrote = visible_conversations(user).exclude(customer=None).values("customer_id")
    ordered = visible_orders(user).exclude(customer=None).values("customer_id")
    return Customer.objects.filter(Q(pk__in=wrote) | Q(pk__in=ordered))


@router.get("/customers", tags=["customers"], response={200: CustomerPage, 400: ErrorOut})
def list_customers(
    request: HttpRequest,
    q: str | None = Query(
        None,
        min_length=2,
        max_length=200,
        pattern=NO_NUL,
        description="a name, an email or a marketplace alias (any part, case folded)",
    ),
    cursor: str | None = None,
    limit: int = Query(25, ge=1, le=MAX_LIMIT),
) -> dict[str, Any]:
    """The buyers the caller sees, newest first."""
    qs = visible_customers(_user(request))
    if q:
        q = q.strip()
        named = Customer.objects.filter(identities__value__icontains=q).values("pk")
        qs = qs.filter(Q(name__icontains=q) | Q(email__icontains=q) | Q(pk__in=named))
    items, next_cursor = _page(qs, _NEWEST, cursor, limit)
    return {"items": items, "next_cursor": next_cursor}


@router.get(
    "/customers/{customer_id}", tags=["customers"], response={200: CustomerOut, 404: ErrorOut}
)
def get_customer(request: HttpRequest, customer_id: int) -> dict[str, Any]:
    """A buyer with their identities, their conversations and their orders."""
    user = _user(request)
    customer = find_visible(visible_customers(user), customer_id)
    conversations = visible_conversations(user).filter(customer=customer)
    orders = visible_orders(user).filter(customer=customer)
    return {
        **{f: getattr(customer, f) for f in ("id", "name", "email", "language", "created_at")},
        "identities": list(customer.identities.order_by("pk")),
        "conversations": list(conversations.order_by("-created_at", "-pk")[:DETAIL_ROWS]),
        "orders": list(orders.order_by("-created_at", "-pk")[:DETAIL_ROWS]),
    }


@router.get("/orders", tags=["orders"], response={200: OrderPage, 400: ErrorOut, 422: ErrorOut})
def list_orders(
    request: HttpRequest,
    external_id: str | None = Query(
        None, max_length=64, pattern=NO_NUL, description="the marketplace's order number, exactly"
    ),
    channel: int | None = Query(None, ge=1, le=MAX_ID),
    customer: int | None = Query(None, ge=1, le=MAX_ID),
    status: OrderStatus | None = None,
    late: bool | None = Query(None, description="not shipped by its ship-by date"),
    cursor: str | None = None,
    limit: int = Query(25, ge=1, le=MAX_LIMIT),
) -> dict[str, Any]:
    """The orders the caller sees, newest first. One order number may exist on two channels."""
    qs = visible_orders(_user(request))
    if external_id is not None:
        qs = qs.filter(external_id=external_id.strip())
    if channel is not None:
        qs = qs.filter(channel_id=channel)
    if customer is not None:
        qs = qs.filter(customer_id=customer)
    if status is not None:
        qs = qs.filter(status=status)
    if late is not None:
        late_q = Q(ship_by__lt=timezone.now(), shipped_at=None) & ~Q(
            status__in=[OrderStatus.CANCELLED, OrderStatus.REFUNDED]
        )
        qs = qs.filter(late_q) if late else qs.exclude(late_q)
    items, next_cursor = _page(qs, _NEWEST, cursor, limit)
    return {"items": items, "next_cursor": next_cursor}


@router.get("/orders/{order_id}", tags=["orders"], response={200: OrderDetailOut, 404: ErrorOut})
def get_order(request: HttpRequest, order_id: int) -> Order:
    """An order with the conversations about it."""
    user = _user(request)
    order = find_visible(visible_orders(user), order_id)
    about = visible_conversations(user).filter(order=order).order_by("-created_at", "-pk")
    order.conversations_seen = list(about[:DETAIL_ROWS])  # type: ignore[attr-defined]
    return order


# -- teams, as on the settings page (changed by owners and admins; listed for anyone, as the
# action bar's team menu lists them) ------------------------------------------------------------


class TeamIn(Schema):
    name: str = Field(min_length=1, max_length=100)
    members: list[int] | None = Field(None, description="user ids; null keeps the members")


class TeamOut(Schema):
    id: int
    name: str
    members: list[int]


def _team_out(team: Team) -> dict[str, Any]:
    members = sorted(team.members.values_list("pk", flat=True))
    return {"id": team.pk, "name": team.name, "members": members}


@router.get("/teams", tags=["teams"], response={200: list[TeamOut], 403: ErrorOut})
def list_teams(request: HttpRequest) -> list[dict[str, Any]]:
    return [_team_out(t) for t in Team.objects.order_by("name", "id")]


@router.post(
    "/teams",
    tags=["teams"],
    response={201: TeamOut, 403: ErrorOut, 404: ErrorOut, 422: dict[str, Any]},
)
def create_team(request: HttpRequest, body: TeamIn) -> Status:
    team = account_actions.save_team(
        None, actor=_user(request), name=body.name, members=body.members or []
    )
    return Status(201, _team_out(team))


@router.put(
    "/teams/{team_id}",
    tags=["teams"],
    response={200: TeamOut, 403: ErrorOut, 404: ErrorOut, 422: dict[str, Any]},
)
def update_team(request: HttpRequest, team_id: int, body: TeamIn) -> dict[str, Any]:
    actor = _user(request)
    if not account_actions.can_manage_users(actor):  # the role first, as the page
        raise PermissionDenied("users and teams are managed by owners and admins")
    team = Team.objects.get(pk=team_id)
    return _team_out(
        account_actions.save_team(team, actor=actor, name=body.name, members=body.members)
    )


# -- users' role, activity and teams, as on the users settings page (owners and admins; only an
# owner raises or changes an owner; nobody changes their own role) ------------------------------


class UserChangeIn(Schema):
    role: str | None = Field(None, description="owner, admin, supervisor, agent or analyst")
    is_active: bool | None = None
    teams: list[int] | None = Field(None, description="team ids; null keeps the teams")


class UserOut(Schema):
    id: int
    username: str
    name: str
    role: str
    is_active: bool
    teams: list[int]


def _user_out(user: User) -> dict[str, Any]:
    teams = sorted(user.teams.values_list("pk", flat=True))
    return {
        "id": user.pk,
        "username": user.username,
        "name": user.display_name,
        "role": user.role,
        "is_active": user.is_active,
        "teams": teams,
    }


def _user_manager(request: HttpRequest) -> User:
    actor = _user(request)
    if not account_actions.can_manage_users(actor):
        raise PermissionDenied("users and teams are managed by owners and admins")
    return actor


@router.get("/users", tags=["users"], response={200: list[UserOut], 403: ErrorOut, 404: ErrorOut})
def list_users(request: HttpRequest) -> list[dict[str, Any]]:
    _user_manager(request)
    return [_user_out(u) for u in User.objects.order_by("username")]


@router.patch(
    "/users/{user_id}",
    tags=["users"],
    response={200: UserOut, 403: ErrorOut, 404: ErrorOut, 422: dict[str, Any]},
    summary="Change a user's role, activity or teams (owners and admins; admin-scope token)",
)
def update_user(request: HttpRequest, user_id: int, body: UserChangeIn) -> dict[str, Any]:
    actor = _user_manager(request)
    # A role hands out access, as a new user does: the same admin scope as POST /users.
    require_admin_scope(getattr(request, "token_scope", None))
    target = User.objects.get(pk=user_id)
    changed = account_actions.update_user(
        target, actor=actor, role=body.role, is_active=body.is_active, teams=body.teams
    )
    return _user_out(changed)


# -- new users (changed with PATCH /users/{id}) ------------------------------------------------


class UserIn(Schema):
    username: str = Field(max_length=150)
    email: str = Field("", max_length=254)
    role: str = Field(description="owner, admin, supervisor, agent or analyst")
    password: str = Field(description="write-only; checked by the password rules")
    first_name: str = Field("", max_length=150)
    last_name: str = Field("", max_length=150)
    teams: list[int] = Field(default_factory=list, description="team ids")


@router.post(
    "/users",
    tags=["users"],
    response={201: UserOut, 403: ErrorOut, 404: ErrorOut, 422: dict[str, Any]},
    summary="Add a user (owners and admins; admin-scope token)",
    description="Only an owner adds an owner. The password is never returned.",
)
def create_user(request: HttpRequest, body: UserIn) -> Status[dict[str, Any]]:
    actor = _user_manager(request)  # the role first, as the page, then the token's scope
    require_admin_scope(getattr(request, "token_scope", None))
    created = account_actions.create_user(
        actor=actor,
        username=body.username,
        email=body.email,
        role=body.role,
        password=body.password,
        first_name=body.first_name,
        last_name=body.last_name,
        teams=body.teams,
    )
    return Status(201, _user_out(created))
