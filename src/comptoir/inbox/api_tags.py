"""REST endpoints for tags and for the conversation's action-bar changes the first API lacked:
the tags themselves (list, create, rename, delete), a conversation's tags, priority, team,
archive, merge, the correction of triage's reading, and the inbox's bulk bar.

As `inbox.api`: the conversation is looked up among those the caller sees (404 otherwise) and
every change is one action, which decides who may (403)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from django.core.exceptions import ValidationError
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema
from ninja.responses import Status as Reply
from pydantic import field_validator

from comptoir.accounts.models import User
from comptoir.accounts.permissions import find_visible, require_write
from comptoir.inbox import actions
from comptoir.inbox.api import _conversation, _user, _writable_conversation
from comptoir.inbox.models import Conversation, Priority, Status, Tag
from comptoir.inbox.permissions import cannot_assign, conversation_for, visible_conversations
from comptoir.inbox.queries import MAX_ID
from comptoir.inbox.schemas import ConversationOut, ErrorOut
from comptoir.lib.text import NO_NUL, refuse_nul
from comptoir.triage.actions import correct
from comptoir.triage.panel import latest_inbound

router = Router(tags=["tags"])


class In(Schema):
    """A request body: no NUL character in any of its text (422, not a database error)."""

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: object) -> object:
        return refuse_nul(value)


MAX_LIMIT = 200
MAX_BULK = 100
_WRITE_ERRORS: dict[int, type[Schema]] = {403: ErrorOut, 404: ErrorOut, 422: ErrorOut}
Color = Field("", pattern=r"^(#[0-9a-fA-F]{6})?$", description="#rrggbb; '' keeps the default")


class TagOut(Schema):
    id: int
    name: str
    color: str
    conversation_count: int = Field(description="conversations with it that the caller sees")


class TagPage(Schema):
    items: list[TagOut]
    count: int
    next_offset: int | None = Field(description="the offset of the next page; null on the last")


class TagIn(In):
    name: str = Field(min_length=1, max_length=64)
    color: str = Color


class TagChangeIn(In):
    name: str | None = Field(None, min_length=1, max_length=64)
    color: str = Color


class TagNameIn(In):
    tag: str = Field(min_length=1, max_length=64, description="the tag's name (created if new)")


class PriorityIn(In):
    priority: Literal[0, 1, 2, 3] = Field(description="0 low, 1 normal, 2 high, 3 urgent")


class TeamIn(In):
    team_id: int | None = Field(ge=1, le=MAX_ID, description="null: no team")


class ArchiveIn(In):
    archived: bool = True


class MergeIn(In):
    into: int = Field(ge=1, le=MAX_ID, description="the conversation that stays")


def _tags(user: User) -> QuerySet[Tag]:
    # The count is of the caller's own conversations: another team's use of a tag is theirs.
    seen = visible_conversations(user).values("pk")
    used = Count("conversations", filter=Q(conversations__in=seen), distinct=True)
    return Tag.objects.annotate(conversation_count=used)


def _tag_out(user: User, tag_id: int) -> Tag:
    return find_visible(_tags(user), tag_id)


@router.get("/tags", response={200: TagPage, 422: ErrorOut})
def list_tags(
    request: HttpRequest,
    q: str | None = Query(
        None, max_length=64, pattern=NO_NUL, description="names containing these letters"
    ),
    limit: int = Query(100, ge=1, le=MAX_LIMIT),
    offset: int = Query(0, ge=0, le=MAX_ID),
) -> dict[str, Any]:
    """Every tag, by name (tags are shared by all teams)."""
    qs = _tags(_user(request))
    if q:
        qs = qs.filter(name__icontains=q)
    count = qs.count()
    rows = list(qs.order_by("name", "pk")[offset : offset + limit])
    more = offset + len(rows) < count
    return {"items": rows, "count": count, "next_offset": offset + len(rows) if more else None}


@router.get("/tags/{tag_id}", response={200: TagOut, 404: ErrorOut})
def get_tag(request: HttpRequest, tag_id: int) -> Tag:
    return _tag_out(_user(request), tag_id)


@router.post("/tags", response={201: TagOut, **_WRITE_ERRORS})
def create_tag(request: HttpRequest, body: TagIn) -> Reply[Tag]:
    """422 when a tag of that name exists."""
    user = _user(request)
    tag = actions.create_tag(name=body.name, color=body.color, actor=user)
    return Reply(201, _tag_out(user, tag.pk))


@router.put(
    "/tags/{tag_id}",
    response={200: TagOut, **_WRITE_ERRORS},
    summary="Rename a tag or change its colour (owners, admins, supervisors)",
    description="Every conversation with it shows the new name; timelines keep the old one.",
)
def change_tag(request: HttpRequest, tag_id: int, body: TagChangeIn) -> Tag:
    user = _user(request)
    actions.rename_tag(_tag_out(user, tag_id), name=body.name, color=body.color, actor=user)
    return _tag_out(user, tag_id)


@router.delete(
    "/tags/{tag_id}",
    response={204: None, **_WRITE_ERRORS},
    summary="Delete a tag, from every conversation (owners, admins, supervisors)",
)
def delete_tag(request: HttpRequest, tag_id: int) -> Reply[None]:
    user = _user(request)
    actions.delete_tag(_tag_out(user, tag_id), actor=user)
    return Reply(204, None)


# -- one conversation --------------------------------------------------------------------------


@router.post(
    "/conversations/{conv_id}/tags",
    tags=["conversations"],
    response={200: ConversationOut, **_WRITE_ERRORS},
    summary="Add a tag to a conversation",
)
def add_tag(request: HttpRequest, conv_id: int, body: TagNameIn) -> Conversation:
    user = _user(request)
    actions.tag_conversation(
        _writable_conversation(user, conv_id), tag=body.tag, actor=user, via="api"
    )
    return _conversation(user, conv_id)


@router.post(
    "/conversations/{conv_id}/untag",
    tags=["conversations"],
    response={200: ConversationOut, **_WRITE_ERRORS},
    summary="Remove a tag from a conversation",
)
def remove_tag(request: HttpRequest, conv_id: int, body: TagNameIn) -> Conversation:
    user = _user(request)
    actions.untag_conversation(
        _writable_conversation(user, conv_id), tag=body.tag, actor=user, via="api"
    )
    return _conversation(user, conv_id)


@router.post(
    "/conversations/{conv_id}/priority",
    tags=["conversations"],
    response={200: ConversationOut, **_WRITE_ERRORS},
)
def set_priority(request: HttpRequest, conv_id: int, body: PriorityIn) -> Conversation:
    user = _user(request)
    conv = _writable_conversation(user, conv_id)
    actions.set_priority(conv, priority=body.priority, actor=user, via="api")
    return _conversation(user, conv_id)


@router.post(
    "/conversations/{conv_id}/team",
    tags=["conversations"],
    response={200: ConversationOut, **_WRITE_ERRORS},
    description="403 for a team the caller may not give it to (an agent: only their own).",
)
def set_team(request: HttpRequest, conv_id: int, body: TeamIn) -> Conversation:
    user = _user(request)
    conv = _writable_conversation(user, conv_id)
    actions.assign_team(conv, team_id=body.team_id, actor=user, via="api")
    return _conversation(user, conv_id)


@router.post(
    "/conversations/{conv_id}/archive",
    tags=["conversations"],
    response={200: ConversationOut, **_WRITE_ERRORS},
    description="`archived: false` brings it back from the archive.",
)
def archive(request: HttpRequest, conv_id: int, body: ArchiveIn) -> Conversation:
    user = _user(request)
    conv = _writable_conversation(user, conv_id)
    actions.archive_conversation(conv, actor=user, archived=body.archived)
    return _conversation(user, conv_id)


@router.post(
    "/conversations/{conv_id}/merge",
    tags=["conversations"],
    response={200: ConversationOut, **_WRITE_ERRORS},
    summary="Merge this conversation into another",
    description="Its messages and events move to `into`, which is returned; 404 when the "
    "caller cannot see either.",
)
def merge(request: HttpRequest, conv_id: int, body: MergeIn) -> Conversation:
    user = _user(request)
    source = _writable_conversation(user, conv_id)
    into = conversation_for(user, body.into, write=True)
    kept = actions.merge_conversations(source, into=into, actor=user)
    return _conversation(user, kept.pk)


class ReadingIn(In):
    field: Literal["intent", "urgency", "sentiment"]
    value: str = Field(max_length=64, description="one of the field's labels (422 otherwise)")


@router.post(
    "/conversations/{conv_id}/reading",
    tags=["conversations"],
    response={200: ConversationOut, **_WRITE_ERRORS},
    summary="Correct triage's reading of the buyer's latest message",
    description="The conversation takes it, and it is kept to train triage on; 422 when the "
    "conversation has no buyer message.",
)
def correct_reading(request: HttpRequest, conv_id: int, body: ReadingIn) -> Conversation:
    user = _user(request)
    conv = _writable_conversation(user, conv_id)
    message = latest_inbound(conv)
    if message is None:
        raise ValidationError("no buyer message to correct here")
    correct(message, field=body.field, value=body.value, actor=user)
    return _conversation(user, conv_id)


# -- the bulk bar ------------------------------------------------------------------------------

BulkAction = Literal[
    "assign",
    "assign_team",
    "tag",
    "untag",
    "set_status",
    "snooze",
    "set_priority",
    "archive",
    "unarchive",
    "no_response_needed",
]


class BulkIn(In):
    ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] = Field(min_length=1, max_length=MAX_BULK)
    action: BulkAction
    assignee_id: int | None = Field(None, ge=1, le=MAX_ID, description="assign (null: nobody)")
    team_id: int | None = Field(None, ge=1, le=MAX_ID, description="assign_team (null: none)")
    tag: str = Field("", max_length=64, description="tag, untag")
    status: Literal["open", "pending", "resolved"] | None = Field(None, description="set_status")
    snooze_until: datetime | None = Field(None, description="snooze")
    priority: Literal[0, 1, 2, 3] | None = Field(None, description="set_priority")


class BulkOut(Schema):
    done: list[int] = Field(description="the conversations changed (or already so)")
    failed: dict[str, str] = Field(description="conversation id → why it was refused")
    not_found: list[int] = Field(description="ids the caller cannot see: nothing done")


def _bulk_arguments(body: BulkIn) -> tuple[str, dict[str, Any]]:
    def need(value: object, field: str) -> None:
        if value is None or value == "":
            raise ValidationError(f"{body.action} needs {field}")

    a = body.action
    if a == "assign":
        assignee = None
        if body.assignee_id is not None:
            assignee = User.objects.filter(pk=body.assignee_id).first()
            if assignee is None:
                raise cannot_assign(body.assignee_id)
        return "assign", {"assignee": assignee}
    if a == "assign_team":
        return "assign_team", {"team_id": body.team_id}
    if a in ("tag", "untag"):
        need(body.tag.strip(), "tag")
        return a, {"tag": body.tag.strip()}
    if a == "set_status":
        need(body.status, "status")
        return "set_status", {"status": Status(str(body.status))}
    if a == "snooze":
        need(body.snooze_until, "snooze_until")
        return "snooze", {"until": body.snooze_until}
    if a == "set_priority":
        need(body.priority, "priority")
        return "set_priority", {"priority": Priority(int(body.priority or 0))}
    if a in ("archive", "unarchive"):
        return "archive", {"archived": a == "archive"}
    return "no_response_needed", {}


@router.post(
    "/conversations/bulk",
    tags=["conversations"],
    response={200: BulkOut, 403: ErrorOut, 422: ErrorOut},
    summary="One change to many conversations (the inbox's bulk bar)",
    description="Each conversation is changed or refused on its own (`failed`); ids the caller "
    "cannot see are listed in `not_found` and left alone. A read-only user gets 403.",
)
def bulk(request: HttpRequest, body: BulkIn) -> dict[str, Any]:
    user = _user(request)
    require_write(user)
    action, kwargs = _bulk_arguments(body)
    wanted = list(dict.fromkeys(body.ids))
    found = list(visible_conversations(user).filter(pk__in=wanted).order_by("id"))
    result = actions.bulk_apply(action, found, actor=user, **kwargs)
    seen = {c.pk for c in found}
    return {
        "done": result.done,
        "failed": {str(k): v for k, v in result.failed.items()},
        "not_found": [i for i in wanted if i not in seen],
    }
