"""The sample warehouse is deterministic, realistic, and the dataset SQL runs on it."""

from __future__ import annotations

from collections import Counter

import pytest
from google.cloud import bigquery as bq

from perfcache import datasets
from perfcache.config import Settings
from sample.warehouse import SCALES, generate

EXPECTED_COLUMNS = {
    "teacher_data": [
        "teacher_id", "teacher_name", "school_id", "school_name", "sector_id",
        "sector_name", "grade", "subject", "week_start", "lesson_plans_submitted",
        "observation_score", "attendance_rate", "student_assessment_avg",
        "coaching_sessions", "updated_at",
    ],
    "aggregated_data": [
        "period", "level", "scope_id", "school_id", "sector_id", "period_start",
        "teacher_count", "observation_count", "avg_observation_score",
        "avg_attendance_rate", "avg_student_assessment", "total_lesson_plans",
        "total_coaching_sessions",
    ],
    "school_data": [
        "school_id", "school_name", "sector_id", "sector_name", "city",
        "teacher_count", "observation_count", "avg_observation_score",
        "avg_attendance_rate", "avg_student_assessment", "total_lesson_plans",
        "total_coaching_sessions", "last_week_start",
    ],
    "filter_options": ["kind", "value", "label", "school_id", "sector_id"],
}  # fmt: skip


def test_same_seed_gives_same_rows_and_another_seed_does_not() -> None:
    first = generate(SCALES["small"], seed=7)
    again = generate(SCALES["small"], seed=7)
    other = generate(SCALES["small"], seed=8)

    assert first == again
    assert first.weekly_observations != other.weekly_observations


def test_small_sample_has_the_promised_shape() -> None:
    sample = generate(SCALES["small"])
    observations = sample.weekly_observations
    per_week = Counter((o["teacher_id"], o["week_start"]) for o in observations)
    movers = Counter(a["teacher_id"] for a in sample.teacher_assignments)

    assert (len(sample.schools), len(sample.teachers)) == (20, 200)
    assert len({o["week_start"] for o in observations}) == 12
    assert any(count > 1 for count in per_week.values()), "no late corrections"
    assert any(count == 2 for count in movers.values()), "no teacher changed school"
    assert any(o["observation_score"] is None for o in observations), "no NULLs"
    names = " ".join(t["full_name"] for t in sample.teachers)
    assert "'" in names
    assert any(ord(ch) > 127 for ch in names)


@pytest.mark.parametrize("dataset", datasets.DATASETS, ids=lambda d: d.name)
def test_dataset_sql_runs_and_returns_its_columns(
    dataset: datasets.Dataset, bigquery: bq.Client, warehouse: str
) -> None:
    rows = bigquery.query(dataset.sql(warehouse)).result()

    assert [field.name for field in rows.schema] == EXPECTED_COLUMNS[dataset.name]
    assert rows.total_rows
    assert set(dataset.key) <= set(EXPECTED_COLUMNS[dataset.name])


def test_teacher_data_keeps_the_latest_correction(
    bigquery: bq.Client, warehouse: str, settings: Settings
) -> None:
    sample = generate(SCALES["small"])
    latest: dict[tuple[str, str], dict[str, object]] = {}
    for row in sorted(sample.weekly_observations, key=lambda o: o["recorded_at"]):
        latest[(row["teacher_id"], row["week_start"])] = row

    sql = datasets.get("teacher_data").sql(warehouse)
    served = {
        (r["teacher_id"], r["week_start"].isoformat()): r["observation_score"]
        for r in bigquery.query(sql).result()
    }

    assert served == {key: row["observation_score"] for key, row in latest.items()}
