"""Content-addressed files (messages' originals and attachments): a file's name is its SHA-256.

They go through Django's storage API, the `files` entry of STORAGES: local disk by default, an
S3-compatible bucket when several hosts share them (`comptoir.lib.hosting`).

The same bytes are stored once and may belong to several messages (a logo in every mail): a file
is removed only when no row names it any more (`discard`), and never while a writer may be
naming it again (storing refreshes the file's modification time; `discard` leaves a file
stored within `DISCARD_GRACE` for a later purge)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from django.core.files.base import ContentFile
from django.core.files.storage import Storage, storages


def storage() -> Storage:
    return storages["files"]


def name_for(sha256: str) -> str:
    return f"{sha256[:2]}/{sha256[2:4]}/{sha256}"


def path_for(sha256: str) -> Path:
    """The file's path on local disk (the local storage only: S3 has no paths)."""
    return Path(storage().path(name_for(sha256)))


def exists(sha256: str) -> bool:
    return storage().exists(name_for(sha256))


def store_bytes(data: bytes) -> str:
    """Write data once (idempotent, atomic) and return its SHA-256."""
    digest = hashlib.sha256(data).hexdigest()
    name = name_for(digest)
    store = storage()
    touch = getattr(store, "touch", None)
    try:
        if touch is not None:
            # Already there: "in use again", so a purge running now leaves it (see `discard`).
            touch(name)
            return digest
        # A bucket cannot touch an object. Stored within half the grace, a purge keeps it for
        # longer than any writer takes to commit; older, it is written again, which refreshes
        # its time.
        if time.time() - store.get_modified_time(name).timestamp() < DISCARD_GRACE / 2:
            return digest
    except Exception as exc:
        if not _missing(exc):
            raise
    store.save(name, ContentFile(data))
    return digest


def _missing(exc: Exception) -> bool:
    """Whether a storage error says the file is not there (a bucket answers 404)."""
    if isinstance(exc, FileNotFoundError):
        return True
    error = getattr(exc, "response", None) or {}
    return str(error.get("Error", {}).get("Code", "")) in ("404", "NoSuchKey", "NotFound")


def read_bytes(sha256: str) -> bytes:
    with storage().open(name_for(sha256), "rb") as fh:
        data: bytes = fh.read()
    return data


# A file stored (or stored again) this recently may be about to be named by a row that is not
# committed yet: `discard` keeps it.
DISCARD_GRACE = 3600.0


def discard(digests: Iterable[str], *, still_used: Callable[[set[str]], set[str]]) -> int:
    """Remove the files of `digests` that `still_used` (the digests some row still names, asked
    after the rows were deleted) does not claim; returns how many were removed."""
    wanted = {d for d in digests if d}
    if not wanted:
        return 0
    store = storage()
    removed = 0
    now = time.time()
    for digest in sorted(wanted - still_used(wanted)):
        name = name_for(digest)
        try:
            if now - store.get_modified_time(name).timestamp() < DISCARD_GRACE:
                continue
        except Exception as exc:
            if _missing(exc):
                continue
            raise
        store.delete(name)
        removed += 1
    return removed
