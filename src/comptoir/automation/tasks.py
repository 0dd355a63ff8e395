"""Background work of the automation: the rules pump and the time-based rules."""

from __future__ import annotations

from datetime import timedelta

from django.tasks import task

from comptoir.automation import engine
from comptoir.jobs.periodic import periodic

# The pump is kicked after ingest and after actions; this catches whatever a kick missed (a
# worker that died, events written in bulk by a sweep) within a minute.
PUMP_SAFETY_EVERY = timedelta(minutes=1)
SILENT_EVERY = timedelta(minutes=15)


@task()
def pump_rules() -> str:
    result = engine.pump()
    if result.busy:
        return "another worker is pumping"
    return f"{result.events} events, {result.runs} rule runs, at {result.position}"


@periodic("automation.rules_pump", every=PUMP_SAFETY_EVERY)
@task()
def pump_rules_periodic() -> str:
    return str(pump_rules.call())


@periodic("automation.silent_rules", every=SILENT_EVERY)
@task()
def run_silent_rules() -> int:
    """Rules on conversations where the buyer has not answered for N days."""
    return engine.run_silent_rules()


@periodic("automation.purge_rule_runs", every=timedelta(hours=6))
@task()
def purge_rule_runs() -> int:
    return engine.purge_runs()
