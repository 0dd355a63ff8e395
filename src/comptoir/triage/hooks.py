"""What triage tells the apps above it: messages were read (the rules that test an intent or
an urgency wait for it)."""

from __future__ import annotations

from comptoir.inbox.hooks import Hook

# The ids of the messages just read, after the reading committed.
messages_read: Hook[[list[int]]] = Hook("messages read", after_commit=True)
