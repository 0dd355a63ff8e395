from __future__ import annotations

from django.contrib import admin
from django.urls import path

from comptoir.api import api
from comptoir.web import views as web_views

urlpatterns = [
    path("healthz", web_views.healthz, name="healthz"),
    path("api/v1/", api.urls),
    path("admin/", admin.site.urls),
    path("", web_views.home, name="home"),
]
