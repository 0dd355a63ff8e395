from __future__ import annotations

from django.urls import path

from comptoir.faq import views

app_name = "faq"
urlpatterns = [
    path("", views.cluster_list, name="list"),
    path("<int:pk>/", views.cluster_detail, name="detail"),
    path("<int:pk>/draft", views.draft, name="draft"),
]
