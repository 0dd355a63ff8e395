from __future__ import annotations

from django.urls import path

from comptoir.knowledge import views

app_name = "knowledge"
urlpatterns = [
    path("", views.article_list, name="list"),
    path("new", views.article_edit, name="new"),
    path("<int:pk>/", views.article_edit, name="edit"),
    path("<int:pk>/publish", views.publish, name="publish"),
    path("<int:pk>/review", views.review, name="review"),
    path("from-cluster/<int:cluster_id>", views.from_cluster, name="from_cluster"),
    path("c/<int:pk>/articles", views.composer_suggestions, name="suggestions"),
]
