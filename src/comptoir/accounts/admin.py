from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from comptoir.accounts.models import APIToken, Team, User


@admin.register(User)
class ComptoirUserAdmin(UserAdmin):
    list_display = ("username", "email", "role", "is_active", "last_login")
    list_filter = ("role", "is_active", "teams")
    fieldsets = (
        *(UserAdmin.fieldsets or ()),
        ("Comptoir", {"fields": ("role", "timezone", "language")}),
    )


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name",)
    filter_horizontal = ("members",)


@admin.register(APIToken)
class APITokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "prefix", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("prefix", "token_hash", "created_at", "last_used_at")
