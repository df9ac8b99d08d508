"""The Firestore queries of the API, always against the slot the pointer serves.

Every read of one request happens at the pointer's read time (``read_time``), so a
request sees exactly the generation the pointer named even if a sync switches slots or
rewrites the other slot meanwhile. Firestore keeps that snapshot readable for an hour;
the pointer is reused for seconds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from perfcache import store, values
from perfcache.api import params
from perfcache.api.params import Cursor, ReadRequest
from perfcache.datasets import BY_NAME, Dataset, FilterKind
from perfcache.store import DatasetState, Pointer

if TYPE_CHECKING:
    from google.cloud.firestore import Client, Query

# /api/summary-stats aggregates teacher_data in the caller's scope over an optional
# date range. Each sum or average needs a composite index (scope column, week_start,
# metric) per slot; the metrics and parameters are kept to what fits Firestore's 200
# composite indexes next to the row routes' (see indexes.py and docs/api.md).
SUMMARY_DATASET = replace(
    BY_NAME["teacher_data"],
    filters=tuple(
        f for f in BY_NAME["teacher_data"].filters if f.kind is not FilterKind.EQUAL
    ),
    sortable=(),
    default_sort=("week_start",),
)
SUMMARY_METRICS: tuple[tuple[str, str, str], ...] = (
    ("avg", "observation_score", "avg_observation_score"),
    ("avg", "attendance_rate", "avg_attendance_rate"),
    ("avg", "student_assessment_avg", "avg_student_assessment"),
    ("sum", "lesson_plans_submitted", "total_lesson_plans"),
)
_ROW_COUNT = "row_count"


@dataclass(frozen=True)
class Served:
    """The pointer and the instant it was read; every read of a request uses both."""

    pointer: Pointer
    read_time: datetime


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, Any]]
    next_cursor: Cursor | None


class Reader:
    """Builds and runs the queries; holds no state but the client."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def served(self) -> Served:
        snapshot = (
            self._client.collection(store.STATE_COLLECTION)
            .document(store.POINTER_DOC)
            .get()
        )
        return Served(
            pointer=Pointer.from_firestore(snapshot.to_dict()),
            read_time=_microseconds(snapshot.read_time),
        )

    def page(
        self,
        state: DatasetState,
        read_time: datetime,
        request: ReadRequest,
        equalities: Sequence[tuple[str, str]],
        cursor: Cursor | None,
    ) -> Page:
        """One page of rows in order, and where the next one starts (if any)."""
        dataset = request.dataset
        columns = _Columns(state)
        order = params.order_columns(dataset, request.sort, (c for c, _ in equalities))
        query = self._ordered(dataset, state, columns, request, equalities, order)
        if cursor is not None:
            ref = self._collection(dataset, state).document(cursor.doc_id)
            query = query.start_after([*cursor.values, ref])
        docs = list(query.limit(request.page_size + 1).stream(read_time=read_time))

        shown = docs[: request.page_size]
        rows = [values.row_to_json(_data(doc), state.columns) for doc in shown]
        next_cursor = None
        if len(docs) > request.page_size:
            last = _data(shown[-1])
            next_cursor = Cursor(
                values=tuple(last.get(columns.encoded(c)) for c in order),
                doc_id=shown[-1].id,
            )
        return Page(rows=rows, next_cursor=next_cursor)

    def summary(
        self,
        state: DatasetState,
        read_time: datetime,
        request: ReadRequest,
        equalities: Sequence[tuple[str, str]],
    ) -> dict[str, Any]:
        """Count, averages and sums by one aggregation query: no row is read.

        Ordered by week_start alone (no id tie-breaker): the date bounds are cursors
        on it, and an aggregated field must follow the order in the index.
        """
        dataset = request.dataset
        columns = _Columns(state)
        query = self._ordered(
            dataset, state, columns, request, equalities, ("week_start",), ids=False
        )
        # The client's annotations type these builders wrongly; they chain.
        aggregation: Any = query.count(alias=_ROW_COUNT)
        for kind, column, alias in SUMMARY_METRICS:
            path = columns.path(column)
            if kind == "avg":
                aggregation = aggregation.avg(path, alias=alias)
            else:
                aggregation = aggregation.sum(path, alias=alias)
        results = aggregation.get(read_time=read_time)
        found = {result.alias: result.value for batch in results for result in batch}
        summary = {_ROW_COUNT: values.to_json(found.get(_ROW_COUNT, 0))}
        for _, _, alias in SUMMARY_METRICS:
            summary[alias] = values.to_json(found.get(alias))
        return summary

    def filter_options(
        self,
        state: DatasetState,
        read_time: datetime,
        equalities: Sequence[tuple[str, str]],
    ) -> list[dict[str, Any]]:
        """The (kind, value, label) triples in scope, once each, in kind/value order."""
        dataset = BY_NAME["filter_options"]
        columns = _Columns(state)
        query: Query = self._collection(dataset, state)
        for column, value in equalities:
            query = query.where(filter=_equal(columns.path(column), value))
        wanted = ("kind", "value", "label")
        query = query.select([columns.path(c) for c in wanted])
        unique: dict[tuple[Any, Any], dict[str, Any]] = {}
        for doc in query.stream(read_time=read_time):
            row = values.row_to_json(_data(doc), state.columns)
            unique.setdefault((row.get("kind"), row.get("value")), row)
        return [unique[key] for key in sorted(unique, key=_option_order)]

    def school_in_sector(
        self, state: DatasetState, read_time: datetime, school_id: str, sector_id: str
    ) -> bool:
        dataset = BY_NAME["school_data"]
        columns = _Columns(state)
        query = (
            self._collection(dataset, state)
            .where(filter=_equal(columns.path("school_id"), school_id))
            .where(filter=_equal(columns.path("sector_id"), sector_id))
            .limit(1)
        )
        return any(True for _ in query.stream(read_time=read_time))

    def lease(self) -> dict[str, Any] | None:
        return self._state_doc(store.LEASE_DOC)

    def run(self, run_id: str) -> dict[str, Any] | None:
        if not run_id:
            return None
        doc = self._client.collection(store.RUNS_COLLECTION).document(run_id).get()
        return doc.to_dict() if doc.exists else None

    def latest_run(self) -> dict[str, Any] | None:
        """The most recently started run (failed ones included), if any."""
        from google.cloud.firestore import Query

        query = (
            self._client.collection(store.RUNS_COLLECTION)
            .order_by("started_at", direction=Query.DESCENDING)
            .limit(1)
        )
        return next((doc.to_dict() for doc in query.stream()), None)

    def _state_doc(self, name: str) -> dict[str, Any] | None:
        doc = self._client.collection(store.STATE_COLLECTION).document(name).get()
        return doc.to_dict() if doc.exists else None

    def _collection(self, dataset: Dataset, state: DatasetState) -> Any:
        return self._client.collection(store.row_collection(dataset, state.slot))

    def _ordered(
        self,
        dataset: Dataset,
        state: DatasetState,
        columns: _Columns,
        request: ReadRequest,
        equalities: Sequence[tuple[str, str]],
        order: Sequence[str],
        ids: bool = True,
    ) -> Query:
        """Equalities, then the order and the id tie-breaker, then the date cursors."""
        from google.cloud.firestore import Query

        direction = Query.DESCENDING if request.direction == "desc" else Query.ASCENDING
        query: Query = self._collection(dataset, state)
        for column, value in equalities:
            query = query.where(filter=_equal(columns.path(column), value))
        for column in order:
            query = query.order_by(columns.path(column), direction=direction)
        if ids:
            query = query.order_by(params.DOC_ID, direction=direction)

        # Dates are stored as ISO strings, so the ISO form of a bound orders alike.
        low = request.date_from.isoformat() if request.date_from else None
        high = request.date_to.isoformat() if request.date_to else None
        first, last = (high, low) if request.direction == "desc" else (low, high)
        if first is not None:
            query = query.start_at([first])
        if last is not None:
            query = query.end_at([last])
        return query


class _Columns:
    """Original column name -> field path in the served slot's row documents."""

    def __init__(self, state: DatasetState) -> None:
        self._encoded = {original: enc for enc, original in state.columns.items()}

    def encoded(self, column: str) -> str:
        found = self._encoded.get(column)
        return found if found is not None else values.encode_column_name(column)

    def path(self, column: str) -> str:
        return store.data_path(self.encoded(column))


def merged_equalities(
    scope: Iterable[tuple[str, str]], filters: Iterable[tuple[str, str]]
) -> tuple[tuple[str, str], ...]:
    """Scope and filter equalities, one per column (scope checks ran before)."""
    merged = dict(filters)
    merged.update(dict(scope))
    return tuple(sorted(merged.items()))


def _equal(path: str, value: Any) -> Any:
    from google.cloud.firestore_v1.base_query import FieldFilter

    return FieldFilter(path, "==", value)


def _data(doc: Any) -> dict[str, Any]:
    raw = doc.to_dict() or {}
    data = raw.get(store.DATA_FIELD)
    return data if isinstance(data, dict) else {}


def _option_order(key: tuple[Any, Any]) -> tuple[str, str]:
    return (str(key[0]), str(key[1]))


def _microseconds(moment: datetime) -> datetime:
    """A plain UTC datetime: read_time takes microseconds, the snapshot has nanos."""
    return datetime(
        moment.year,
        moment.month,
        moment.day,
        moment.hour,
        moment.minute,
        moment.second,
        moment.microsecond,
        tzinfo=UTC,
    )
