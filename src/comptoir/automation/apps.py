from __future__ import annotations

from django.apps import AppConfig


class AutomationConfig(AppConfig):
    name = "comptoir.automation"
    label = "automation"

    def ready(self) -> None:
        # inbox never imports automation: the reply action learns of the checks and of the
        # template counting from here.
        from comptoir.automation import engine
        from comptoir.automation.actions import count_template_use
        from comptoir.automation.checks import presend_checker
        from comptoir.inbox import actions, hooks

        # A port (it answers with results), not an event.
        actions.register_presend_checker(presend_checker)
        hooks.reply_queued.subscribe(count_template_use)
        hooks.events_written.subscribe(engine._after_events)
        # Registers the rules pump's periodic runs and its after-ingest kick, in every process.
        from comptoir.automation import tasks  # noqa: F401
