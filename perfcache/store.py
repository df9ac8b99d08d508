"""Where the cache lives in Firestore, written by the sync and read by the API.

Each dataset has two row collections, ``<collection>_a`` and ``<collection>_b``, whose
document ids are the encoded row keys. One pointer document names, per dataset, the slot
readers use. A sync writes the changed rows into the slot nobody reads, switches the
pointer for all its datasets in one transaction, then brings the other slot level so the
next sync starts from two equal slots. Readers therefore see one whole sync or the one
before it, never a mix, and unchanged rows cost no writes.

    perfcache/pointer        {generation, switched_at, datasets: {name: DatasetState}}
    perfcache/lease          {run_id, holder, acquired_at, expires_at}
    <collection>_a|_b/<id>   {d: {<encoded column>: value, ...}, _h: <row hash>}
    sync_runs/<run_id>       the run summary the sync CLI prints
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from perfcache.datasets import Dataset

STATE_COLLECTION = "perfcache"
POINTER_DOC = "pointer"
LEASE_DOC = "lease"
RUNS_COLLECTION = "sync_runs"

Slot = Literal["a", "b"]
SLOTS: tuple[Slot, Slot] = ("a", "b")

# Row document fields: the encoded row and its content hash (for the sync's diff).
DATA_FIELD = "d"
HASH_FIELD = "_h"


def other(slot: Slot) -> Slot:
    return "b" if slot == "a" else "a"


def row_collection(dataset: Dataset, slot: Slot) -> str:
    return f"{dataset.collection}_{slot}"


def data_path(column: str) -> str:
    """The field path of an (already encoded) column inside a row document."""
    from google.cloud.firestore_v1.field_path import FieldPath

    return str(FieldPath(DATA_FIELD, column).to_api_repr())


@dataclass(frozen=True)
class DatasetState:
    """What the pointer says about one dataset."""

    slot: Slot
    generation: int
    synced_at: datetime
    row_count: int
    checksum: str
    source_key: str
    run_id: str
    # Encoded column name -> original BigQuery column name, in result order.
    columns: dict[str, str] = field(default_factory=dict)
    # True once the slot not served holds the same rows as the served one.
    slots_equal: bool = True

    def to_firestore(self) -> dict[str, Any]:
        return {
            "slot": self.slot,
            "generation": self.generation,
            "synced_at": self.synced_at,
            "row_count": self.row_count,
            "checksum": self.checksum,
            "source_key": self.source_key,
            "run_id": self.run_id,
            "columns": self.columns,
            # A Firestore map does not keep key order; the list keeps result order.
            "column_order": list(self.columns),
            "slots_equal": self.slots_equal,
        }

    @classmethod
    def from_firestore(cls, raw: dict[str, Any]) -> DatasetState:
        slot = raw.get("slot")
        if slot not in SLOTS:
            raise ValueError(f"pointer slot must be 'a' or 'b'; found {slot!r}")
        return cls(
            slot=slot,
            generation=int(raw["generation"]),
            synced_at=raw["synced_at"],
            row_count=int(raw["row_count"]),
            checksum=str(raw["checksum"]),
            source_key=str(raw.get("source_key", "")),
            run_id=str(raw.get("run_id", "")),
            columns=_ordered_columns(raw),
            slots_equal=bool(raw.get("slots_equal", True)),
        )


def _ordered_columns(raw: dict[str, Any]) -> dict[str, str]:
    """The pointer's column map in result order (when the order was recorded)."""
    columns: dict[str, str] = dict(raw.get("columns", {}))
    order = [name for name in raw.get("column_order", []) if name in columns]
    rest = [name for name in columns if name not in order]
    return {name: columns[name] for name in [*order, *rest]}


@dataclass(frozen=True)
class Pointer:
    """The served state of every dataset; ``generation`` moves on every switch."""

    generation: int = 0
    switched_at: datetime | None = None
    datasets: dict[str, DatasetState] = field(default_factory=dict)

    @classmethod
    def from_firestore(cls, raw: dict[str, Any] | None) -> Pointer:
        if not raw:
            return cls()
        return cls(
            generation=int(raw.get("generation", 0)),
            switched_at=raw.get("switched_at"),
            datasets={
                name: DatasetState.from_firestore(state)
                for name, state in raw.get("datasets", {}).items()
            },
        )

    def to_firestore(self) -> dict[str, Any]:
        return {
            "generation": self.generation,
            "switched_at": self.switched_at,
            "datasets": {
                name: state.to_firestore() for name, state in self.datasets.items()
            },
        }
