from __future__ import annotations

from django.urls import path

from comptoir.inbox import live, views

app_name = "inbox"
urlpatterns = [
    path("", views.inbox, name="inbox"),
    path("c/<int:pk>/", views.conversation, name="conversation"),
    path("c/<int:pk>/reply", views.reply, name="reply"),
    path("c/<int:pk>/assign-me", views.assign_me, name="assign_me"),
    path("c/<int:pk>/status", views.set_status, name="status"),
    path("c/<int:pk>/tag", views.tag, name="tag"),
    path("c/<int:pk>/priority", views.priority, name="priority"),
    path("c/<int:pk>/snooze", views.snooze, name="snooze"),
    path("bulk", views.bulk, name="bulk"),
    path("live", live.live, name="live"),
]
