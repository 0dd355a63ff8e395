from __future__ import annotations

from django.urls import path

from comptoir.triage import views

app_name = "triage"
urlpatterns = [
    path("c/<int:pk>/reading", views.correct_reading, name="correct"),
]
