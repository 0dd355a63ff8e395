"""The API's docs page (/api/v1/docs): Swagger UI served from the package, allowed by the CSP."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tests.conftest import close_quietly  # noqa: F401


def test_the_docs_page_links_only_this_sites_static_files(db: None, client: Client) -> None:
    response = client.get("/api/v1/docs")
    html = response.content.decode()

    assert response.status_code == 200
    assert "/static/ninja/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower()
    assert client.get("/static/ninja/swagger-ui-bundle.js").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_the_docs_page_shows_the_operations_in_a_browser(page: Any, live_server: Any) -> None:
    page.goto(f"{live_server.url}/api/v1/docs")

    page.wait_for_selector(".opblock", timeout=20_000)

    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert any("/conversations" in p for p in paths), paths[:10]
    assert page.locator(".opblock").count() >= 10
    assert page.csp_errors == []
