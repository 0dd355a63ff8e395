"""What the triage tests share: a buyer message ingested as live, and the reading tasks it
queued run by hand (the tests start no worker)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django_tasks_db.models import DBTaskResult

from comptoir.connectors.base import InboundMessage
from comptoir.inbox.ingest import ingest
from comptoir.inbox.models import Conversation
from comptoir.triage import tasks

Build = Callable[..., InboundMessage]
READ = "comptoir.triage.tasks.read_messages"


def run_queued() -> list[int]:
    """Run the queued reading tasks, oldest first; returns what each read."""
    done = []
    for row in DBTaskResult.objects.ready().filter(task_path=READ).order_by("enqueued_at"):
        done.append(tasks.read_messages.call(*row.args_kwargs["args"]))
        row.delete()
    return done


def ingest_one(make_inbound: Build, capture: Any, **fields: Any) -> Conversation:
    """Ingest one message, its after-commit hooks run (so its reading is queued)."""
    with capture(execute=True):
        result = ingest(make_inbound(**fields))
    return Conversation.objects.get(pk=result.conversation_id)
