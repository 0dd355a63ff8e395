from __future__ import annotations

from django.urls import path

from comptoir.analytics import export_views, views

app_name = "analytics"
urlpatterns = [
    path("", views.overview, name="overview"),
    path("volumes/", views.volumes, name="volumes"),
    path("channels/", views.channels, name="channels"),
    path("sla/", views.sla, name="sla"),
    path("intents/", views.intents, name="intents"),
    path("agents/", views.agents, name="agents"),
    path("templates/", views.templates, name="templates"),
    path("surveys/", views.surveys, name="surveys"),
    path("report/", views.report_file, name="report"),
    path("export/", export_views.export_page, name="export"),
    path("export/download", export_views.export_download, name="export-download"),
]
