"""The buyer's survey page, included at /s/ (public: the signed token is the key)."""

from __future__ import annotations

from django.urls import path

from comptoir.surveys import views

urlpatterns = [path("<str:token>/", views.survey_page, name="survey")]
