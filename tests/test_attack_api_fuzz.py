"""Attack: the REST API fuzzed from its own OpenAPI document (schemathesis).

Every operation of `/api/v1/openapi.json`, with requests generated from its schema (valid ones
and edge values: huge numbers, odd strings, empty lists), sent to the running server with an
owner's admin token. No answer may be a server error, every answer's status must be one the
document declares, and every body must match its declared schema. Derandomised, so a failure
is the same on every run."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from comptoir.accounts.models import APIToken, Role, User
from tests.conftest import require_or_skip

EXAMPLES = 10


def test_every_api_operation_answers_within_its_schema_and_never_500(live_server: Any) -> None:
    try:
        import schemathesis
        from schemathesis.checks import not_a_server_error
        from schemathesis.specs.openapi.checks import (
            response_schema_conformance,
            status_code_conformance,
        )
    except ImportError:
        require_or_skip(False, "schemathesis (the dev extra)")
        raise
    owner = User.objects.create_user("own", "own@example.com", "pw", role=Role.OWNER)
    _token, raw = APIToken.issue(owner, "fuzz")
    headers = {"Authorization": f"Bearer {raw}"}
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/v1/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 40  # the document lost its operations: nothing would be tried
    checks = [not_a_server_error, response_schema_conformance, status_code_conformance]
    failures = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any) -> None:
            case.call_and_validate(base_url=live_server.url, headers=headers, checks=checks)

        try:
            run()
        except Exception as exc:  # a failure group: one entry per operation, said in full
            failures.append(f"{operation.label}: {str(exc)[:800]}")
    assert failures == [], "\n\n".join(failures)


@pytest.mark.parametrize("ids", [[2**64], [0], []])
def test_a_buyer_id_out_of_range_is_a_422_not_a_server_error(
    live_server: Any, ids: list[int]
) -> None:
    """Found by the fuzzing above: an id past 64 bits reached the database (a 500)."""
    import httpx

    owner = User.objects.create_user("own", "own@example.com", "pw", role=Role.OWNER)
    _token, raw = APIToken.issue(owner, "fuzz")
    response = httpx.post(
        f"{live_server.url}/api/v1/privacy/export",
        json={"customer_ids": ids},
        headers={"Authorization": f"Bearer {raw}"},
        timeout=30,
    )
    assert response.status_code == 422, response.text
