"""Readiness and metrics for the operator: `/readyz` (JSON) and `/metrics` (Prometheus text).

Every figure is read from the database at request time, not counted in this process: the web
processes and the workers (which ingest and send) are separate, possibly on several hosts, and
the database is what they share. Each query runs on an index and counts a bounded set (the
last hour, or states that hold few rows), so a scrape stays cheap as the history grows.

Details are for staff (signed in) or a caller presenting COMPTOIR_METRICS_TOKEN; anyone else
gets the status only (`/readyz`) or a 404 (`/metrics`).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Count, Max, Min
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from comptoir.inbox.models import (
    Channel,
    Conversation,
    DeliveryState,
    InboundRecord,
    InboundState,
    Message,
    SLAState,
)
from comptoir.jobs.models import PeriodicJob

logger = logging.getLogger(__name__)

RECENT = timedelta(hours=1)


def may_see_details(request: HttpRequest) -> bool:
    """Staff signed in, or the metrics token as a bearer token (constant-time comparison)."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and user.is_staff:
        return True
    token: str = settings.METRICS_TOKEN or ""
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    return bool(token) and bool(given) and hmac.compare_digest(given, token)


# -- what the figures are made of ----------------------------------------------------------


def worker_state() -> dict[str, Any]:
    """The scheduler's last tick (any worker): a worker that ticks also runs tasks."""
    last = PeriodicJob.objects.aggregate(last=Max("last_run_at"))["last"]
    if last is None:
        return {"last_tick_at": None, "seconds_since_tick": None, "ok": False}
    age = (timezone.now() - last).total_seconds()
    return {
        "last_tick_at": last.isoformat(),
        "seconds_since_tick": round(age, 1),
        "ok": age <= settings.READY_MAX_TICK_SECONDS,
    }


def queue_backlog() -> dict[str, Any]:
    """Tasks waiting to run, per queue, and how long the oldest has waited (seconds)."""
    backend = settings.TASKS["default"]["BACKEND"]
    if backend == "django_tasks_db.DatabaseBackend":
        from django_tasks_db.models import DBTaskResult

        ready = DBTaskResult.objects.ready()
        per_queue = {
            row["queue_name"]: row["n"]
            for row in ready.order_by().values("queue_name").annotate(n=Count("pk"))
        }
        oldest = ready.order_by().aggregate(oldest=Min("enqueued_at"))["oldest"]
        wait = (timezone.now() - oldest).total_seconds() if oldest else 0.0
        return {"queues": per_queue, "oldest_wait_seconds": round(max(wait, 0.0), 1)}
    if backend == "django_tasks_rq.RQBackend":
        import django_rq

        names = settings.TASKS["default"].get("QUEUES", ["default"])
        return {"queues": {n: django_rq.get_queue(n).count for n in names}}
    return {"queues": {}}


def inbound_recent() -> dict[str, int]:
    """Raw inbound records of the last hour by state (stored, duplicate, failed, received)."""
    since = timezone.now() - RECENT
    return {
        state: InboundRecord.objects.filter(state=state, received_at__gte=since).count()
        for state in InboundState.values
    }


def outbound_pending() -> dict[str, int]:
    """Replies waiting to go, going, and failed (states that hold few rows: indexed counts)."""
    return {
        state: Message.objects.filter(delivery_state=state).count()
        for state in (DeliveryState.QUEUED, DeliveryState.SENDING, DeliveryState.FAILED)
    }


def sla_counts() -> dict[str, int]:
    return {
        state: Conversation.objects.filter(sla_state=state).count()
        for state in (SLAState.AT_RISK, SLAState.BREACHED)
    }


# -- the views ----------------------------------------------------------------------------


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """200 while the database answers ("degraded" when no worker ticked lately: the pages
    work, nothing is polled or sent); 503 otherwise. Details for staff or the token."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        worker = worker_state()
        backlog = queue_backlog()
    except Exception:
        logger.exception("readyz: the database does not answer")
        return JsonResponse({"status": "error"}, status=503)
    status = "ok" if worker["ok"] else "degraded"
    if not may_see_details(request):
        return JsonResponse({"status": status})
    return JsonResponse(
        {"status": status, "database": connection.vendor, "worker": worker, "tasks": backlog}
    )


def _lines(name: str, kind: str, help_text: str, samples: Iterable[tuple[str, float]]) -> str:
    out = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    out += [f"{name}{labels} {value:g}" for labels, value in samples]
    return "\n".join(out) + "\n"


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text format (version 0.0.4)."""
    if not may_see_details(request):
        return HttpResponse(status=404)
    worker = worker_state()
    backlog = queue_backlog()
    body = "".join(
        [
            _lines(
                "comptoir_inbound_last_hour",
                "gauge",
                "Raw inbound messages received in the last hour, by state.",
                ((f'{{state="{s}"}}', n) for s, n in inbound_recent().items()),
            ),
            _lines(
                "comptoir_inbound_failed",
                "gauge",
                "Raw inbound messages that failed to store and wait for a retry.",
                [("", InboundRecord.objects.filter(state=InboundState.FAILED).count())],
            ),
            _lines(
                "comptoir_outbound_messages",
                "gauge",
                "Replies by delivery state (queued, sending, failed).",
                ((f'{{state="{s}"}}', n) for s, n in outbound_pending().items()),
            ),
            _lines(
                "comptoir_task_queue_depth",
                "gauge",
                "Background tasks waiting to run, by queue.",
                ((f'{{queue="{q}"}}', n) for q, n in backlog["queues"].items()),
            ),
            _lines(
                "comptoir_task_oldest_wait_seconds",
                "gauge",
                "How long the oldest waiting task has waited.",
                [("", backlog.get("oldest_wait_seconds", 0.0))],
            ),
            _lines(
                "comptoir_worker_seconds_since_tick",
                "gauge",
                "Seconds since a worker's scheduler last ticked (-1: never).",
                [("", worker["seconds_since_tick"] if worker["last_tick_at"] else -1)],
            ),
            _lines(
                "comptoir_sla_conversations",
                "gauge",
                "Conversations at risk of missing, or past, their respond-by.",
                ((f'{{state="{s}"}}', n) for s, n in sla_counts().items()),
            ),
            _lines(
                "comptoir_channels_unhealthy",
                "gauge",
                "Active channels marked failing.",
                [("", Channel.objects.filter(is_active=True, is_healthy=False).count())],
            ),
        ]
    )
    return HttpResponse(body, content_type="text/plain; version=0.0.4; charset=utf-8")
