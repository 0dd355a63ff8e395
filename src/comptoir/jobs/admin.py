from django.contrib import admin

from comptoir.jobs.models import JobRun, PeriodicJob


@admin.register(PeriodicJob)
class PeriodicJobAdmin(admin.ModelAdmin):
    list_display = ("name", "next_run_at", "last_run_at", "last_claimed_by", "runs")


@admin.register(JobRun)
class JobRunAdmin(admin.ModelAdmin):
    list_display = ("job", "scheduled_for", "claimed_by", "created_at")
    list_filter = ("job",)
