"""The conversion table of docs/types.md, one BigQuery type and edge value per row."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from dateutil.relativedelta import relativedelta  # type: ignore[import-untyped]
from google.cloud.bigquery import SchemaField

from perfcache.errors import ValueConversionError
from perfcache.values import (
    canonical_decimal,
    column_map,
    encode_row,
    encode_value,
    row_to_json,
    to_json,
)

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
NUMERIC_38 = Decimal("99999999999999999999999999999.999999999")
BIGNUMERIC_MAX = Decimal(
    "578960446186580977117854925043439539266.34992332820282019728792003956564819967"
)
PLUS_TWO = timezone(timedelta(hours=2))
# Negation would round to the decimal context's 28 digits; build negatives from text.


@dataclass(frozen=True)
class Case:
    """A BigQuery cell, how Firestore stores it, and how the API serves it."""

    field: SchemaField
    cell: Any
    stored: Any
    served: Any
    json_text: bool = False  # the cell comes from an Arrow batch (JSON as text)


def col(field_type: str, **kwargs: Any) -> SchemaField:
    return SchemaField("c", field_type, **kwargs)


def utc(
    year: int,
    month: int,
    day: int,
    hour: int = 0,
    minute: int = 0,
    second: int = 0,
    microsecond: int = 0,
) -> datetime:
    return datetime(year, month, day, hour, minute, second, microsecond, tzinfo=UTC)


CASES: dict[str, Case] = {
    # INT64: all 64 bits stored; numbers beyond JavaScript's safe range as strings.
    "int64 min": Case(col("INT64"), INT64_MIN, INT64_MIN, str(INT64_MIN)),
    "int64 max": Case(col("INTEGER"), INT64_MAX, INT64_MAX, str(INT64_MAX)),
    "int64 2^53+1": Case(col("INT64"), 2**53 + 1, 2**53 + 1, "9007199254740993"),
    "int64 2^53-1": Case(col("INT64"), 2**53 - 1, 2**53 - 1, 9007199254740991),
    "int64 -(2^53-1)": Case(col("INT64"), -(2**53 - 1), -(2**53 - 1), -(2**53 - 1)),
    "int64 -2^53": Case(col("INT64"), -(2**53), -(2**53), "-9007199254740992"),
    "int64 zero": Case(col("INT64"), 0, 0, 0),
    # FLOAT64: doubles, with the non-finite values as strings in JSON.
    "float64": Case(col("FLOAT64"), 0.1, 0.1, 0.1),
    "float64 nan": Case(col("FLOAT"), math.nan, math.nan, "NaN"),
    "float64 +inf": Case(col("FLOAT64"), math.inf, math.inf, "Infinity"),
    "float64 -inf": Case(col("FLOAT64"), -math.inf, -math.inf, "-Infinity"),
    "float64 -0": Case(col("FLOAT64"), -0.0, -0.0, -0.0),
    "float64 max": Case(
        col("FLOAT64"),
        1.7976931348623157e308,
        1.7976931348623157e308,
        1.7976931348623157e308,
    ),
    # NUMERIC / BIGNUMERIC: canonical decimal text, whatever scale the client used.
    "numeric 38 digits": Case(
        col("NUMERIC"), NUMERIC_38, str(NUMERIC_38), str(NUMERIC_38)
    ),
    "numeric -38 digits": Case(
        col("NUMERIC"), Decimal(f"-{NUMERIC_38}"), f"-{NUMERIC_38}", f"-{NUMERIC_38}"
    ),
    "numeric rest 1.5": Case(col("NUMERIC"), Decimal("1.5"), "1.5", "1.5"),
    "numeric arrow 1.5": Case(col("NUMERIC"), Decimal("1.500000000"), "1.5", "1.5"),
    "numeric tiny": Case(
        col("NUMERIC"), Decimal("-1E-9"), "-0.000000001", "-0.000000001"
    ),
    "numeric exponent": Case(col("NUMERIC"), Decimal("1E+2"), "100", "100"),
    "numeric zero": Case(col("NUMERIC"), Decimal("-0E-9"), "0", "0"),
    "bignumeric max": Case(
        col("BIGNUMERIC"), BIGNUMERIC_MAX, str(BIGNUMERIC_MAX), str(BIGNUMERIC_MAX)
    ),
    "bignumeric min": Case(
        col("BIGNUMERIC"),
        Decimal(f"-{BIGNUMERIC_MAX}"),
        f"-{BIGNUMERIC_MAX}",
        f"-{BIGNUMERIC_MAX}",
    ),
    "bignumeric arrow": Case(
        col("BIGNUMERIC"), Decimal("-1.250000000000000000"), "-1.25", "-1.25"
    ),
    # BOOL, STRING, BYTES.
    "bool": Case(col("BOOL"), False, False, False),
    "boolean": Case(col("BOOLEAN"), True, True, True),
    "string": Case(
        col("STRING"), "é/.`__x__\u0000", "é/.`__x__\u0000", "é/.`__x__\u0000"
    ),
    "string empty": Case(col("STRING"), "", "", ""),
    "bytes": Case(col("BYTES"), b"\x00\xff\xfe", b"\x00\xff\xfe", "AP/+"),
    "bytes padded": Case(col("BYTES"), b"\xfb", b"\xfb", "+w=="),
    "bytes empty": Case(col("BYTES"), b"", b"", ""),
    # DATE, TIME, DATETIME: ISO 8601 text that sorts as the values do.
    "date min": Case(col("DATE"), date(1, 1, 1), "0001-01-01", "0001-01-01"),
    "date max": Case(col("DATE"), date(9999, 12, 31), "9999-12-31", "9999-12-31"),
    "time": Case(col("TIME"), time(0, 0), "00:00:00", "00:00:00"),
    "time micros": Case(
        col("TIME"), time(23, 59, 59, 999999), "23:59:59.999999", "23:59:59.999999"
    ),
    "datetime no zone": Case(
        col("DATETIME"),
        datetime(2024, 3, 10, 2, 30, 0, 123456),
        "2024-03-10T02:30:00.123456",
        "2024-03-10T02:30:00.123456",
    ),
    "datetime min": Case(
        col("DATETIME"), datetime(1, 1, 1), "0001-01-01T00:00:00", "0001-01-01T00:00:00"
    ),
    # TIMESTAMP: a Firestore timestamp in UTC; JSON always with six digits and Z.
    "timestamp micros": Case(
        col("TIMESTAMP"),
        utc(2024, 3, 10, 2, 30, 0, 123456),
        utc(2024, 3, 10, 2, 30, 0, 123456),
        "2024-03-10T02:30:00.123456Z",
    ),
    "timestamp other zone": Case(
        col("TIMESTAMP"),
        datetime(2024, 1, 1, 1, tzinfo=PLUS_TWO),
        utc(2023, 12, 31, 23),
        "2023-12-31T23:00:00.000000Z",
    ),
    "timestamp min": Case(
        col("TIMESTAMP"), utc(1, 1, 1), utc(1, 1, 1), "0001-01-01T00:00:00.000000Z"
    ),
    "timestamp max": Case(
        col("TIMESTAMP"),
        utc(9999, 12, 31, 23, 59, 59, 999999),
        utc(9999, 12, 31, 23, 59, 59, 999999),
        "9999-12-31T23:59:59.999999Z",
    ),
    # GEOGRAPHY: WKT text as the client gives it.
    "geography point": Case(
        col("GEOGRAPHY"), "POINT(1.5 2.5)", "POINT(1.5 2.5)", "POINT(1.5 2.5)"
    ),
    "geography polygon": Case(
        col("GEOGRAPHY"),
        "POLYGON((0 0, 1 0, 1 1, 0 0))",
        "POLYGON((0 0, 1 0, 1 1, 0 0))",
        "POLYGON((0 0, 1 0, 1 1, 0 0))",
    ),
    # JSON: canonical text (sorted keys, no spaces); big integers kept exactly.
    "json nested": Case(
        col("JSON"),
        {"b": [1, {"c": None}], "a.b/`": {"d": 9007199254740993}},
        '{"a.b/`":{"d":9007199254740993},"b":[1,{"c":null}]}',
        '{"a.b/`":{"d":9007199254740993},"b":[1,{"c":null}]}',
    ),
    "json arrow text": Case(
        col("JSON"),
        '{"b": 1, "a": [[1], "é"]}',
        '{"a":[[1],"é"],"b":1}',
        '{"a":[[1],"é"],"b":1}',
        json_text=True,
    ),
    "json string": Case(col("JSON"), "s", '"s"', '"s"'),
    "json arrow string": Case(col("JSON"), '"s"', '"s"', '"s"', json_text=True),
    "json arrow null": Case(col("JSON"), "null", None, None, json_text=True),
    "json deep": Case(
        col("JSON"),
        {"k": {"k": {"k": {"k": {"k": {"k": []}}}}}},
        '{"k":{"k":{"k":{"k":{"k":{"k":[]}}}}}}',
        '{"k":{"k":{"k":{"k":{"k":{"k":[]}}}}}}',
    ),
    # INTERVAL: BigQuery's canonical text.
    "interval rest": Case(
        col("INTERVAL"),
        relativedelta(
            years=1,
            months=2,
            days=3,
            hours=4,
            minutes=5,
            seconds=6,
            microseconds=789000,
        ),
        "1-2 3 4:5:6.789",
        "1-2 3 4:5:6.789",
    ),
    "interval rest negative": Case(
        col("INTERVAL"),
        relativedelta(years=-1, months=-2, days=-3, hours=-4, microseconds=-1),
        "-1-2 -3 -4:0:0.000001",
        "-1-2 -3 -4:0:0.000001",
    ),
    "interval arrow text": Case(
        col("INTERVAL"), "1-2 3 25:5:6.789", "1-2 3 25:5:6.789", "1-2 3 25:5:6.789"
    ),
    "interval zero": Case(
        col("INTERVAL"), relativedelta(), "0-0 0 0:0:0", "0-0 0 0:0:0"
    ),
    # RANGE: a map {start, end}; None is an unbounded end.
    "range date": Case(
        col("RANGE", range_element_type="DATE"),
        {"start": date(2024, 1, 1), "end": None},
        {"start": "2024-01-01", "end": None},
        {"start": "2024-01-01", "end": None},
    ),
    "range date arrow": Case(
        col("RANGE", range_element_type="DATE"),
        {"__range_start": None, "__range_end": date(2024, 2, 1)},
        {"start": None, "end": "2024-02-01"},
        {"start": None, "end": "2024-02-01"},
    ),
    "range timestamp": Case(
        col("RANGE", range_element_type="TIMESTAMP"),
        {"start": utc(2024, 1, 1), "end": utc(2024, 1, 2)},
        {"start": utc(2024, 1, 1), "end": utc(2024, 1, 2)},
        {"start": "2024-01-01T00:00:00.000000Z", "end": "2024-01-02T00:00:00.000000Z"},
    ),
    "range datetime": Case(
        col("RANGE", range_element_type="DATETIME"),
        {"start": datetime(2024, 1, 1, 12), "end": None},
        {"start": "2024-01-01T12:00:00", "end": None},
        {"start": "2024-01-01T12:00:00", "end": None},
    ),
    # RECORD, REPEATED, REPEATED RECORD, NULL.
    "record with null": Case(
        col("RECORD", fields=[SchemaField("x", "INT64"), SchemaField("y", "STRING")]),
        {"x": 2**63 - 1, "y": None},
        {"x": 2**63 - 1, "y": None},
        {"x": "9223372036854775807", "y": None},
    ),
    "record odd names": Case(
        col(
            "STRUCT", fields=[SchemaField("a.b", "BOOL"), SchemaField("__x__", "BOOL")]
        ),
        {"a.b": True, "__x__": False},
        {"~a~2Eb": True, "~__x__": False},
        {"a.b": True, "__x__": False},
    ),
    "repeated empty": Case(col("INT64", mode="REPEATED"), [], [], []),
    "repeated arrow null": Case(col("INT64", mode="REPEATED"), None, [], []),
    "repeated floats": Case(
        col("FLOAT64", mode="REPEATED"), [math.nan, 1.0], [math.nan, 1.0], ["NaN", 1.0]
    ),
    "repeated record": Case(
        col(
            "RECORD",
            mode="REPEATED",
            fields=[SchemaField("z", "INT64", mode="REPEATED")],
        ),
        [{"z": [1, 2]}, {"z": []}],
        [{"z": [1, 2]}, {"z": []}],
        [{"z": [1, 2]}, {"z": []}],
    ),
    "null int": Case(col("INT64"), None, None, None),
    "null record": Case(
        col("RECORD", fields=[SchemaField("x", "INT64")]), None, None, None
    ),
    "null json": Case(col("JSON"), None, None, None),
}


def same(left: Any, right: Any) -> bool:
    """Equality that tells NaN from NaN-free values, -0.0 from 0.0 and types apart."""
    if isinstance(left, float) and isinstance(right, float):
        if math.isnan(left) or math.isnan(right):
            return math.isnan(left) and math.isnan(right)
        return left == right and math.copysign(1, left) == math.copysign(1, right)
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(
            same(left[k], right[k]) for k in left
        )
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(same, left, right))
    if isinstance(left, datetime) and isinstance(right, datetime):
        return left == right and left.utcoffset() == right.utcoffset()
    return type(left) is type(right) and left == right


def strict_loads(text: str) -> Any:
    """json.loads that refuses NaN and Infinity, as browsers' JSON.parse does."""

    def refuse(constant: str) -> Any:
        raise ValueError(f"non-standard JSON constant {constant}")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_encode_value_stores_the_table_value(case: Case) -> None:
    stored = encode_value(case.field, case.cell, json_text=case.json_text)
    assert same(stored, case.stored), stored


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_api_json_is_strict_and_matches_the_table(case: Case) -> None:
    served = row_to_json({"c": case.stored}, {"c": "c"})["c"]
    text = json.dumps(served, allow_nan=False)
    assert same(strict_loads(text), case.served), text


def test_encode_row_encodes_names_and_values() -> None:
    schema = [
        SchemaField("teacher.id", "STRING"),
        SchemaField("week_start", "DATE"),
        SchemaField("", "INT64"),
    ]
    row = {"teacher.id": "T/1", "week_start": date(2024, 1, 1), "": 1}
    assert encode_row(schema, row) == {
        "~teacher~2Eid": "T/1",
        "week_start": "2024-01-01",
        "~": 1,
    }


def test_row_to_json_restores_names_in_result_order() -> None:
    schema = [
        SchemaField("z.last", "INT64"),
        SchemaField("a", "RECORD", fields=[SchemaField("b/c", "INT64")]),
    ]
    stored = encode_row(schema, {"z.last": 1, "a": {"b/c": 2}})
    reversed_data = dict(reversed(list(stored.items())))
    served = row_to_json(reversed_data, column_map(schema))
    assert list(served) == ["z.last", "a"]
    assert served == {"z.last": 1, "a": {"b/c": 2}}


def test_date_strings_sort_as_dates() -> None:
    days = [date(1, 1, 1), date(999, 12, 31), date(2024, 2, 29), date(9999, 12, 31)]
    field = col("DATE")
    assert sorted(encode_value(field, day) for day in days) == [
        encode_value(field, day) for day in sorted(days)
    ]


def test_datetime_and_time_strings_sort_as_values() -> None:
    moments = [
        datetime(2024, 1, 1),
        datetime(2024, 1, 1, 0, 0, 0, 1),
        datetime(2024, 1, 1, 0, 0, 0, 999999),
        datetime(2024, 1, 1, 0, 0, 1),
    ]
    field = col("DATETIME")
    encoded = [encode_value(field, moment) for moment in moments]
    assert sorted(encoded) == encoded
    times = [moment.time() for moment in moments]
    encoded_times = [encode_value(col("TIME"), clock) for clock in times]
    assert sorted(encoded_times) == encoded_times


def test_rest_interval_folds_hours_into_days() -> None:
    # The REST client's relativedelta has already turned 25 hours into 1 day 1 hour;
    # the conversion keeps what it is given (docs/types.md documents the caveat).
    folded = relativedelta(hours=25)
    assert encode_value(col("INTERVAL"), folded) == "0-0 1 1:0:0"


@pytest.mark.parametrize(
    ("field", "cell", "expected"),
    [
        (col("INT64"), 2**63, "within the INT64 range"),
        (col("INT64"), True, "an int"),
        (col("INT64"), "1", "an int"),
        (col("FLOAT64"), "1.5", "a float"),
        (col("NUMERIC"), Decimal("NaN"), "a finite Decimal"),
        (col("NUMERIC"), 1.5, "a Decimal"),
        (col("BOOL"), 1, "a bool"),
        (col("DATE"), datetime(2024, 1, 1), "a datetime.date"),
        (col("DATE"), "2024-01-01", "a datetime.date"),
        (col("DATETIME"), utc(2024, 1, 1), "a naive datetime"),
        (col("TIMESTAMP"), datetime(2024, 1, 1), "timezone-aware"),
        (col("TIMESTAMP"), "2024-01-01T00:00:00.000000000001Z", "timezone-aware"),
        (col("TIME"), time(1, tzinfo=UTC), "without zone"),
        (col("INTERVAL"), "1 day", "relativedelta"),
        (col("STRING", mode="REPEATED"), "abc", "a list"),
        (col("RECORD", fields=[SchemaField("x", "INT64")]), {"y": 1}, "keys ['x']"),
        (col("RANGE", range_element_type="DATE"), {"start": None}, "'start' and"),
        (col("JSON"), '{"a": NaN}', "a value JSON can hold"),
        (col("JSON"), "{", "valid JSON text"),
    ],
)
def test_a_cell_of_the_wrong_shape_is_refused_with_what_was_expected(
    field: SchemaField, cell: Any, expected: str
) -> None:
    json_text = field.field_type == "JSON" and isinstance(cell, str)
    with pytest.raises(ValueConversionError, match="expected") as caught:
        encode_value(field, cell, json_text=json_text)
    assert expected in str(caught.value)


def test_an_unknown_type_names_the_known_ones() -> None:
    with pytest.raises(ValueConversionError, match="Cast it in the dataset's SQL"):
        encode_value(col("VECTOR"), 1)


def test_a_missing_column_names_the_ones_found() -> None:
    with pytest.raises(ValueConversionError, match="expected column 'b'"):
        encode_row([col("INT64"), SchemaField("b", "INT64")], {"c": 1})


@pytest.mark.parametrize(
    ("number", "text"),
    [
        ("0", "0"),
        ("-0.000", "0"),
        ("1.10", "1.1"),
        ("1E+3", "1000"),
        ("0.0001", "0.0001"),
        ("-12.500", "-12.5"),
        ("123456789012345678901234567890123456789012345678901234567890.1", None),
    ],
)
def test_canonical_decimal_is_plain_and_exact(number: str, text: str | None) -> None:
    assert canonical_decimal(Decimal(number)) == (text or number)


def test_to_json_refuses_values_the_sync_never_stores() -> None:
    with pytest.raises(TypeError, match="expected a value the sync stores"):
        to_json(Decimal("1"))


def test_naive_timestamp_reads_as_utc() -> None:
    assert to_json(datetime(2024, 1, 1)) == "2024-01-01T00:00:00.000000Z"
