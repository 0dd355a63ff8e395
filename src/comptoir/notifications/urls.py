from __future__ import annotations

from django.urls import path

from comptoir.notifications import views

app_name = "notifications"
urlpatterns = [
    path("", views.notification_list, name="list"),
    path("read", views.mark_all_read, name="read"),
    path("count", views.unread_badge, name="count"),
]
