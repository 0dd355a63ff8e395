from __future__ import annotations

from django.apps import AppConfig


class AutomationConfig(AppConfig):
    name = "comptoir.automation"
    label = "automation"

    def ready(self) -> None:
        # The inbox never imports automation: the reply action is handed the checks here, and
        # the rules hear of the inbox's events by subscribing to them.
        from comptoir.automation import engine, suggest
        from comptoir.automation.actions import count_template_use
        from comptoir.automation.checks import presend_checker
        from comptoir.inbox import actions, hooks
        from comptoir.triage import hooks as triage_hooks

        # A port (it answers with results), not an event.
        actions.register_presend_checker(presend_checker)
        hooks.reply_queued.subscribe(count_template_use)
        hooks.reply_queued.subscribe(suggest.answered_with_template)
        hooks.events_written.subscribe(engine.wake_for_events)
        hooks.messages_stored.subscribe(engine.wake_for_messages)
        triage_hooks.messages_read.subscribe(engine.wake_for_reading)
        # Registers the rules pump's periodic runs, in every process.
        from comptoir.automation import tasks  # noqa: F401
