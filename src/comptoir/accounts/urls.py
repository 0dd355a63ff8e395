from __future__ import annotations

from django.urls import path

from comptoir.accounts import views

app_name = "accounts"
urlpatterns = [
    path("security/", views.security, name="security"),
    path("security/confirm", views.confirm, name="confirm"),
    path("security/recovery-codes", views.regenerate, name="regenerate"),
    path("security/disable", views.disable, name="disable"),
    path("availability", views.set_availability, name="availability"),
    path("security/logout-everywhere", views.log_out_all, name="logout_everywhere"),
]
