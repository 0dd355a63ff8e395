from __future__ import annotations

from django.urls import path

from comptoir.automation import rules_views
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
    path("rules/", rules_views.rules, name="rules"),
    path("rules/new", rules_views.rule_new, name="rule_new"),
    path("rules/<int:pk>/", rules_views.rule_edit, name="rule_edit"),
    path("rules/<int:pk>/dry-run", rules_views.rule_dry_run, name="rule_dry_run"),
    path("rules/<int:pk>/move", rules_views.rule_move, name="rule_move"),
    path("rules/<int:pk>/active", rules_views.rule_active, name="rule_active"),
    path("rules/<int:pk>/delete", rules_views.rule_delete, name="rule_delete"),
]
