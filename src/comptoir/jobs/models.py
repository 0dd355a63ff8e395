"""State of the periodic jobs, shared by every worker so that each tick runs once."""

from __future__ import annotations

from django.db import models


class PeriodicJob(models.Model):
    name = models.CharField(max_length=100, primary_key=True)
    next_run_at = models.DateTimeField()
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_claimed_by = models.CharField(max_length=64, blank=True, default="")
    runs = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return self.name


class JobRun(models.Model):
    """One line per periodic tick enqueued, for the admin and for tests of exactly-once."""

    job = models.ForeignKey(PeriodicJob, on_delete=models.CASCADE, related_name="history")
    scheduled_for = models.DateTimeField()
    claimed_by = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["job", "scheduled_for"], name="jobrun_unique_tick")
        ]

    def __str__(self) -> str:
        return f"{self.job_id} @ {self.scheduled_for:%Y-%m-%d %H:%M:%S}"


class Lease(models.Model):
    """Something long-running that one worker holds at a time (e.g. the IDLE connection to a
    mailbox): held while renewed, free for another worker once `expires_at` has passed."""

    name = models.CharField(max_length=100, primary_key=True)
    holder = models.CharField(max_length=64)
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} held by {self.holder}"
