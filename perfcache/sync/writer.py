"""Batched, paced, retried Firestore writes of row documents.

Commits hold at most 500 writes (Firestore's limit) and about 9 MiB of documents (the
request limit is 10 MiB; the rest is headroom for names and framing). Each commit is
retried on transient errors with jittered exponential backoff until a deadline; sets
use fixed ids and deletes are idempotent, so a retried or repeated commit never
duplicates a row.

Pacing follows Firestore's 500/50/5 guidance for traffic to a collection: start at
``write_ramp_start_ops`` operations per second (500) and raise the rate by 50 % every
5 minutes. The ramp starts with the first commit of a run and applies to every write of
that run: an incremental sync of a few rows never reaches the rate, and a first load of
a large dataset grows into the collection's key range the way Firestore asks.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from perfcache import logs, store, values
from perfcache.errors import TransientError, is_transient

if TYPE_CHECKING:
    from google.cloud import firestore as fs

log = logs.get_logger(__name__)

MiB = 1024 * 1024
MAX_BATCH_WRITES = 500  # Firestore's limit on writes in one commit
MAX_BATCH_BYTES = 9 * MiB  # 10 MiB request limit, headroom for names and framing
# A document no bigger than its share of a full batch's byte budget can be counted at
# that share without measuring it: 500 of them still fit in one commit.
SMALL_DOCUMENT_BYTES = MAX_BATCH_BYTES // MAX_BATCH_WRITES
RAMP_STEP_S = 5 * 60  # the "5" of 500/50/5: minutes between rate increases
RAMP_FACTOR = 1.5  # the "50": each step raises the rate by half
_BACKOFF_FIRST_S = 0.25
_BACKOFF_MAX_S = 16.0


class Ramp:
    """Paces operations to a rate that starts at ``start_ops``/s and grows by 50 %
    every 5 minutes; ``clock`` and ``sleep`` are injectable for tests."""

    def __init__(
        self,
        start_ops: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.start_ops = start_ops
        self._clock = clock
        self._sleep = sleep
        self._started: float | None = None
        self._free_at = 0.0

    def rate(self, now: float) -> float:
        """Operations per second allowed at ``now``."""
        if self._started is None:
            return self.start_ops
        steps = int((now - self._started) // RAMP_STEP_S)
        return float(self.start_ops * RAMP_FACTOR**steps)

    def wait(self, ops: int) -> None:
        """Blocks until ``ops`` more operations fit the rate, then books them."""
        now = self._clock()
        if self._started is None:
            self._started = now
            self._free_at = now
        if self._free_at > now:
            self._sleep(self._free_at - now)
            now = self._free_at
        self._free_at = now + ops / self.rate(now)


@dataclass
class Counts:
    """Firestore operations this code made, by kind (committed ones only)."""

    writes: int = 0
    deletes: int = 0
    commits: int = 0


@dataclass
class _Pending:
    sets: list[tuple[Any, dict[str, Any]]] = field(default_factory=list)
    deletes: list[Any] = field(default_factory=list)
    size: int = 0

    def __len__(self) -> int:
        return len(self.sets) + len(self.deletes)


class Writer:
    """Queues sets and deletes into one collection and commits them in batches.

    writer = Writer(client, "teacher_data_b", ramp, deadline_s=120)
    writer.set(doc_id, {"d": row, "_h": row_hash})
    writer.delete(old_id)
    writer.flush()
    """

    def __init__(
        self,
        client: fs.Client,
        collection: str,
        ramp: Ramp,
        deadline_s: float,
        counts: Counts | None = None,
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        self.client = client
        self.collection = collection
        self.counts = counts if counts is not None else Counts()
        self._ramp = ramp
        self._deadline_s = deadline_s
        self._pending = _Pending()
        self._on_commit = on_commit
        self._reference = client.collection(collection)

    def set(self, doc_id: str, fields: dict[str, Any], size: int | None = None) -> None:
        """Queues a write; ``size`` is the document's storage size when known."""
        if size is None:
            size = values.document_size(self.collection, doc_id, fields)
        if self._pending and self._pending.size + size > MAX_BATCH_BYTES:
            self.flush()
        self._pending.sets.append((self._reference.document(doc_id), fields))
        self._pending.size += size
        if len(self._pending) >= MAX_BATCH_WRITES:
            self.flush()

    def delete(self, doc_id: str) -> None:
        self._pending.deletes.append(self._reference.document(doc_id))
        if len(self._pending) >= MAX_BATCH_WRITES:
            self.flush()

    def flush(self) -> None:
        """Commits what is queued (retrying transient errors), then clears it."""
        pending, self._pending = self._pending, _Pending()
        if not pending:
            return
        self._ramp.wait(len(pending))
        started = time.monotonic()
        self._commit_with_retry(pending)
        elapsed = time.monotonic() - started
        self.counts.writes += len(pending.sets)
        self.counts.deletes += len(pending.deletes)
        self.counts.commits += 1
        log.info(
            "commit written",
            extra={
                "collection": self.collection,
                "writes": len(pending.sets),
                "deletes": len(pending.deletes),
                "bytes": pending.size,
                "duration_s": round(elapsed, 3),
                "rows_per_s": round(len(pending) / elapsed) if elapsed else None,
            },
        )
        if self._on_commit is not None:
            self._on_commit()

    def _commit_with_retry(self, pending: _Pending) -> None:
        deadline = time.monotonic() + self._deadline_s
        attempt = 0
        while True:
            batch = self.client.batch()
            for reference, fields in pending.sets:
                batch.set(reference, fields)
            for reference in pending.deletes:
                batch.delete(reference)
            try:
                batch.commit()
            except Exception as error:
                if not is_transient(error):
                    raise
                attempt += 1
                pause = min(_BACKOFF_MAX_S, _BACKOFF_FIRST_S * 2**attempt)
                pause = random.uniform(0, pause)  # noqa: S311 (jitter, not security)
                if time.monotonic() + pause > deadline:
                    raise TransientError(
                        f"a commit to {self.collection!r} kept failing for "
                        f"{self._deadline_s:.0f} s ({attempt} attempts), last with "
                        f"{type(error).__name__}: {error}. Firestore may be "
                        "overloaded; the next run will retry."
                    ) from error
                log.warning(
                    "commit failed; retrying",
                    extra={
                        "collection": self.collection,
                        "attempt": attempt,
                        "pause_s": round(pause, 3),
                        "error": f"{type(error).__name__}: {error}",
                    },
                )
                time.sleep(pause)
            else:
                return


def row_fields(data: dict[str, Any], row_hash: str) -> dict[str, Any]:
    """The stored document of one row: the encoded row and its content hash."""
    return {store.DATA_FIELD: data, store.HASH_FIELD: row_hash}
