"""Content-addressed file storage under FILES_DIR: a file's name is its SHA-256.

The same bytes are stored once and may belong to several messages (a logo in every mail): a file
is removed only when no row names it any more (`discard`), and never while a writer may be
naming it again (storing touches the file; `discard` leaves a file touched within
`DISCARD_GRACE` for a later purge)."""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from django.conf import settings


def path_for(sha256: str) -> Path:
    return Path(settings.FILES_DIR) / sha256[:2] / sha256[2:4] / sha256


def store_bytes(data: bytes) -> str:
    """Write data once (idempotent, atomic) and return its SHA-256."""
    digest = hashlib.sha256(data).hexdigest()
    target = path_for(digest)
    if target.exists():
        try:
            # "In use again": a purge running now leaves it (see `discard`).
            os.utime(target)
            return digest
        except FileNotFoundError:
            pass  # a purge removed it just now: write it again
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return digest


def read_bytes(sha256: str) -> bytes:
    return path_for(sha256).read_bytes()


# A file stored (or stored again) this recently may be about to be named by a row that is not
# committed yet: `discard` keeps it.
DISCARD_GRACE = 3600.0


def discard(digests: Iterable[str], *, still_used: Callable[[set[str]], set[str]]) -> int:
    """Remove the files of `digests` that `still_used` (the digests some row still names, asked
    after the rows were deleted) does not claim; returns how many were removed."""
    wanted = {d for d in digests if d}
    if not wanted:
        return 0
    removed = 0
    now = time.time()
    for digest in sorted(wanted - still_used(wanted)):
        target = path_for(digest)
        try:
            if now - target.stat().st_mtime < DISCARD_GRACE:
                continue
            target.unlink()
            removed += 1
        except FileNotFoundError:
            continue
    return removed
