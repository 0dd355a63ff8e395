from __future__ import annotations

from django.urls import path

from comptoir.notifications import views as notification_views
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
    path("notifications/", notification_views.settings_page, name="notifications"),
    path("notifications/webhooks", notification_views.webhook_create, name="webhook_create"),
    path(
        "notifications/webhooks/<int:pk>/test", notification_views.webhook_test, name="webhook_test"
    ),
    path(
        "notifications/webhooks/<int:pk>/toggle",
        notification_views.webhook_toggle,
        name="webhook_toggle",
    ),
    path(
        "notifications/webhooks/<int:pk>/delete",
        notification_views.webhook_delete,
        name="webhook_delete",
    ),
    path("notifications/receivers", notification_views.receiver_create, name="receiver_create"),
]
