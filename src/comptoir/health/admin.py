from __future__ import annotations

from django.contrib import admin

from comptoir.health.models import HealthAlert, ThresholdOverride


@admin.register(ThresholdOverride)
class ThresholdOverrideAdmin(admin.ModelAdmin):
    list_display = ("marketplace", "metric", "limit", "updated_at")


@admin.register(HealthAlert)
class HealthAlertAdmin(admin.ModelAdmin):
    list_display = ("channel", "metric", "level", "rate", "limit", "created_at")
