from django.contrib import admin

from comptoir.orders.models import Order


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ("external_id", "channel", "status", "ordered_at", "ship_by", "tracking_number")
    list_filter = ("status", "channel")
    search_fields = ("external_id", "tracking_number")
    raw_id_fields = ("customer",)
