"""The pointer document survives Firestore's storage: types, slots and column order."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from perfcache.store import DatasetState, Pointer

STATE = DatasetState(
    slot="b",
    generation=3,
    synced_at=datetime(2026, 1, 5, 8, 0, tzinfo=UTC),
    row_count=2,
    checksum="abc",
    source_key="k",
    run_id="r-1",
    columns={"week_start": "week_start", "~a~2Eb": "a.b", "teacher_id": "teacher_id"},
    slots_equal=False,
)


def _as_firestore_returns(raw: dict[str, Any]) -> dict[str, Any]:
    # Firestore hands maps back with their keys sorted, not in the order written.
    def sort(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: sort(value[key]) for key in sorted(value)}
        return value

    return sort(raw)  # type: ignore[no-any-return]


def test_pointer_round_trip_keeps_the_result_column_order() -> None:
    pointer = Pointer(generation=3, datasets={"teacher_data": STATE})

    back = Pointer.from_firestore(_as_firestore_returns(pointer.to_firestore()))

    assert back == pointer
    assert list(back.datasets["teacher_data"].columns) == [
        "week_start",
        "~a~2Eb",
        "teacher_id",
    ]


def test_an_empty_pointer_means_nothing_synced_yet() -> None:
    assert Pointer.from_firestore(None) == Pointer()


def test_a_corrupt_slot_is_refused_with_what_was_found() -> None:
    raw = STATE.to_firestore() | {"slot": "c"}

    with pytest.raises(ValueError, match="'c'"):
        DatasetState.from_firestore(raw)
