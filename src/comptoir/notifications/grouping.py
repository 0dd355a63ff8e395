"""The notifications list, one line per conversation: a busy hour brings dozens of SLA and
assignment notices about a few conversations, and the @mention a colleague wrote must not be
buried among them. Unread mentions come first, then the other unread lines, then the rest,
newest first within each."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from comptoir.notifications.kinds import Kind
from comptoir.notifications.models import Notification


@dataclass
class Group:
    """The notifications about one conversation (or one channel, or one with neither)."""

    notes: list[Notification] = field(default_factory=list)  # newest first

    @property
    def latest(self) -> Notification:
        return self.notes[0]

    @property
    def at(self) -> datetime:
        return self.latest.created_at

    @property
    def unread(self) -> int:
        return sum(1 for n in self.notes if n.read_at is None)

    @property
    def mentions(self) -> list[Notification]:
        return [n for n in self.notes if n.kind == Kind.MENTIONED]

    @property
    def unread_mention(self) -> bool:
        return any(n.read_at is None for n in self.mentions)

    @property
    def kinds(self) -> list[tuple[str, int]]:
        """Each kind's label and how many, in the order they last came."""
        counts: dict[str, int] = {}
        labels: dict[str, str] = {}
        for n in self.notes:
            counts[n.kind] = counts.get(n.kind, 0) + 1
            labels.setdefault(n.kind, str(n.get_kind_display()))
        return [(labels[k], counts[k]) for k in counts]


def group_notifications(notes: Iterable[Notification], limit: int) -> list[Group]:
    """`notes` newest first; at most `limit` groups."""
    groups: dict[tuple[str, int], Group] = {}
    for n in notes:
        if n.conversation_id:
            key = ("conversation", n.conversation_id)
        elif n.channel_id:
            key = ("channel", n.channel_id)
        else:
            key = ("alone", n.pk)
        groups.setdefault(key, Group()).notes.append(n)
    ordered = sorted(
        groups.values(),
        key=lambda g: (not g.unread_mention, not g.unread, -g.at.timestamp(), -g.latest.pk),
    )
    return ordered[:limit]
