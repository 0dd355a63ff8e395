"""Content-addressed file storage under FILES_DIR: a file's name is its SHA-256."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from django.conf import settings


def path_for(sha256: str) -> Path:
    return Path(settings.FILES_DIR) / sha256[:2] / sha256[2:4] / sha256


def store_bytes(data: bytes) -> str:
    """Write data once (idempotent, atomic) and return its SHA-256."""
    digest = hashlib.sha256(data).hexdigest()
    target = path_for(digest)
    if target.exists():
        return digest
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
