"""The datasets the sync copies and the API serves, each declared once.

A declaration names the SQL file (in ``perfcache/sql``), the key columns that identify a
row, the Firestore collection, the source tables whose change triggers a re-query, the
fields the API may filter and sort on, and the column that scopes rows to each role.
Adding a dataset is one more ``Dataset(...)`` in ``DATASETS`` and one more SQL file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from pathlib import Path

SQL_DIR = Path(__file__).resolve().parent / "sql"

# The warehouse dataset the SQL reads; `{warehouse}` in a SQL file is replaced by the
# configured `project.dataset` so the same file runs locally and on BigQuery.
WAREHOUSE_PLACEHOLDER = "{warehouse}"
# Fragments several datasets share, one rule written once: `{name}` in a dataset's
# SQL is replaced by the subquery in `sql/_<name>.sql`.
FRAGMENTS = ("latest_observations",)


class Role(StrEnum):
    ADMIN = "admin"
    SECTOR = "sector"
    SCHOOL = "school"
    TEACHER = "teacher"


class FilterKind(StrEnum):
    EQUAL = "equal"  # ?param=value  -> column == value
    FROM = "from"  # ?param=value  -> column >= value
    TO = "to"  # ?param=value    -> column <= value


@dataclass(frozen=True)
class Filter:
    """One query parameter the API accepts for a dataset."""

    param: str
    column: str
    kind: FilterKind = FilterKind.EQUAL


@dataclass(frozen=True)
class Dataset:
    """Everything the sync and the API need to know about one dataset."""

    name: str
    sql_file: str
    key: tuple[str, ...]
    collection: str
    route: str
    sources: tuple[str, ...]
    filters: tuple[Filter, ...] = ()
    sortable: tuple[str, ...] = ()
    default_sort: tuple[str, ...] = ()
    # Role -> column holding the caller's scope value. Admin is never scoped; a role
    # missing here may not read the dataset at all.
    scope: Mapping[Role, str] = field(default_factory=dict)
    # Optional cheap query returning one row with one column; when its value is
    # unchanged since the last successful sync, the main query is skipped.
    refresh_key_sql: str | None = None

    def sql(self, warehouse: str) -> str:
        """The dataset's query, with its fragments and warehouse filled in."""
        text = read_sql(self.sql_file)
        for fragment in FRAGMENTS:
            text = text.replace(f"{{{fragment}}}", read_sql(f"_{fragment}.sql"))
        return text.replace(WAREHOUSE_PLACEHOLDER, warehouse)

    def filter(self, param: str) -> Filter | None:
        return next((f for f in self.filters if f.param == param), None)


@cache
def read_sql(name: str) -> str:
    return (SQL_DIR / name).read_text(encoding="utf-8")


# The tables of the sample warehouse (see sample/warehouse.py) the SQL reads.
_OBSERVATIONS = "weekly_observations"
_ROSTER = ("teachers", "schools", "sectors", "teacher_assignments")

_LOCATION_FILTERS = (
    Filter("sector", "sector_id"),
    Filter("school_id", "school_id"),
)

DATASETS: tuple[Dataset, ...] = (
    Dataset(
        name="teacher_data",
        sql_file="teacher_data.sql",
        key=("teacher_id", "week_start"),
        collection="teacher_data",
        route="teacher-data",
        sources=(_OBSERVATIONS, *_ROSTER),
        filters=(
            *_LOCATION_FILTERS,
            Filter("grade", "grade"),
            Filter("subject", "subject"),
            Filter("teacher_id", "teacher_id"),
            Filter("date_from", "week_start", FilterKind.FROM),
            Filter("date_to", "week_start", FilterKind.TO),
        ),
        sortable=("week_start", "teacher_name", "observation_score", "attendance_rate"),
        default_sort=("week_start", "teacher_id"),
        scope={
            Role.SECTOR: "sector_id",
            Role.SCHOOL: "school_id",
            Role.TEACHER: "teacher_id",
        },
    ),
    Dataset(
        name="aggregated_data",
        sql_file="aggregated_data.sql",
        key=("period", "level", "scope_id", "period_start"),
        collection="aggregated_data",
        route="aggregated-data",
        sources=(_OBSERVATIONS, *_ROSTER),
        filters=(
            Filter("period", "period"),
            Filter("level", "level"),
            *_LOCATION_FILTERS,
            Filter("date_from", "period_start", FilterKind.FROM),
            Filter("date_to", "period_start", FilterKind.TO),
        ),
        sortable=("period_start", "avg_observation_score"),
        default_sort=("period_start", "scope_id"),
        scope={
            Role.SECTOR: "sector_id",
            Role.SCHOOL: "school_id",
            Role.TEACHER: "school_id",
        },
    ),
    Dataset(
        name="school_data",
        sql_file="school_data.sql",
        key=("school_id",),
        collection="school_data",
        route="schools",
        sources=(_OBSERVATIONS, *_ROSTER),
        filters=_LOCATION_FILTERS,
        sortable=("school_name", "avg_observation_score", "teacher_count"),
        default_sort=("school_name", "school_id"),
        scope={
            Role.SECTOR: "sector_id",
            Role.SCHOOL: "school_id",
            Role.TEACHER: "school_id",
        },
    ),
    Dataset(
        name="filter_options",
        sql_file="filter_options.sql",
        key=("kind", "value", "school_id"),
        collection="filter_options",
        route="filter-options",
        sources=_ROSTER,
        filters=(),
        sortable=(),
        default_sort=("kind", "value", "school_id"),
        scope={
            Role.SECTOR: "sector_id",
            Role.SCHOOL: "school_id",
            Role.TEACHER: "school_id",
        },
    ),
)

BY_NAME: dict[str, Dataset] = {dataset.name: dataset for dataset in DATASETS}


def get(name: str) -> Dataset:
    """The dataset called ``name``, or a KeyError listing the known ones."""
    try:
        return BY_NAME[name]
    except KeyError:
        known = ", ".join(sorted(BY_NAME))
        raise KeyError(f"unknown dataset {name!r}; expected one of: {known}") from None
