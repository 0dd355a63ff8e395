from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from comptoir.api import api
from comptoir.notifications import views as notification_views
from comptoir.web import views as web_views

urlpatterns = [
    path("healthz", web_views.healthz, name="healthz"),
    path("api/v1/", api.urls),
    path("admin/", admin.site.urls),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("inbox/", include("comptoir.inbox.urls")),
    path("settings/", include("comptoir.web.urls")),
    path("notifications/", include("comptoir.notifications.urls")),
    path("hooks/test/<str:token>/", notification_views.test_hook, name="test_hook"),
    path("", web_views.home, name="home"),
]
