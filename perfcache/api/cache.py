"""Per-instance memory: the pointer for a few seconds, responses until evicted.

Both live in the function instance and die with it. Response keys start with the
dataset's generation, so a new sync makes every older entry unreachable (and the LRU
evicts them); nothing needs invalidating by hand. Concurrent requests for a response
not yet cached share one build, so a burst on a cold instance costs one Firestore
query per distinct request, not one per caller.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


class Lru(Generic[T]):
    """A bounded, thread-safe least-recently-used map."""

    def __init__(self, max_entries: int) -> None:
        self._max = max(0, max_entries)
        self._entries: OrderedDict[Hashable, T] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> T | None:
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key: Hashable, value: T) -> None:
        if self._max == 0:
            return
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


class Expiring(Generic[T]):
    """One value reloaded when older than ``ttl_s``; concurrent callers share a load."""

    def __init__(
        self,
        load: Callable[[], T],
        ttl_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._ttl_s = ttl_s
        self._clock = clock
        self._value: T | None = None
        self._loaded_at = float("-inf")
        self._lock = threading.Lock()

    def get(self) -> T:
        with self._lock:
            if self._value is None or self._clock() - self._loaded_at >= self._ttl_s:
                self._value = self._load()
                self._loaded_at = self._clock()
            return self._value

    def expire(self) -> None:
        with self._lock:
            self._value = None


@dataclass
class _Flight(Generic[T]):
    done: threading.Event = field(default_factory=threading.Event)
    value: T | None = None
    error: BaseException | None = None


class SingleFlight(Generic[T]):
    """Runs one build per key at a time; callers arriving meanwhile get its result.

    shared = SingleFlight[bytes]()
    body = shared.run(key, build)  # build runs once for overlapping callers
    """

    def __init__(self) -> None:
        self._flights: dict[Hashable, _Flight[T]] = {}
        self._lock = threading.Lock()

    def run(self, key: Hashable, build: Callable[[], T]) -> T:
        with self._lock:
            flight = self._flights.get(key)
            leader = flight is None
            if flight is None:
                flight = self._flights[key] = _Flight()

        if not leader:
            flight.done.wait()
            if flight.error is not None:
                raise flight.error
            assert flight.value is not None
            return flight.value

        try:
            flight.value = build()
        except BaseException as error:
            flight.error = error
            raise
        finally:
            with self._lock:
                del self._flights[key]
            flight.done.set()
        return flight.value
