from __future__ import annotations

from django.contrib import admin

from comptoir.notifications.models import Notification, Webhook, WebhookDelivery


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("created_at", "user", "kind", "conversation", "channel", "email_state")
    list_filter = ("kind", "email_state")
    raw_id_fields = ("user", "conversation", "channel", "actor")


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    list_display = ("name", "url", "format", "user", "is_active", "last_status", "last_attempt_at")
    # The secret is set through the settings page (encrypted); not edited raw here.
    exclude = ("secret_encrypted",)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ("created_at", "webhook", "kind", "state", "attempts", "status_code")
    list_filter = ("state",)
