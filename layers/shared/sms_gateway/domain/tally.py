"""Counts and samples added by a service's worker threads, read once from the handler's thread
(Powertools' ``Metrics`` is not thread-safe, so workers never touch it)."""

from __future__ import annotations

import threading
from collections import Counter, defaultdict


class Tally:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._samples: defaultdict[str, list[float]] = defaultdict(list)

    def add(self, name: str, value: int = 1) -> None:
        if value:
            with self._lock:
                self._counts[name] += value

    def sample(self, name: str, value: float) -> None:
        with self._lock:
            self._samples[name].append(value)

    @property
    def counts(self) -> Counter[str]:
        """A copy of the counts (a name never added counts 0)."""
        with self._lock:
            return Counter(self._counts)

    def samples(self, name: str) -> list[float]:
        with self._lock:
            return list(self._samples[name])
