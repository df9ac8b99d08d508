"""What a run reports: the CLI's JSON, the ``sync_runs/<run_id>`` document, one shape.

    {run_id, status, trigger, started_at, finished_at, data_type, force, dry_run,
     message_id, error, retryable,
     datasets: {name: {status, reason, rows_read, inserted, updated, deleted,
                       unchanged, rejected, firestore_reads, firestore_writes,
                       firestore_deletes, bytes_processed, duration_s}},
     rejects: {name: [{doc_id, reason}, ...]}}

Run status: ``running`` while in progress (a crashed run leaves it, and the next run
that takes over its lease marks it ``abandoned``), then ``succeeded``, ``skipped``
(every dataset skipped), ``failed`` (a dataset or the run failed; ``retryable`` says
whether Pub/Sub should deliver the message again), ``already_running`` (another run
holds the lease) or ``duplicate`` (a redelivered message whose run already finished).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from perfcache import logs, store

if TYPE_CHECKING:
    from google.cloud import firestore as fs

log = logs.get_logger(__name__)

Trigger = Literal["cli", "pubsub", "api"]
RunStatus = Literal[
    "running",
    "succeeded",
    "skipped",
    "failed",
    "already_running",
    "duplicate",
    "abandoned",
]
DatasetStatus = Literal["synced", "skipped", "failed", "dry_run"]

# Runs in these states did what their message asked: a redelivery is acknowledged.
# A failed run counts only when the failure was fatal (retryable is False).
_FINISHED = frozenset({"succeeded", "skipped", "duplicate"})

# How many rejected rows a dataset lists in the run log (all are counted).
REJECTS_SAMPLE = 10


@dataclass
class DatasetReport:
    """One dataset's line in the run summary; counters grow as the run goes."""

    status: DatasetStatus = "synced"
    reason: str = ""
    rows_read: int = 0
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    rejected: int = 0
    firestore_reads: int = 0
    firestore_writes: int = 0
    firestore_deletes: int = 0
    bytes_processed: int = 0
    duration_s: float = 0.0


@dataclass
class RunReport:
    run_id: str
    trigger: Trigger
    started_at: datetime
    data_type: str = "all"
    force: bool = False
    dry_run: bool = False
    message_id: str = ""
    status: RunStatus = "running"
    finished_at: datetime | None = None
    error: str = ""
    retryable: bool = False
    datasets: dict[str, DatasetReport] = field(default_factory=dict)
    rejects: dict[str, list[dict[str, str]]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when the CLI exits 0: the run did its work, or had none to do."""
        return self.status not in {"failed", "running", "abandoned"}

    def to_dict(self) -> dict[str, Any]:
        """The JSON object the CLI prints and the run log stores."""
        return {
            "run_id": self.run_id,
            "status": self.status,
            "trigger": self.trigger,
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "data_type": self.data_type,
            "force": self.force,
            "dry_run": self.dry_run,
            "message_id": self.message_id,
            "error": self.error,
            "retryable": self.retryable,
            "datasets": {name: asdict(d) for name, d in self.datasets.items()},
            "rejects": self.rejects,
        }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


def new_run_id(now: datetime) -> str:
    """Sortable and usable as a BigQuery job label value (lower case, digits, -)."""
    import uuid

    return f"{now:%Y%m%dt%H%M%S}z-{uuid.uuid4().hex[:8]}"


def save(client: fs.Client, report: RunReport) -> None:
    """Writes the run's document; the last call of a run holds its final summary."""
    client.collection(store.RUNS_COLLECTION).document(report.run_id).set(
        report.to_dict()
    )


def finished_run_for(client: fs.Client, message_id: str) -> str | None:
    """The id of a run that already finished the Pub/Sub message, if there is one.

    A run that failed for a transient cause does not count: the redelivery is exactly
    what should retry it.
    """
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = client.collection(store.RUNS_COLLECTION).where(
        filter=FieldFilter("message_id", "==", message_id)
    )
    for snapshot in query.stream():
        run = snapshot.to_dict() or {}
        status = run.get("status")
        if status in _FINISHED or (status == "failed" and not run.get("retryable")):
            return snapshot.id
    return None


def mark_abandoned(client: fs.Client, run_id: str) -> None:
    """Marks a crashed run's log ``abandoned`` if it still says ``running``."""
    reference = client.collection(store.RUNS_COLLECTION).document(run_id)
    snapshot = reference.get()
    if snapshot.exists and (snapshot.to_dict() or {}).get("status") == "running":
        reference.update(
            {
                "status": "abandoned",
                "error": "the run stopped before finishing; a later run took over",
                "retryable": True,
            }
        )
        log.warning("found an abandoned run", extra={"abandoned_run_id": run_id})
