"""The sample warehouse: a seeded, realistic school network in five BigQuery tables.

Sectors hold schools, schools hold teachers (each with a grade and a subject), and
every teacher has one observation row per week with five performance metrics. Like real
data it has gaps: metrics left NULL, weeks with no observation, teachers who move school
mid-year (two assignment rows, and their observations follow them), and late
corrections (a second row for an earlier week, recorded later, which the dataset SQL
must prefer).

The same seed and scale always give the same rows, whatever the machine or the date.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from google.cloud.bigquery import SchemaField

Row = dict[str, Any]


@dataclass(frozen=True)
class Scale:
    sectors: int
    schools: int
    teachers: int
    weeks: int


SCALES: dict[str, Scale] = {
    "small": Scale(sectors=4, schools=20, teachers=200, weeks=12),
    "medium": Scale(sectors=10, schools=400, teachers=6_000, weeks=52),
    "large": Scale(sectors=20, schools=2_000, teachers=30_000, weeks=52),
}

# A fixed Monday, so the sample never depends on the day it is generated.
FIRST_WEEK = date(2025, 9, 1)
DEFAULT_SEED = 20250901

# Shares chosen to look like a real network's data quality, not tuned for tests.
MISSING_WEEK_SHARE = 0.03  # no observation that week (leave, sickness)
NULL_METRIC_SHARE = 0.05  # a metric not captured
MOVER_SHARE = 0.03  # teachers who change school mid-year
CORRECTION_SHARE = 0.01  # observations corrected later

GRADES = ("K", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12")
SUBJECTS = (
    "Mathematics",
    "Language Arts",
    "Science",
    "Social Studies",
    "Art",
    "Music",
    "Physical Education",
    "Computer Science",
    "Français",
    "Español",
)
FIRST_NAMES = (
    "Zoë", "José", "Amélie", "Seán", "D'Arcy", "Chloé", "Jürgen", "François",
    "Łukasz", "Ngũgĩ", "Aoife", "Björn", "Inès", "Mateo", "Priya", "Yusuf",
    "Hana", "Olúwáseun", "Renée", "Tomás", "Grace", "Malik", "Søren", "Élodie",
)  # fmt: skip
LAST_NAMES = (
    "O'Connor", "Dubois-Lefèvre", "García", "Nguyễn", "Müller", "D'Angelo",
    "Øster", "Kowalski", "Okafor", "Smith", "Fernández", "Al-Sayed", "Ó Briain",
    "Nakamura", "Petrović", "Johnson", "da Silva", "Çelik", "Mbeki", "Larsen",
)  # fmt: skip
CITY_PARTS = (
    "Saint-", "Port ", "New ", "Old ", "East ", "West ", "Mont-", "Lake ", "", "",
)  # fmt: skip
CITY_ROOTS = (
    "Rivière", "Haven", "Brook", "Fairview", "Cañon", "Ashford", "Lumière",
    "Kingsley", "Mapleton", "Sommerfeld",
)  # fmt: skip

TABLES: dict[str, list[SchemaField]] = {
    "sectors": [
        SchemaField("sector_id", "STRING", mode="REQUIRED"),
        SchemaField("sector_name", "STRING", mode="REQUIRED"),
    ],
    "schools": [
        SchemaField("school_id", "STRING", mode="REQUIRED"),
        SchemaField("school_name", "STRING", mode="REQUIRED"),
        SchemaField("sector_id", "STRING", mode="REQUIRED"),
        SchemaField("city", "STRING"),
        SchemaField("opened_on", "DATE"),
    ],
    "teachers": [
        SchemaField("teacher_id", "STRING", mode="REQUIRED"),
        SchemaField("full_name", "STRING", mode="REQUIRED"),
        SchemaField("email", "STRING"),
        SchemaField("grade", "STRING", mode="REQUIRED"),
        SchemaField("subject", "STRING", mode="REQUIRED"),
        SchemaField("hired_on", "DATE"),
    ],
    "teacher_assignments": [
        SchemaField("teacher_id", "STRING", mode="REQUIRED"),
        SchemaField("school_id", "STRING", mode="REQUIRED"),
        SchemaField("valid_from", "DATE", mode="REQUIRED"),
        SchemaField("valid_to", "DATE"),
    ],
    "weekly_observations": [
        SchemaField("observation_id", "STRING", mode="REQUIRED"),
        SchemaField("teacher_id", "STRING", mode="REQUIRED"),
        SchemaField("school_id", "STRING", mode="REQUIRED"),
        SchemaField("week_start", "DATE", mode="REQUIRED"),
        SchemaField("lesson_plans_submitted", "INT64"),
        SchemaField("observation_score", "FLOAT64"),
        SchemaField("attendance_rate", "FLOAT64"),
        SchemaField("student_assessment_avg", "FLOAT64"),
        SchemaField("coaching_sessions", "INT64"),
        SchemaField("recorded_at", "TIMESTAMP", mode="REQUIRED"),
    ],
}


@dataclass(frozen=True)
class Warehouse:
    """Every table's rows, as JSON-ready dicts in load order."""

    sectors: list[Row]
    schools: list[Row]
    teachers: list[Row]
    teacher_assignments: list[Row]
    weekly_observations: list[Row]

    def tables(self) -> dict[str, list[Row]]:
        return {name: getattr(self, name) for name in TABLES}


def generate(scale: Scale, seed: int = DEFAULT_SEED) -> Warehouse:
    """The whole sample network for ``scale``; same inputs, same rows."""
    rng = random.Random(seed)

    sectors = [
        {"sector_id": f"SEC-{n:02d}", "sector_name": f"Sector {n:02d}"}
        for n in range(1, scale.sectors + 1)
    ]
    schools = [
        _school(rng, n, sectors[(n - 1) % scale.sectors])
        for n in range(1, scale.schools + 1)
    ]
    teachers = [_teacher(rng, n) for n in range(1, scale.teachers + 1)]

    # Each teacher starts at one school; a few move at a random week mid-year.
    assignments: list[Row] = []
    school_by_week: dict[str, list[str]] = {}
    for teacher in teachers:
        first = rng.choice(schools)["school_id"]
        weeks = [first] * scale.weeks
        move_week = rng.randrange(1, scale.weeks) if scale.weeks > 1 else 0
        if move_week and rng.random() < MOVER_SHARE:
            second = rng.choice(schools)["school_id"]
            moved_on = FIRST_WEEK + timedelta(weeks=move_week)
            assignments.append(_assignment(teacher, first, FIRST_WEEK, moved_on))
            assignments.append(_assignment(teacher, second, moved_on, None))
            weeks[move_week:] = [second] * (scale.weeks - move_week)
        else:
            assignments.append(_assignment(teacher, first, FIRST_WEEK, None))
        school_by_week[teacher["teacher_id"]] = weeks

    observations = list(_observations(rng, scale, teachers, school_by_week))
    return Warehouse(sectors, schools, teachers, assignments, observations)


def _school(rng: random.Random, n: int, sector: Row) -> Row:
    city = rng.choice(CITY_PARTS) + rng.choice(CITY_ROOTS)
    return {
        "school_id": f"SCH-{n:04d}",
        "school_name": f"École {rng.choice(LAST_NAMES)} {n}",
        "sector_id": sector["sector_id"],
        "city": city,
        "opened_on": date(
            1950 + rng.randrange(70), 1 + rng.randrange(12), 1
        ).isoformat(),
    }


def _teacher(rng: random.Random, n: int) -> Row:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    hired = FIRST_WEEK - timedelta(days=rng.randrange(30, 30 * 365))
    email = None if rng.random() < NULL_METRIC_SHARE else f"teacher{n:05d}@example.org"
    return {
        "teacher_id": f"T-{n:05d}",
        "full_name": f"{first} {last}",
        "email": email,
        "grade": rng.choice(GRADES),
        "subject": rng.choice(SUBJECTS),
        "hired_on": hired.isoformat(),
    }


def _assignment(teacher: Row, school: str, start: date, end: date | None) -> Row:
    return {
        "teacher_id": teacher["teacher_id"],
        "school_id": school,
        "valid_from": start.isoformat(),
        "valid_to": end.isoformat() if end else None,
    }


def _observations(
    rng: random.Random,
    scale: Scale,
    teachers: list[Row],
    school_by_week: dict[str, list[str]],
) -> Iterator[Row]:
    serial = 0
    for teacher in teachers:
        teacher_id = teacher["teacher_id"]
        skill = rng.gauss(3.2, 0.5)  # a teacher's own level, so rows correlate
        for week in range(scale.weeks):
            if rng.random() < MISSING_WEEK_SHARE:
                continue
            week_start = FIRST_WEEK + timedelta(weeks=week)
            recorded = datetime.combine(week_start, datetime.min.time(), UTC)
            recorded += timedelta(days=4, hours=15, microseconds=rng.randrange(10**6))
            serial += 1
            row = {
                "observation_id": f"OBS-{serial:08d}",
                "teacher_id": teacher_id,
                "school_id": school_by_week[teacher_id][week],
                "week_start": week_start.isoformat(),
                "lesson_plans_submitted": _maybe(rng, rng.randrange(0, 6)),
                "observation_score": _maybe(rng, _clamp(rng.gauss(skill, 0.4), 1, 5)),
                "attendance_rate": _maybe(rng, _clamp(rng.gauss(0.93, 0.05), 0, 1)),
                "student_assessment_avg": _maybe(
                    rng, _clamp(rng.gauss(skill * 18 + 12, 8), 0, 100)
                ),
                "coaching_sessions": _maybe(rng, rng.randrange(0, 3)),
                "recorded_at": recorded.isoformat(),
            }
            yield row
            if rng.random() < CORRECTION_SHARE:
                serial += 1
                later = recorded + timedelta(days=rng.randrange(7, 60))
                score = _clamp(rng.gauss(skill, 0.4), 1, 5)
                yield {
                    **row,
                    "observation_id": f"OBS-{serial:08d}",
                    "observation_score": score,
                    "recorded_at": later.isoformat(),
                }


def _maybe(rng: random.Random, value: float) -> float | None:
    return None if rng.random() < NULL_METRIC_SHARE else value


def _clamp(value: float, low: float, high: float) -> float:
    return round(min(high, max(low, value)), 3)
