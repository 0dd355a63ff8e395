"""REST endpoint of the FAQ page's "Draft a template" (a cluster of similar questions becomes an
inactive template): the page's rules, 403 for a role that may not see clusters or draft, 404 for
a cluster that is not there; through `faq.actions.draft_template`."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema
from ninja.responses import Status

from comptoir.accounts.models import User
from comptoir.accounts.permissions import find_visible, require
from comptoir.automation.models import Template
from comptoir.automation.templates_api import TemplateOut
from comptoir.faq import actions
from comptoir.faq.models import Cluster
from comptoir.faq.views import can_view

router = Router(tags=["faq"])


class FaqErrorOut(Schema):  # its own name: the OpenAPI components share one namespace
    detail: Any


@router.post(
    "/faq/clusters/{cluster_id}/template",
    response={201: TemplateOut, 403: FaqErrorOut, 404: FaqErrorOut, 422: FaqErrorOut},
    summary="Draft an inactive template from a cluster of similar questions (owners, admins)",
    description="Its body is the agents' usual reply; review it, then activate it with "
    "PUT /templates/{id}. 422 when no agent replied to these questions.",
)
def draft_template(request: HttpRequest, cluster_id: int) -> Status[Template]:
    user = request.auth  # type: ignore[attr-defined]
    assert isinstance(user, User)
    require(user, can_view, "the FAQ page is for supervisors, admins and analysts")
    cluster = find_visible(Cluster.objects.all(), cluster_id)
    return Status(201, actions.draft_template(cluster, actor=user))
