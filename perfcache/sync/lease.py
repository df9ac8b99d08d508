"""The lease that keeps two syncs from writing at the same time.

``perfcache/lease`` holds ``{run_id, holder, acquired_at, expires_at}``. A run takes
it in a transaction: free, expired (its run crashed: the TTL exceeds the function
timeout) or already ours, it becomes ours; otherwise the run reports "already running".
A run releases it when it ends, and renews it between datasets so a long run keeps it.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from perfcache import logs, store

if TYPE_CHECKING:
    from google.cloud import firestore as fs

log = logs.get_logger(__name__)


@dataclass(frozen=True)
class Claim:
    """The outcome of trying to take the lease."""

    acquired: bool
    # The run holding it (when not acquired) or the expired run taken over, if any.
    other_run_id: str = ""
    other_expires_at: datetime | None = None


def holder() -> str:
    """Who holds a lease, for a person reading the document: host and process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def acquire(client: fs.Client, run_id: str, ttl_s: float) -> Claim:
    """Takes the lease for ``run_id`` unless another live run holds it."""
    from google.cloud import firestore

    reference = _reference(client)

    @firestore.transactional
    def claim(transaction: Any) -> Claim:
        snapshot = reference.get(transaction=transaction)
        current = (snapshot.to_dict() or {}) if snapshot.exists else {}
        now = datetime.now(UTC)
        other = str(current.get("run_id", ""))
        expires_at = current.get("expires_at")
        if other and other != run_id and expires_at is not None and expires_at > now:
            return Claim(False, other, expires_at)
        transaction.set(reference, _lease(run_id, now, ttl_s))
        return Claim(True, other if other != run_id else "", expires_at)

    result: Claim = claim(client.transaction())
    return result


def renew(client: fs.Client, run_id: str, ttl_s: float) -> bool:
    """Pushes our lease's expiry forward; False when the lease is no longer ours."""
    from google.cloud import firestore

    reference = _reference(client)

    @firestore.transactional
    def extend(transaction: Any) -> bool:
        snapshot = reference.get(transaction=transaction)
        if not snapshot.exists or (snapshot.to_dict() or {}).get("run_id") != run_id:
            return False
        transaction.set(reference, _lease(run_id, datetime.now(UTC), ttl_s))
        return True

    renewed: bool = extend(client.transaction())
    if not renewed:
        log.error(
            "the sync lease is no longer ours; another run took it over",
            extra={"lease_ttl_s": ttl_s},
        )
    return renewed


def release(client: fs.Client, run_id: str) -> None:
    """Deletes the lease if it is still ours (a run that took it over keeps it)."""
    from google.cloud import firestore

    reference = _reference(client)

    @firestore.transactional
    def drop(transaction: Any) -> None:
        snapshot = reference.get(transaction=transaction)
        if snapshot.exists and (snapshot.to_dict() or {}).get("run_id") == run_id:
            transaction.delete(reference)

    drop(client.transaction())


def _reference(client: fs.Client) -> Any:
    return client.collection(store.STATE_COLLECTION).document(store.LEASE_DOC)


def _lease(run_id: str, now: datetime, ttl_s: float) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "holder": holder(),
        "acquired_at": now,
        "expires_at": now + timedelta(seconds=ttl_s),
    }
