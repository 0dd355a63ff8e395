"""Triage's settings pages, included under /settings/triage/ in the `settings` namespace."""

from __future__ import annotations

from django.urls import path

from comptoir.triage import settings_views as views

urlpatterns = [
    path("", views.settings_page, name="triage"),
    path("activate", views.activate, name="triage_activate"),
    path("train", views.train, name="triage_train"),
    path("settings", views.save_settings, name="triage_settings"),
    path("drafting", views.save_llm, name="triage_llm"),
]
