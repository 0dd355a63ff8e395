from __future__ import annotations

from django.urls import path

from comptoir.web import settings_views

app_name = "settings"
urlpatterns = [
    path("channels/", settings_views.channels, name="channels"),
    path("channels/<int:pk>/test", settings_views.start_test, name="channel_test"),
    path(
        "channels/<int:pk>/test/<str:task_id>",
        settings_views.test_result,
        name="channel_test_result",
    ),
]
