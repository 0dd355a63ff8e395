from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from comptoir.accounts import views as account_views
from comptoir.api import api
from comptoir.connectors.meta import views as meta_views
from comptoir.demo import chat as demo_chat
from comptoir.notifications import views as notification_views
from comptoir.web import observability
from comptoir.web import views as web_views

urlpatterns = [
    path("healthz", web_views.healthz, name="healthz"),
    path("readyz", observability.readyz, name="readyz"),
    path("metrics", observability.metrics, name="metrics"),
    path("api/v1/", api.urls),
    # Meta's webhooks (Messenger, Instagram, WhatsApp): signed by the app secret, no session.
    path("hooks/meta/<int:channel_id>/", meta_views.webhook, name="meta_webhook"),
    path("login/", account_views.login_view, name="login"),
    path("login/verify/", account_views.login_verify, name="login_verify"),
    # The admin site's own form would skip the second step: it signs in here too.
    path("admin/login/", RedirectView.as_view(url="/login/", query_string=True)),
    path("account/", include("comptoir.accounts.urls")),
    path("admin/", admin.site.urls),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password-reset/", auth_views.PasswordResetView.as_view(), name="password_reset"),
    path(
        "password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "password-reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "password-reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path(
        "password/",
        auth_views.PasswordChangeView.as_view(success_url="/profile/?changed=1"),
        name="password_change",
    ),
    path("i18n/setlang/", web_views.switch_language, name="set_language"),
    path("inbox/", include("comptoir.inbox.urls")),
    path("profile/", web_views.profile, name="profile"),
    path("settings/", include("comptoir.web.urls")),
    path("automation/", include("comptoir.automation.urls")),
    path("triage/", include("comptoir.triage.urls")),
    path("notifications/", include("comptoir.notifications.urls")),
    path("faq/", include("comptoir.faq.urls")),
    path("kb/", include("comptoir.knowledge.urls")),
    # The public FAQ of each shop: no login, cacheable, indexable (docs/kb.md).
    path("help/", include("comptoir.knowledge.public_urls")),
    path("cases/", include("comptoir.cases.urls")),
    path("care/", include("comptoir.care.urls")),
    path("analytics/", include("comptoir.analytics.urls")),
    path("account-health/", include("comptoir.health.urls")),
    # The buyer's survey page: public, the signed token is the key.
    path("s/", include("comptoir.surveys.urls")),
    # The live chat widget's public endpoints: the shop key and the site are the key.
    path("chat/", include("comptoir.connectors.chat.urls")),
    # The demo shop's page with the chat widget (404 outside a demo database).
    path("demo/shop/", demo_chat.shop_page, name="demo_shop"),
    path("hooks/test/<str:token>/", notification_views.test_hook, name="test_hook"),
    path("", web_views.home, name="home"),
]
