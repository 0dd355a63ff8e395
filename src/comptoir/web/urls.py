from __future__ import annotations

from django.urls import path

from comptoir.automation import views as automation_views
from comptoir.web import settings_views

app_name = "settings"
urlpatterns = [
    path("templates/", automation_views.template_list, name="templates"),
    path("templates/new", automation_views.template_edit, name="template_new"),
    path("templates/<int:template_id>/", automation_views.template_edit, name="template_edit"),
    path(
        "templates/<int:template_id>/preview",
        automation_views.template_preview,
        name="template_preview",
    ),
    path("checks/", automation_views.check_levels, name="checks"),
    path("channels/", settings_views.channels, name="channels"),
    path("channels/<int:pk>/test", settings_views.start_test, name="channel_test"),
    path(
        "channels/<int:pk>/test/<str:task_id>",
        settings_views.test_result,
        name="channel_test_result",
    ),
]
