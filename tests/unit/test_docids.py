"""Document ids: deterministic, injective and valid whatever the key holds."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from perfcache.docids import (
    MAX_READABLE_ID_BYTES,
    DuplicateKeys,
    doc_id,
    format_keys,
)
from perfcache.errors import DuplicateKeyError, InvalidKeyError, NullKeyError


def valid_document_id(document_id: str) -> bool:
    """Firestore's documented constraints on a document id."""
    return (
        0 < len(document_id.encode("utf-8")) <= 1_500
        and "/" not in document_id
        and document_id not in {".", ".."}
        and re.fullmatch(r"__.*__", document_id, re.DOTALL) is None
    )


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (("T001", date(2024, 1, 1)), "s:T001|d:2024-01-01"),
        (("a/b",), "s:a%2Fb"),
        ((".",), "s:."),
        (("..",), "s:.."),
        (("__x__",), "s:__x__"),
        (("a|b", "c"), "s:a%7Cb|s:c"),
        (("100%",), "s:100%25"),
        (("",), "s:"),
        ((1,), "i:1"),
        (("1",), "s:1"),
        ((True,), "b:true"),
        ((1.5,), "f:1.5"),
        ((Decimal("1.500000000"),), "n:1.5"),
        ((datetime(2024, 1, 1, 2, 3),), "t:2024-01-01T02:03:00"),
        ((datetime(2024, 1, 1, 2, tzinfo=UTC),), "z:2024-01-01T02:00:00.000000Z"),
        ((time(1, 2, 3, 4),), "h:01:02:03.000004"),
        ((b"\xfb\xff",), "y:-_8="),
    ],
)
def test_readable_ids(key: tuple[Any, ...], expected: str) -> None:
    assert doc_id(key) == expected


def test_separator_inside_parts_does_not_collide() -> None:
    assert doc_id(("a|s:b",)) != doc_id(("a", "b"))
    assert doc_id(("a", "")) != doc_id(("a|s:",))


def test_same_instant_in_two_zones_is_one_timestamp_key() -> None:
    plus_two = timezone(timedelta(hours=2))
    assert doc_id((datetime(2024, 1, 1, 2, tzinfo=plus_two),)) == doc_id(
        (datetime(2024, 1, 1, tzinfo=UTC),)
    )


def test_long_keys_use_the_hashed_form() -> None:
    long_id = doc_id(("é" * 1000,))
    assert re.fullmatch(r"#[0-9a-f]{64}", long_id)
    assert doc_id(("é" * 1000,)) == long_id
    assert doc_id(("é" * 1001,)) != long_id


def test_the_readable_limit_is_where_hashing_starts() -> None:
    fits = "a" * (MAX_READABLE_ID_BYTES - len("s:"))
    assert doc_id((fits,)) == "s:" + fits
    assert doc_id((fits + "a",)).startswith("#")


def test_a_null_key_is_refused() -> None:
    with pytest.raises(NullKeyError, match="key value 2 is NULL"):
        doc_id(("T1", None))


@pytest.mark.parametrize("key", [(), ({"a": 1},), ([1],), (Decimal("NaN"),)])
def test_keys_that_cannot_name_a_document_are_refused(key: tuple[Any, ...]) -> None:
    with pytest.raises(InvalidKeyError, match="expected"):
        doc_id(key)


# --- properties ------------------------------------------------------------------

scalars = st.one_of(
    st.text(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.booleans(),
    st.floats(allow_nan=False),
    st.decimals(allow_nan=False, allow_infinity=False, places=9),
    st.dates(),
    st.datetimes(),
    st.datetimes(timezones=st.just(UTC)),
    st.times(),
    st.binary(),
)
keys = st.lists(scalars, min_size=1, max_size=4).map(tuple)
text_keys = st.lists(st.text(), min_size=1, max_size=4).map(tuple)


def canonical(key: tuple[Any, ...]) -> tuple[Any, ...]:
    """Key identity: equal values of one type are one key; the type tells keys apart.

    Decimals compare by value (1.5 == 1.50); -0.0 and 0.0 are different floats.
    """
    return tuple(
        (type(part).__name__, repr(part) if isinstance(part, float) else part)
        for part in key
    )


@given(keys)
def test_ids_are_valid_firestore_ids(key: tuple[Any, ...]) -> None:
    assert valid_document_id(doc_id(key))


@given(keys)
def test_ids_are_stable(key: tuple[Any, ...]) -> None:
    assert doc_id(key) == doc_id(tuple(key))


@given(keys, keys)
def test_ids_are_injective(first: tuple[Any, ...], second: tuple[Any, ...]) -> None:
    if canonical(first) != canonical(second):
        assert doc_id(first) != doc_id(second)


@given(text_keys, text_keys)
def test_composite_text_keys_are_injective(
    first: tuple[str, ...], second: tuple[str, ...]
) -> None:
    if first != second:
        assert doc_id(first) != doc_id(second)


@given(st.lists(text_keys, min_size=2, max_size=30, unique=True))
def test_distinct_keys_never_share_an_id(many: list[tuple[str, ...]]) -> None:
    assert len({doc_id(key) for key in many}) == len(many)


@given(
    st.text(alphabet=st.sampled_from("/|%.:_~é"), max_size=300),
    st.text(alphabet=st.sampled_from("/|%.:_~é"), max_size=300),
)
def test_separator_heavy_keys_are_injective(first: str, second: str) -> None:
    pairs = [(first, second), (first + "|" + second,), (first, "", second)]
    assert len({doc_id(pair) for pair in pairs}) == len(pairs)


# --- duplicates ------------------------------------------------------------------


def test_duplicate_keys_fail_quoting_a_few() -> None:
    seen = DuplicateKeys(("teacher_id", "week_start"), examples=2)
    rows = [("T1", date(2024, 1, 1)), ("T2", date(2024, 1, 1))] * 3
    added = [seen.add(doc_id(key), key) for key in rows]
    assert added == [True, True, False, False, False, False]
    assert seen.count == 4
    with pytest.raises(DuplicateKeyError) as caught:
        seen.check("teacher_data")
    message = str(caught.value)
    assert "found 4 rows repeating an earlier key" in message
    assert "(teacher_id='T1', week_start=2024-01-01)" in message
    assert "(teacher_id='T2', week_start=2024-01-01)" in message
    assert "GROUP BY" in message


def test_unique_keys_pass() -> None:
    seen = DuplicateKeys(("id",))
    for key in [(1,), ("1",), (1.0,)]:
        assert seen.add(doc_id(key), key)
    seen.check("school_data")
    assert seen.error("school_data") is None


def test_format_keys_shortens_long_values() -> None:
    text = format_keys(("k",), [("x" * 200,)])
    assert len(text) < 80
    assert text.endswith("...)")
