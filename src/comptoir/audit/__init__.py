"""The audit log: who did what, when, from where, to which object.

`audit.record(...)` is the one way to write it (`from comptoir import audit`); the typed actions
call it for security and admin changes. The log is append-only: rows are never changed, and
only the retention prune (`audit.tasks`) deletes them.
"""

from __future__ import annotations

from comptoir.audit.log import diff, record, request_context

__all__ = ["diff", "record", "request_context"]
