"""Every BigQuery type from the local BigQuery server, through Firestore, to API JSON.

A table holding every type with edge values is read back both ways the sync reads
(REST rows and Storage Read API Arrow batches), encoded, written to the Firestore
emulator, read back and served as JSON: each value must be exactly what docs/types.md
says. Rows Firestore cannot store are refused by ``row_problem`` with a reason, and the
emulator refuses the same rows, so the checks match Firestore's own limits.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from google.api_core import exceptions
from google.cloud import bigquery as bq
from google.cloud import firestore as fs

from perfcache.config import Settings
from perfcache.docids import doc_id
from perfcache.values import (
    MAX_DOCUMENT_BYTES,
    column_map,
    document_size,
    encode_row,
    row_problem,
    row_to_json,
)

pytestmark = [
    pytest.mark.emulators,
    # google-cloud-bigquery 3.47 decodes Storage Read streams through a path
    # google-cloud-bigquery-storage 2.43 marks as deprecated; the sync reads the same
    # way until the client moves to pandas-gbq's decoder.
    pytest.mark.filterwarnings(
        "ignore:Retrieving Arrow record batches:PendingDeprecationWarning"
    ),
]

COLLECTION = "types_a"


@dataclass(frozen=True)
class Column:
    """One column of the table: its SQL value and the JSON the API serves for it."""

    name: str
    sql: str
    served: Any


COLUMNS = [
    Column("int_min", "-9223372036854775808", "-9223372036854775808"),
    Column("int_max", "9223372036854775807", "9223372036854775807"),
    Column("int_2p53_plus_1", "9007199254740993", "9007199254740993"),
    Column("int_safe", "9007199254740991", 9007199254740991),
    Column("float_value", "CAST(0.1 AS FLOAT64)", 0.1),
    Column("float_nan", "CAST('NaN' AS FLOAT64)", "NaN"),
    Column("float_inf", "CAST('inf' AS FLOAT64)", "Infinity"),
    Column("float_ninf", "CAST('-inf' AS FLOAT64)", "-Infinity"),
    Column(
        "numeric_38",
        "NUMERIC '99999999999999999999999999999.999999999'",
        "99999999999999999999999999999.999999999",
    ),
    Column("numeric_tiny", "NUMERIC '-0.000000001'", "-0.000000001"),
    Column("numeric_scale", "NUMERIC '1.500'", "1.5"),
    # The local server holds BIGNUMERIC as DECIMAL(38, 18); the unit tests cover the
    # full 77 digits.
    Column(
        "bignumeric",
        "BIGNUMERIC '12345678901234567890.123456789012345678'",
        "12345678901234567890.123456789012345678",
    ),
    Column("bool_value", "TRUE", True),
    Column("string_value", "'é/.`__x__|%'", "é/.`__x__|%"),
    Column("bytes_value", "FROM_BASE64('AP/+')", "AP/+"),
    Column("date_min", "DATE '0001-01-01'", "0001-01-01"),
    Column("date_max", "DATE '9999-12-31'", "9999-12-31"),
    Column("time_micros", "TIME '23:59:59.999999'", "23:59:59.999999"),
    Column(
        "datetime_no_zone",
        "DATETIME '2024-03-10 02:30:00.123456'",
        "2024-03-10T02:30:00.123456",
    ),
    Column(
        "timestamp_micros",
        "TIMESTAMP '2024-03-10 02:30:00.123456+00'",
        "2024-03-10T02:30:00.123456Z",
    ),
    Column(
        "timestamp_min",
        "TIMESTAMP '0001-01-01 00:00:00+00'",
        "0001-01-01T00:00:00.000000Z",
    ),
    Column("geography_point", "ST_GEOGPOINT(1.5, 2.5)", "POINT(1.5 2.5)"),
    Column(
        "geography_polygon",
        "ST_GEOGFROMTEXT('POLYGON((0 0, 1 0, 1 1, 0 1, 0 0))')",
        "POLYGON((0 0, 1 0, 1 1, 0 1, 0 0))",
    ),
    Column(
        "json_nested",
        """JSON '{"b": [1, 2, {"c": null}], "a.b/c": {"big": 9007199254740993}}'""",
        '{"a.b/c":{"big":9007199254740993},"b":[1,2,{"c":null}]}',
    ),
    Column(
        "interval_value",
        "INTERVAL '1-2 3 4:5:6.789' YEAR TO SECOND",
        "1-2 3 4:5:6.789",
    ),
    Column(
        "range_date",
        "RANGE(DATE '2024-01-01', CAST(NULL AS DATE))",
        {"start": "2024-01-01", "end": None},
    ),
    Column(
        "record_with_null",
        "STRUCT(9223372036854775807 AS x, CAST(NULL AS STRING) AS y, "
        "STRUCT([1, 2] AS w) AS z)",
        {"x": "9223372036854775807", "y": None, "z": {"w": [1, 2]}},
    ),
    Column("array_empty", "ARRAY<INT64>[]", []),
    Column(
        "array_floats", "[CAST('NaN' AS FLOAT64), CAST(1.5 AS FLOAT64)]", ["NaN", 1.5]
    ),
    Column(
        "array_records",
        "[STRUCT('q' AS a, ['u', 'v'] AS tags), "
        "STRUCT('r' AS a, ARRAY<STRING>[] AS tags)]",
        [{"a": "q", "tags": ["u", "v"]}, {"a": "r", "tags": []}],
    ),
    Column("__x__", "1", 1),
    Column("null_value", "CAST(NULL AS INT64)", None),
]


@pytest.fixture(scope="module")
def types_table(settings: Settings, bigquery: bq.Client) -> Iterator[str]:
    """A one-row table holding every column of COLUMNS."""
    dataset = f"{settings.project}.types_{uuid.uuid4().hex[:8]}"
    bigquery.create_dataset(dataset)
    table = f"{dataset}.every_type"
    select = ",\n  ".join(f"{column.sql} AS `{column.name}`" for column in COLUMNS)
    bigquery.query(f"CREATE TABLE `{table}` AS SELECT\n  {select}").result()
    try:
        yield table
    finally:
        bigquery.delete_dataset(dataset, delete_contents=True, not_found_ok=True)


def read_rest(bigquery: bq.Client, table: str) -> tuple[list[Any], dict[str, Any]]:
    rows = bigquery.list_rows(table)
    [row] = list(rows)
    return list(rows.schema), dict(row.items())


def read_arrow(
    bigquery: bq.Client, read_client: Any, table: str
) -> tuple[list[Any], dict[str, Any]]:
    schema = list(bigquery.get_table(table).schema)
    arrow = bigquery.list_rows(table).to_arrow(bqstorage_client=read_client)
    [row] = arrow.to_pylist()
    return schema, row


def store_and_serve(
    firestore: fs.Client, schema: list[Any], stored: dict[str, Any], key: str
) -> dict[str, Any]:
    """Writes the row as the sync does, reads it back and serves it as the API does."""
    document = {"d": stored, "_h": "0" * 64}
    document_id = doc_id((key,))
    assert row_problem(document, document_id, collection=COLLECTION) is None
    reference = firestore.collection(COLLECTION).document(document_id)
    reference.set(document)
    data = reference.get().to_dict()
    assert data is not None
    text = json.dumps(row_to_json(data["d"], column_map(schema)), allow_nan=False)
    return dict(json.loads(text, parse_constant=refuse_constant))


def refuse_constant(constant: str) -> Any:
    raise ValueError(f"the API served the non-standard JSON constant {constant}")


def expected_json() -> dict[str, Any]:
    return {column.name: column.served for column in COLUMNS}


def test_rest_rows_round_trip_exactly(
    bigquery: bq.Client, firestore: fs.Client, types_table: str
) -> None:
    schema, row = read_rest(bigquery, types_table)
    served = store_and_serve(firestore, schema, encode_row(schema, row), "rest")

    assert served == expected_json()
    assert list(served) == [column.name for column in COLUMNS]


def test_storage_read_rows_round_trip_exactly(
    bigquery: bq.Client, bq_read_client: Any, firestore: fs.Client, types_table: str
) -> None:
    assert bq_read_client is not None, "the local stack serves the Storage Read API"
    schema, row = read_arrow(bigquery, bq_read_client, types_table)
    stored = encode_row(schema, row, json_text=True)
    served = store_and_serve(firestore, schema, stored, "arrow")

    assert served == expected_json()


def test_both_read_paths_store_the_same_row(
    bigquery: bq.Client, bq_read_client: Any, types_table: str
) -> None:
    # The sync's row hash must not change with the read path.
    schema, rest_row = read_rest(bigquery, types_table)
    _, arrow_row = read_arrow(bigquery, bq_read_client, types_table)
    rest = encode_row(schema, rest_row)
    arrow = encode_row(schema, arrow_row, json_text=True)

    assert json.dumps(rest, default=repr) == json.dumps(arrow, default=repr)


def test_intervals_past_a_day_differ_by_read_path(
    bigquery: bq.Client, bq_read_client: Any, firestore: fs.Client
) -> None:
    # The REST client's relativedelta folds 24 hours into a day; Arrow keeps BigQuery's
    # text. docs/types.md states this; a dataset needing exact parts casts to STRING.
    job = bigquery.query("SELECT INTERVAL 25 HOUR AS iv")
    rest_rows = job.result()
    [rest_row] = list(rest_rows)
    schema = list(rest_rows.schema)
    [arrow_row] = job.result().to_arrow(bqstorage_client=bq_read_client).to_pylist()

    assert encode_row(schema, dict(rest_row.items())) == {"iv": "0-0 1 1:0:0"}
    assert encode_row(schema, arrow_row, json_text=True) == {"iv": "0-0 0 25:0:0"}


# --- rows Firestore refuses ----------------------------------------------------------


def attempt(firestore: fs.Client, document_id: str, document: dict[str, Any]) -> str:
    """What the emulator says to the write: "stored" or its refusal."""
    try:
        firestore.collection(COLLECTION).document(document_id).set(document)
    except (exceptions.InvalidArgument, ValueError) as error:
        return str(error)
    return "stored"


def test_size_estimate_matches_firestore_at_the_limit(firestore: fs.Client) -> None:
    document_id = doc_id(("size",))
    document: dict[str, Any] = {"d": {"a": "", "b": "é" * 300_000}, "_h": "0" * 64}
    missing = MAX_DOCUMENT_BYTES - document_size(COLLECTION, document_id, document)
    document["d"]["a"] = "x" * missing

    assert row_problem(document, document_id, collection=COLLECTION) is None
    assert attempt(firestore, document_id, document) == "stored"

    document["d"]["a"] += "x"
    reason = row_problem(document, document_id, collection=COLLECTION)
    assert reason is not None
    assert "1,048,577 bytes" in reason
    assert "maximum entity size is 1048576 bytes" in attempt(
        firestore, document_id, document
    )


def test_an_oversized_bigquery_row_is_refused(
    bigquery: bq.Client, firestore: fs.Client
) -> None:
    result = bigquery.query(
        "SELECT 'k' AS id, REPEAT('x', 600000) AS a, REPEAT('y', 600000) AS b"
    ).result()
    [row] = list(result)
    document = {"d": encode_row(list(result.schema), dict(row.items())), "_h": ""}
    document_id = doc_id(("k",))

    reason = row_problem(document, document_id, collection=COLLECTION)
    assert reason is not None
    assert "the limit is 1,048,576 (1 MiB)" in reason
    assert "maximum entity size" in attempt(firestore, document_id, document)


def nested_struct_sql(levels: int) -> str:
    sql = "1 AS leaf"
    for _ in range(levels):
        sql = f"STRUCT({sql}) AS k"
    return f"SELECT {sql}"


@pytest.mark.parametrize(("levels", "refused"), [(19, False), (20, True)])
def test_nesting_limit_matches_firestore(
    bigquery: bq.Client, firestore: fs.Client, levels: int, refused: bool
) -> None:
    # A RECORD column nested `levels` deep sits under the row map d: 19 fit, 20 do not.
    result = bigquery.query(nested_struct_sql(levels)).result()
    [row] = list(result)
    document = {"d": encode_row(list(result.schema), dict(row.items()))}
    document_id = doc_id((levels,))

    reason = row_problem(document, document_id, collection=COLLECTION)
    outcome = attempt(firestore, document_id, document)
    if refused:
        assert reason is not None
        assert "more than 20 levels" in reason
        assert "invalid nested entity" in outcome
    else:
        assert reason is None
        assert outcome == "stored"


def test_array_in_array_is_refused_like_firestore(firestore: fs.Client) -> None:
    document = {"d": {"c": [[1]]}}
    reason = row_problem(document, "s:1", collection=COLLECTION)

    assert reason is not None
    assert "array directly inside an array" in reason
    assert "array value in an array value" in attempt(firestore, "s:1", document)


def test_long_field_path_is_refused_like_firestore(firestore: fs.Client) -> None:
    # Five nested RECORD fields of 300 characters (BigQuery's longest name).
    value: Any = 1
    for letter in "edcba":
        value = {letter * 300: value}
    document = {"d": value}
    reason = row_problem(document, "s:1", collection=COLLECTION)

    assert reason is not None
    assert "Firestore allows 1,500" in reason
    assert "Property" in attempt(firestore, "s:1", document)
