"""Column names Firestore cannot hold as they are, and rows Firestore cannot store."""

from __future__ import annotations

import re
from typing import Any

import pytest
from google.cloud.bigquery import SchemaField
from hypothesis import given
from hypothesis import strategies as st

from perfcache.values import (
    MAX_DEPTH,
    MAX_DOCUMENT_BYTES,
    MAX_ENCODED_NAME_BYTES,
    column_map,
    decode_column_name,
    document_size,
    encode_column_name,
    is_hashed_column_name,
    row_problem,
    row_to_json,
)

FIRESTORE_NAME_LIMIT = 1_500


def valid_field_name(name: str) -> bool:
    return (
        name != ""
        and re.fullmatch(r"__.*__", name, re.DOTALL) is None
        and len(name.encode("utf-8")) <= FIRESTORE_NAME_LIMIT
    )


@pytest.mark.parametrize(
    ("name", "encoded"),
    [
        ("teacher_id", "teacher_id"),
        ("_private", "_private"),
        ("a.b", "~a~2Eb"),
        ("a/b", "~a~2Fb"),
        ("`q`", "~~60q~60"),
        ("__x__", "~__x__"),
        ("", "~"),
        ("1st", "~1st"),
        ("~", "~~7E"),
        ("école name", "~école~20name"),
        ("tab\there", "~tab~09here"),
    ],
)
def test_column_name_rule(name: str, encoded: str) -> None:
    assert encode_column_name(name) == encoded
    assert decode_column_name(encoded) == name


def test_over_long_names_get_a_unique_hashed_form() -> None:
    first, second = "é." * 500 + "a", "é." * 500 + "b"
    encoded = [encode_column_name(first), encode_column_name(second)]
    assert encoded[0] != encoded[1]
    assert all(is_hashed_column_name(name) for name in encoded)
    assert all(len(name.encode()) <= MAX_ENCODED_NAME_BYTES for name in encoded)
    with pytest.raises(ValueError, match="look it up in the pointer's columns map"):
        decode_column_name(encoded[0])


def test_every_bigquery_length_name_stays_reversible() -> None:
    # BigQuery names have at most 300 characters; the worst case escapes each one.
    worst = ["." * 300, "\U0001f600" * 300, "é" * 300]
    for name in worst:
        assert decode_column_name(encode_column_name(name)) == name


def test_column_map_resolves_hashed_record_fields() -> None:
    long_name = "." * 1000
    schema = [SchemaField("r", "RECORD", fields=[SchemaField(long_name, "INT64")])]
    columns = column_map(schema)
    hashed = encode_column_name(long_name)
    assert list(columns) == ["r", hashed]
    assert row_to_json({"r": {hashed: 1}}, columns) == {"r": {long_name: 1}}


def test_decode_refuses_names_encode_never_makes() -> None:
    for bad in ("a.b", "~a~2", "~a~zz", "__x__"):
        with pytest.raises(ValueError, match="expected"):
            decode_column_name(bad)


@given(st.text(max_size=400))
def test_encoded_names_are_valid_firestore_field_names(name: str) -> None:
    assert valid_field_name(encode_column_name(name))


@given(st.text(max_size=400))
def test_encoding_round_trips_within_the_limit(name: str) -> None:
    encoded = encode_column_name(name)
    if not is_hashed_column_name(encoded):
        assert decode_column_name(encoded) == name


@given(st.text(max_size=600), st.text(max_size=600))
def test_encoding_is_injective(first: str, second: str) -> None:
    if first != second:
        assert encode_column_name(first) != encode_column_name(second)


@given(st.lists(st.text(max_size=40), min_size=2, max_size=20, unique=True))
def test_distinct_names_never_collide(names: list[str]) -> None:
    assert len({encode_column_name(name) for name in names}) == len(names)


# --- sizes ---------------------------------------------------------------------


def test_document_size_matches_the_documented_example() -> None:
    # Firestore's storage size page: users/jeff/tasks/my_task_id is 147 bytes.
    fields = {
        "type": "Personal",
        "done": False,
        "priority": 1,
        "description": "Learn Cloud Firestore",
    }
    assert document_size("users/jeff/tasks", "my_task_id", fields) == 147


def test_document_size_counts_every_type() -> None:
    from datetime import UTC, datetime

    fields: dict[str, Any] = {
        "n": None,  # 2 + 1
        "f": 1.5,  # 2 + 8
        "t": datetime(2024, 1, 1, tzinfo=UTC),  # 2 + 8
        "b": b"abc",  # 2 + 3
        "s": "é",  # 2 + 3
        "m": {"x": [1, True]},  # 2 + (2 + 8 + 1)
    }
    name = len("c") + 1 + len("id") + 1 + 16
    assert document_size("c", "id", fields) == name + 3 + 10 + 10 + 5 + 5 + 13 + 32


# --- rejections ----------------------------------------------------------------


def nested(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = {"k": value}
    return value


def row_doc(row: dict[str, Any]) -> dict[str, Any]:
    return {"d": row, "_h": "0" * 64}


def test_a_small_row_passes() -> None:
    assert row_problem(row_doc({"a": 1, "b": [{"c": [1, 2]}]}), "s:1") is None


def test_maps_nested_20_deep_pass_and_21_fail() -> None:
    # d is level 1, so a column may hold 19 levels of maps.
    assert row_problem(row_doc({"c": nested(19)}), "s:1") is None
    reason = row_problem(row_doc({"c": nested(20)}), "s:1")
    assert reason is not None
    assert f"more than {MAX_DEPTH} levels" in reason


def test_arrays_count_towards_depth() -> None:
    value: Any = 1
    for _ in range(10):
        value = [{"k": value}]
    reason = row_problem(row_doc({"c": value}), "s:1")
    assert reason is not None
    assert "levels" in reason


def test_an_array_directly_inside_an_array_is_refused() -> None:
    reason = row_problem(row_doc({"c": [[1]]}), "s:1")
    assert reason == "field 'd.c' holds an array directly inside an array, which " + (
        "Firestore cannot store"
    )


def test_a_document_over_one_mebibyte_is_refused_by_its_size() -> None:
    doc = row_doc({"a": "x" * 600_000, "b": "y" * 600_000})
    reason = row_problem(doc, "s:1", collection="teacher_data_a")
    assert reason is not None
    assert f"the limit is {MAX_DOCUMENT_BYTES:,}" in reason


def test_the_size_check_is_exact_at_the_limit() -> None:
    doc = row_doc({"a": "", "b": "y" * 600_000})
    missing = MAX_DOCUMENT_BYTES - document_size("t_a", "s:1", doc)
    doc["d"]["a"] = "x" * missing
    assert row_problem(doc, "s:1", collection="t_a") is None
    doc["d"]["a"] += "x"
    assert row_problem(doc, "s:1", collection="t_a") is not None


def test_the_default_collection_is_the_longest_row_collection() -> None:
    doc = row_doc({"a": "", "b": "y" * 600_000})
    doc["d"]["a"] = "x" * (MAX_DOCUMENT_BYTES - document_size("c", "s:1", doc))
    # Fits in a one-letter collection, not in the datasets' longer ones.
    assert row_problem(doc, "s:1", collection="c") is None
    assert row_problem(doc, "s:1") is not None


def test_a_long_field_path_is_refused() -> None:
    reason = row_problem(row_doc({"a" * 800: {"b" * 800: 1}}), "s:1")
    assert reason is not None
    assert "Firestore allows 1,500" in reason


def test_a_single_value_over_the_value_limit_is_refused() -> None:
    reason = row_problem({"p": b"x" * 1_048_488}, "s:1", collection="c")
    assert reason is not None
    assert "per string or bytes value" in reason


@pytest.mark.parametrize("name", ["", "__x__"])
def test_names_firestore_reserves_are_refused(name: str) -> None:
    assert row_problem(row_doc({name: 1}), "s:1") is not None
