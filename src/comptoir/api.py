"""The REST API (`/api/v1/`, OpenAPI at `/api/v1/openapi.json`): each app adds its router.

Errors are always JSON `{"detail": ...}`: a bad request is the caller's to fix (4xx with the
reason), never a 500.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import (
    ObjectDoesNotExist,
    PermissionDenied,
    RequestDataTooBig,
    SuspiciousOperation,
    ValidationError,
)
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import NinjaAPI
from ninja.openapi.schema import OpenAPISchema
from ninja.security import HttpBearer

from comptoir.accounts.availability_api import router as availability_router
from comptoir.accounts.models import APIToken, User, hash_token
from comptoir.accounts.tokens import check_scope
from comptoir.analytics.api import router as analytics_router
from comptoir.audit.api import router as audit_router
from comptoir.automation.checks_api import router as checks_router
from comptoir.automation.rules_api import router as rules_router
from comptoir.automation.templates_api import router as templates_router
from comptoir.care.api import router as care_router
from comptoir.cases.api import router as cases_router
from comptoir.cases.claims_api import router as claims_router
from comptoir.faq.api import router as faq_router
from comptoir.health.api import router as health_router
from comptoir.inbox.api import router as inbox_router
from comptoir.inbox.api_people import router as people_router
from comptoir.inbox.api_settings import router as inbox_settings_router
from comptoir.inbox.api_tags import router as tags_router
from comptoir.knowledge.api import router as knowledge_router
from comptoir.notifications.api import router as notifications_router
from comptoir.notifications.webhooks_api import router as webhooks_router
from comptoir.privacy.api import router as privacy_router
from comptoir.sla.api import router as sla_router
from comptoir.surveys.api import router as surveys_router
from comptoir.triage.api import router as triage_router


class TokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> User | None:
        row = (
            APIToken.objects.select_related("user")
            .filter(token_hash=hash_token(token), revoked_at__isnull=True, user__is_active=True)
            .first()
        )
        if row is None:
            return None
        # Every write, on every endpoint, passes here first: a read-only token gets 403.
        check_scope(row.scope, request.method or "GET")
        request.token_scope = row.scope  # type: ignore[attr-defined]
        now = timezone.now()
        if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60:
            APIToken.objects.filter(pk=row.pk).update(last_used_at=now)
        request.user = row.user
        return row.user


# Past its rate (web.ratelimit), any operation answers 429 before it runs: declared on every one.
TOO_MANY = {
    "description": "Too many requests for this token or address: retry after Retry-After seconds",
    "headers": {"Retry-After": {"schema": {"type": "integer"}}},
    "content": {
        "application/json": {
            "schema": {"type": "object", "properties": {"detail": {"type": "string"}}}
        }
    },
}


class ComptoirAPI(NinjaAPI):
    def get_openapi_schema(self, **kwargs: Any) -> OpenAPISchema:
        schema = super().get_openapi_schema(**kwargs)
        for item in schema.get("paths", {}).values():
            for operation in item.values():
                if isinstance(operation, dict) and "responses" in operation:
                    operation["responses"].setdefault(429, TOO_MANY)
        return schema


api = ComptoirAPI(
    title="Comptoir API",
    version="1",
    urls_namespace="api",
    auth=TokenAuth(),
    docs_url="/docs",
)


@api.exception_handler(ValidationError)
def _validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    # Raised by actions for a request that cannot be applied (empty reply, deleted conversation).
    return api.create_response(request, {"detail": "; ".join(exc.messages)}, status=422)


@api.exception_handler(PermissionDenied)
def _permission_denied(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    return api.create_response(request, {"detail": str(exc) or "Permission denied"}, status=403)


@api.exception_handler(ObjectDoesNotExist)
def _does_not_exist(request: HttpRequest, exc: ObjectDoesNotExist) -> HttpResponse:
    return api.create_response(request, {"detail": "Not Found"}, status=404)


@api.exception_handler(SuspiciousOperation)
def _suspicious(request: HttpRequest, exc: SuspiciousOperation) -> HttpResponse:
    # Django answers these with an HTML page; an API client reads JSON. A body over Django's
    # upload cap is 413, as POST /inbound answers past its own limit.
    if isinstance(exc, RequestDataTooBig):
        return api.create_response(request, {"detail": "request body too large"}, status=413)
    return api.create_response(request, {"detail": "bad request"}, status=400)


api.add_router("/", tags_router)
# Before the inbox's router: /channels/kinds is not a channel id.
api.add_router("/", inbox_settings_router)
api.add_router("/", inbox_router)
api.add_router("/", people_router)
api.add_router("/", sla_router)
api.add_router("/", rules_router)
api.add_router("/", templates_router)
api.add_router("/", analytics_router)
api.add_router("/", audit_router)
api.add_router("/", privacy_router)
api.add_router("/", claims_router)
api.add_router("/", cases_router)
api.add_router("/", knowledge_router)
api.add_router("/", health_router)
api.add_router("/", notifications_router)
api.add_router("/", webhooks_router)
api.add_router("/", checks_router)
api.add_router("/", triage_router)
api.add_router("/", surveys_router)
api.add_router("/", faq_router)
api.add_router("/", care_router)
api.add_router("/", availability_router)
