from __future__ import annotations

from django.urls import path

from comptoir.health import views

app_name = "health"

urlpatterns = [
    path("", views.page, name="page"),
    path("threshold/", views.set_threshold, name="set_threshold"),
]
