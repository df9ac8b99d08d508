"""The sync's row index: lookups by id, repeated ids, and the diff against a slot."""

from __future__ import annotations

import hashlib

import pytest

from perfcache.sync.index import RowIndex, Selection, compare, digest


def _hash(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()[:16]


def _index(rows: dict[str, bytes]) -> RowIndex:
    index = RowIndex()
    for doc_id, row_hash in rows.items():
        index.add(doc_id, row_hash)
    assert index.freeze() == set()
    return index


def test_every_added_id_is_found_with_its_hash_and_others_are_not() -> None:
    rows = {f"s:T{n}|d:2025-09-01": _hash(str(n)) for n in range(2_000)}
    # A hash ending in zero bytes must come back whole, not stripped.
    rows["s:zeros"] = b"\x07" + b"\x00" * 15
    index = _index(rows)

    positions = index.positions([*rows, "s:absent", ""])

    assert len(index) == len(rows)
    assert list(positions[-2:]) == [-1, -1]
    assert {index.hash_at(int(p)) for p in positions[:-2]} == set(rows.values())
    for doc_id, row_hash in rows.items():
        assert index.hash_at(index.position(doc_id)) == row_hash


def test_an_empty_index_finds_nothing() -> None:
    index = _index({})

    assert list(index.positions(["s:a", "s:b"])) == [-1, -1]
    assert len(compare(index, [[("s:a", _hash("a"))]]).vanished) == 1


def test_freeze_names_the_digests_of_repeated_ids() -> None:
    index = RowIndex()
    for doc_id in ["s:a", "s:b", "s:a", "s:c", "s:a", "s:b"]:
        index.add(doc_id, _hash(doc_id))

    assert index.freeze() == {digest("s:a"), digest("s:b")}


def test_compare_sorts_a_slot_into_unchanged_updated_inserted_and_vanished() -> None:
    index = _index({"s:same": _hash("1"), "s:moved": _hash("2"), "s:new": _hash("3")})
    stored = [
        [("s:gone", _hash("4")), ("s:moved", _hash("old"))],
        [],
        [("s:same", _hash("1"))],
    ]

    comparison = compare(index, stored)

    changed = {
        i
        for i in ["s:same", "s:moved", "s:new"]
        if comparison.changed.holds(index.position(i))
    }
    assert changed == {"s:moved", "s:new"}
    assert comparison.vanished == ["s:gone"]
    assert (comparison.inserted, comparison.updated, comparison.present) == (1, 1, 2)


def test_a_stored_hash_of_the_wrong_shape_is_rewritten() -> None:
    # A zero hash pads like b"" in a fixed-width array: the shape check must catch it.
    index = _index({"s:a": b"\x00" * 16, "s:b": _hash("b")})

    comparison = compare(index, [[("s:a", b""), ("s:b", _hash("b").hex().encode())]])

    assert len(comparison.changed) == 2
    assert comparison.updated == 2


def test_a_union_of_selections_holds_what_any_of_them_holds() -> None:
    index = _index({"s:a": _hash("a"), "s:b": _hash("b"), "s:c": _hash("c")})
    first = compare(index, [[("s:a", _hash("a")), ("s:b", _hash("b"))]]).changed
    second = compare(index, [[("s:c", _hash("c")), ("s:b", _hash("b"))]]).changed

    union = Selection.union([first, second], len(index))

    assert (len(first), len(second)) == (1, 1)
    assert len(union) == 2
    assert not union.holds(index.position("s:b"))
    assert not union.holds(-1)


def test_an_open_index_refuses_lookups_that_would_call_every_row_vanished() -> None:
    index = RowIndex()
    index.add("s:a", _hash("a"))

    with pytest.raises(RuntimeError, match="Call freeze"):
        compare(index, [[("s:a", _hash("a"))]])
