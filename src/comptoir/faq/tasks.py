"""The FAQ page kept fresh: buyers' questions mined again every week."""

from __future__ import annotations

from datetime import timedelta

from django.tasks import task
from django.utils import timezone

from comptoir.faq import actions
from comptoir.jobs.periodic import periodic

MINE_EVERY = timedelta(days=7)
# What a week's mining reads: the last quarter, as `comptoir faq mine --since 90d` does.
WINDOW = timedelta(days=90)


@periodic("faq.mine", every=MINE_EVERY)
@task()
def mine_weekly() -> str:
    run = actions.mine(timezone.now() - WINDOW)
    return f"{run.messages} questions, {run.clusters} clusters"
