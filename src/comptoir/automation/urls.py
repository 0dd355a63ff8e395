from __future__ import annotations

from django.urls import path

from comptoir.automation import views

app_name = "automation"
urlpatterns = [
    path("c/<int:pk>/templates", views.picker, name="picker"),
    path("c/<int:pk>/templates/<int:template_id>", views.preview, name="preview"),
    path("c/<int:pk>/suggestions", views.suggestions, name="suggestions"),
    path("c/<int:pk>/expand", views.expand, name="expand"),
    path("c/<int:pk>/check", views.check, name="check"),
    path("c/<int:pk>/draft", views.draft, name="draft"),
]
