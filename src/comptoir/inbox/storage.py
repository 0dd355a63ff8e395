"""The local backend of the `files` storage (see `comptoir.lib.hosting`)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from django.core.files.storage import FileSystemStorage


class AtomicFileSystemStorage(FileSystemStorage):
    """Django's file system storage, but a file is written to a temporary name and renamed into
    place: readers never see half a file, and saving a name again replaces it (the files are
    content-addressed, so the same name always holds the same bytes)."""

    def get_available_name(self, name: str, max_length: int | None = None) -> str:
        return name  # never "name_x7Yz": the name is the content's digest

    def _save(self, name: str, content: Any) -> str:
        target = Path(self.path(name))
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                for chunk in content.chunks():
                    fh.write(chunk)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return name

    def touch(self, name: str) -> None:
        """Mark the file as just stored again (see `inbox.files.discard`)."""
        os.utime(self.path(name))
