"""REST endpoints of the header's availability switch (`/api/v1/me/availability`): the token's
own user, as the switch is the signed-in user's."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema

from comptoir.accounts import availability
from comptoir.accounts.models import User

router = Router(tags=["users"])


class AvailabilityIn(Schema):
    available: bool = Field(description="true: Available for the live chat; false: Away")


class AvailabilityOut(Schema):
    available: bool
    seen_at: datetime | None = Field(description="when the user was last seen at the desk")
    online: bool = Field(description="counted as an agent online by the live chat now")


def _user(request: HttpRequest) -> User:
    user = request.auth  # type: ignore[attr-defined]
    assert isinstance(user, User)
    return user


def _out(user: User) -> dict[str, Any]:
    seen = availability.seen_recently(user)
    return {"available": user.available, "seen_at": user.seen_at, "online": user.available and seen}


@router.get("/me/availability", response={200: AvailabilityOut})
def get_availability(request: HttpRequest) -> dict[str, Any]:
    return _out(_user(request))


@router.put("/me/availability", response={200: AvailabilityOut, 403: dict[str, Any]})
def set_availability(request: HttpRequest, body: AvailabilityIn) -> dict[str, Any]:
    """The signed-in user's switch (audited); 403 for a read-only user."""
    return _out(availability.set_availability(_user(request), available=body.available))
