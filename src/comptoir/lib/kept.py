"""A bounded map kept per process and shared by its threads: the least recently used entry is
dropped past `most` (rendered page parts, compiled queries)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable


class Kept[V]:
    def __init__(self, most: int) -> None:
        self.most = most
        self._entries: OrderedDict[Hashable, V] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable) -> V | None:
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key: Hashable, value: V) -> None:
        with self._lock:
            self._entries[key] = value
            while len(self._entries) > self.most:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
