"""Query parameters: the input-error table, page tokens, and the index coverage."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from perfcache.api import indexes, openapi, params
from perfcache.api.errors import ApiError
from perfcache.config import Settings
from perfcache.datasets import BY_NAME, DATASETS

TEACHERS = BY_NAME["teacher_data"]
AGGREGATES = BY_NAME["aggregated_data"]


def _args(**values: str | list[str]) -> dict[str, list[str]]:
    return {k: v if isinstance(v, list) else [v] for k, v in values.items()}


# (dataset, query, parameter the 400 names, words the message must hold)
INPUT_ERRORS: list[tuple[str, dict[str, Any], str, str]] = [
    ("teacher_data", {"colour": "red"}, "colour", "allowed: sector, school_id"),
    ("teacher_data", {"school_id": ["A", "B"]}, "school_id", "given 2 times"),
    ("teacher_data", {"school_id": ""}, "school_id", "non-empty"),
    ("teacher_data", {"grade": "x" * 300}, "grade", "at most 256"),
    ("teacher_data", {"date_from": "2025-13-01"}, "date_from", "YYYY-MM-DD"),
    ("teacher_data", {"date_to": "yesterday"}, "date_to", "YYYY-MM-DD"),
    ("teacher_data", {"date_from": "2025-9-1"}, "date_from", "YYYY-MM-DD"),
    (
        "teacher_data",
        {"date_from": "2025-10-01", "date_to": "2025-09-01"},
        "date_to",
        "must not be before",
    ),
    ("teacher_data", {"page_size": "0"}, "page_size", "1 to 500"),
    ("teacher_data", {"page_size": "501"}, "page_size", "1 to 500"),
    ("teacher_data", {"page_size": "ten"}, "page_size", "whole number"),
    ("teacher_data", {"page_size": "\u0661\u0660"}, "page_size", "whole number"),
    ("teacher_data", {"sort": "email"}, "sort", "observation_score"),
    ("teacher_data", {"direction": "up"}, "direction", "asc or desc"),
    ("teacher_data", {"direction": "desc"}, "direction", "needs sort"),
    (
        "teacher_data",
        {"sort": "observation_score", "date_from": "2025-09-01"},
        "sort",
        "ordered by week_start",
    ),
    ("aggregated_data", {"period": "daily"}, "period", "weekly, monthly"),
    ("aggregated_data", {"level": "planet"}, "level", "school, sector, overall"),
    ("aggregated_data", {"grade": "3"}, "grade", "unknown query parameter"),
    ("filter_options", {"page_size": "5"}, "page_size", "allowed: none"),
]


@pytest.mark.parametrize(
    ("name", "query", "parameter", "words"),
    INPUT_ERRORS,
    ids=[f"{n}-{p}-{i}" for i, (n, _, p, _) in enumerate(INPUT_ERRORS)],
)
def test_bad_input_is_a_400_naming_the_parameter(
    name: str, query: dict[str, Any], parameter: str, words: str
) -> None:
    paginated = name != "filter_options"
    with pytest.raises(ApiError) as caught:
        params.parse(BY_NAME[name], _args(**query), paginated=paginated)
    error = caught.value
    assert error.status == 400
    assert error.details["parameter"] == parameter
    assert words in error.message


def test_valid_parameters_are_normalized() -> None:
    request = params.parse(
        TEACHERS,
        _args(
            subject="Art",
            school_id="SCH-0001",
            date_from="2025-09-01",
            sort="week_start",
            direction="desc",
            page_size="10",
        ),
    )
    assert request.equalities == (("school_id", "SCH-0001"), ("subject", "Art"))
    assert request.date_from == date(2025, 9, 1)
    assert (request.sort, request.direction, request.page_size) == (
        "week_start",
        "desc",
        10,
    )


def test_order_drops_pinned_columns_and_keeps_the_default() -> None:
    assert params.order_columns(TEACHERS, None, []) == ("week_start", "teacher_id")
    assert params.order_columns(TEACHERS, None, ["teacher_id"]) == ("week_start",)
    assert params.order_columns(TEACHERS, "teacher_name", []) == ("teacher_name",)


def test_page_token_round_trips_every_order_value_type() -> None:
    request = params.parse(TEACHERS, {})
    fingerprint = params.fingerprint(request, [("school_id", "S")])
    from datetime import UTC, datetime

    cursor = params.Cursor(
        values=(
            None,
            True,
            2**63 - 1,
            float("nan"),
            "é/|",
            datetime(2025, 1, 1, tzinfo=UTC),
            b"\x00",
        ),
        doc_id="s:T%2F1|d:2025-09-01",
    )
    token = params.encode_token(cursor, fingerprint)
    back = params.decode_token(token, fingerprint, len(cursor.values))
    assert back.doc_id == cursor.doc_id
    assert back.values[:3] == cursor.values[:3]
    assert back.values[4:] == cursor.values[4:]
    assert back.values[3] != back.values[3]  # NaN survives as NaN


def test_page_token_from_another_query_or_garbled_is_a_400() -> None:
    request = params.parse(TEACHERS, {})
    mine = params.fingerprint(request, [("school_id", "A")])
    theirs = params.fingerprint(request, [("school_id", "B")])
    token = params.encode_token(params.Cursor(("2025-09-01", "T-1"), "x"), theirs)
    with pytest.raises(ApiError, match="another query"):
        params.decode_token(token, mine, 2)
    crafted = [
        params.encode_token(params.Cursor(("a", "b"), "x/y"), mine),
        params.encode_token(params.Cursor(("a", "b"), "__x__"), mine),
        params.encode_token(params.Cursor((2**70, "b"), "x"), mine),
    ]
    for garbled in ["%%%", "abc", token[:-4], "eyJ2IjpbXX0", "W10", *crafted]:
        with pytest.raises(ApiError, match="not valid") as caught:
            params.decode_token(garbled, mine, 2)
        assert caught.value.details["parameter"] == "page_token"


def test_committed_index_file_equals_the_generator_output() -> None:
    committed = indexes.OUTPUT.read_text(encoding="utf-8")
    assert committed == indexes.render(), "run `make indexes` and commit the file"
    assert indexes.main(["--check"]) == 0


def test_every_reachable_query_shape_is_served_by_an_index() -> None:
    defined = json.loads(indexes.OUTPUT.read_text(encoding="utf-8"))["indexes"]
    shapes = indexes.all_shapes()
    assert len(shapes) > 500  # roles x filter subsets x sorts x slots
    missing = [s for s in shapes if not indexes.served(s, defined)]
    assert not missing, f"{len(missing)} shapes lack an index, e.g. {missing[0]}"
    assert len(defined) <= indexes.MAX_COMPOSITE_INDEXES


def test_shapes_cover_both_slots_scopes_and_directions() -> None:
    teacher = list(indexes.query_shapes(TEACHERS))
    assert {s.collection for s in teacher} == {"teacher_data_a", "teacher_data_b"}
    assert any(
        s.equalities == frozenset({"d.teacher_id", "d.school_id", "d.grade"})
        and s.order == (("d.observation_score", "DESCENDING"),)
        for s in teacher
    )
    # Without the index merging model, one three-equality shape would be unserved.
    lone = indexes.Shape(
        "teacher_data_a",
        frozenset({"d.grade", "d.subject"}),
        (("d.attendance_rate", "ASCENDING"),),
    )
    assert indexes.served(lone, indexes.definitions()["indexes"])
    assert not indexes.served(lone, [])


def test_openapi_parameters_match_what_the_parser_accepts() -> None:
    document = openapi.document(Settings())
    for dataset in DATASETS:
        path = document["paths"][f"/api/{dataset.route}"]["get"]
        names = [p["name"] for p in path["parameters"]]
        paginated = dataset.name != "filter_options"
        assert names == list(params.allowed_params(dataset, paginated)), dataset.name
    summary = document["paths"]["/api/summary-stats"]["get"]["parameters"]
    assert [p["name"] for p in summary] == ["date_from", "date_to"]
    assert document["openapi"] == "3.1.0"


def test_aggregate_choices_are_declared_filters() -> None:
    for name, param in params.CHOICES:
        assert BY_NAME[name].filter(param) is not None
    assert AGGREGATES.filter("level") is not None
