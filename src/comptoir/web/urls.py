from __future__ import annotations

from django.urls import include, path

from comptoir.accounts import admin_views as account_admin_views
from comptoir.audit import views as audit_views
from comptoir.automation import rules_views
from comptoir.automation import views as automation_views
from comptoir.notifications import views as notification_views
from comptoir.privacy import views as privacy_views
from comptoir.sla import views as sla_views
from comptoir.surveys import views as survey_views
from comptoir.web import oauth_views, settings_views, trash_views

app_name = "settings"
urlpatterns = [
    path("", settings_views.index, name="index"),
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
    path("channels/new", settings_views.channel_form, name="channel_new"),
    path("channels/<int:pk>/edit", settings_views.channel_form, name="channel_edit"),
    path("channels/<int:pk>/oauth", oauth_views.connect, name="channel_oauth"),
    # Registered with Microsoft and Google as is (connectors/email/oauth.redirect_uri).
    path("channels/oauth/callback", oauth_views.callback, name="channel_oauth_callback"),
    path("inbound/", settings_views.inbound, name="inbound"),
    path("inbound/retry", settings_views.inbound_retry, name="inbound_retry"),
    path("inbound/<int:pk>/raw", settings_views.inbound_raw, name="inbound_raw"),
    path("trash/", trash_views.trash_list, name="trash"),
    path("trash/<int:pk>/restore", trash_views.trash_restore, name="trash_restore"),
    path("audit/", audit_views.audit_log, name="audit"),
    path("privacy/", privacy_views.privacy_page, name="privacy"),
    path("privacy/export", privacy_views.export, name="privacy_export"),
    path("privacy/erase", privacy_views.erase, name="privacy_erase"),
    path("privacy/retention/<int:pk>", privacy_views.retention, name="privacy_retention"),
    path(
        "privacy/retention/channel/<int:pk>",
        privacy_views.channel_retention,
        name="privacy_channel_retention",
    ),
    path("shops/", settings_views.shops, name="shops"),
    path("shops/new", settings_views.shop_form, name="shop_new"),
    path("shops/<int:pk>/edit", settings_views.shop_form, name="shop_edit"),
    path("users/", settings_views.users, name="users"),
    path("users/new", settings_views.user_form, name="user_new"),
    path("users/<int:pk>/edit", settings_views.user_form, name="user_edit"),
    path("security/", account_admin_views.security_settings, name="security"),
    path("security/<int:pk>/reset", account_admin_views.reset, name="security_reset"),
    path("security/<int:pk>/unlock", account_admin_views.unlock, name="security_unlock"),
    path("teams/", settings_views.teams, name="teams"),
    path("teams/new", settings_views.team_form, name="team_new"),
    path("teams/<int:pk>/edit", settings_views.team_form, name="team_edit"),
    path("channels/<int:pk>/test", settings_views.start_test, name="channel_test"),
    path(
        "channels/<int:pk>/test/<str:task_id>",
        settings_views.test_result,
        name="channel_test_result",
    ),
    path("sla/", sla_views.settings_page, name="sla"),
    path("sla/channels/<int:pk>/", sla_views.save_policy, name="sla_policy"),
    path("sla/calendars/", sla_views.save_calendar, name="sla_calendar_new"),
    path("sla/calendars/<int:pk>/", sla_views.save_calendar, name="sla_calendar"),
    path("sla/calendars/<int:pk>/closures/", sla_views.add_closure, name="sla_closure"),
    path("sla/closures/<int:pk>/delete", sla_views.delete_closure, name="sla_closure_delete"),
    path("rules/", rules_views.rules, name="rules"),
    path("rules/new", rules_views.rule_new, name="rule_new"),
    path("rules/<int:pk>/", rules_views.rule_edit, name="rule_edit"),
    path("rules/<int:pk>/dry-run", rules_views.rule_dry_run, name="rule_dry_run"),
    path("rules/<int:pk>/move", rules_views.rule_move, name="rule_move"),
    path("rules/<int:pk>/active", rules_views.rule_active, name="rule_active"),
    path("rules/<int:pk>/delete", rules_views.rule_delete, name="rule_delete"),
    path("triage/", include("comptoir.triage.settings_urls")),
    path("surveys/", survey_views.settings_page, name="surveys"),
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
