"""The composite indexes every query the API can issue needs, from the declarations.

The API only issues three kinds of query (see reads.py and params.py):

- equalities only (filter options, the school-in-sector check): Firestore serves
  these from its automatic single-field indexes, merging them as needed;
- equalities, then an order (sort columns and the document id), with date bounds as
  cursors on the first order column: Firestore serves these by *index merging*, with
  one composite index ``(equality column, order columns...)`` per equality column;
- summary-stats aggregations: the scope equality, ordered by week_start, summing or
  averaging one field, which must end the index; no merging is assumed there, so
  each (scope column, metric) pair has its own exact index.

Merging keeps the count linear in the filters instead of exponential: teacher_data
alone has five equality columns, whose 32 combinations times its orders would pass
Firestore's 200 composite indexes per database on their own. Each slot collection
needs its own copy, so every definition below exists for ``_a`` and ``_b``.

    python -m perfcache.api.indexes              # rewrite the committed file
    python -m perfcache.api.indexes --check      # exit 1 when it is out of date
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from perfcache import store, values
from perfcache.api import params
from perfcache.api.reads import SUMMARY_DATASET, SUMMARY_METRICS
from perfcache.datasets import DATASETS, Dataset, FilterKind

OUTPUT = Path(__file__).resolve().parents[2] / "infra/terraform/firestore.indexes.json"
# Firestore's documented limit of composite indexes per database.
MAX_COMPOSITE_INDEXES = 200

Order = tuple[tuple[str, str], ...]  # (field path, ASCENDING|DESCENDING)


@dataclass(frozen=True)
class Shape:
    """One query the API can issue: its collection, equality paths and order."""

    collection: str
    equalities: frozenset[str]
    order: Order
    # The field a sum or average reads (summary-stats); it must end the index.
    aggregated: str = ""


def query_shapes(dataset: Dataset) -> Iterator[Shape]:
    """Every shape a request can produce on ``dataset``, for each slot.

    Walks every role's scope column (or none for admins), every subset of the
    equality filters, every sort choice and direction params.parse accepts.
    """
    filter_columns = [f.column for f in dataset.filters if f.kind is FilterKind.EQUAL]
    scopes: list[str | None] = [None, *sorted(set(dataset.scope.values()))]
    sorts: list[tuple[str | None, str]] = [(None, "asc")]
    sorts += [(s, d) for s in dataset.sortable for d in ("asc", "desc")]
    ordered = dataset.name != "filter_options"
    for slot, scope, subset, (sort, direction) in itertools.product(
        store.SLOTS, scopes, _subsets(filter_columns), sorts
    ):
        columns = set(subset) | ({scope} if scope else set())
        order = params.order_columns(dataset, sort, columns) if ordered else ()
        yield Shape(
            collection=store.row_collection(dataset, slot),
            equalities=frozenset(_path(c) for c in columns),
            order=tuple((_path(c), _DIRECTIONS[direction]) for c in order),
        )


def membership_shapes() -> Iterator[Shape]:
    """The school-in-sector check a sector user's school_id filter triggers."""
    school = next(d for d in DATASETS if d.name == "school_data")
    for slot in store.SLOTS:
        yield Shape(
            collection=store.row_collection(school, slot),
            equalities=frozenset({_path("school_id"), _path("sector_id")}),
            order=(),
        )


def summary_shapes() -> Iterator[Shape]:
    """summary-stats: the scope equality, ordered by week_start, one per metric."""
    dataset = SUMMARY_DATASET
    scopes: list[str | None] = [None, *sorted(set(dataset.scope.values()))]
    for slot, scope, (_, column, _) in itertools.product(
        store.SLOTS, scopes, SUMMARY_METRICS
    ):
        yield Shape(
            collection=store.row_collection(dataset, slot),
            equalities=frozenset({_path(scope)} if scope else set()),
            order=((_path("week_start"), "ASCENDING"),),
            aggregated=_path(column),
        )


def all_shapes() -> list[Shape]:
    shapes = {s for d in DATASETS for s in query_shapes(d)}
    shapes |= set(membership_shapes()) | set(summary_shapes())
    return sorted(shapes, key=lambda s: (s.collection, sorted(s.equalities), s.order))


def needed_indexes(shape: Shape) -> list[tuple[str, Order]]:
    """The composite indexes (collection, fields) that serve ``shape``."""
    if shape.aggregated:
        # No merging assumed for sums and averages: one exact index per metric.
        fields = (
            *((path, "ASCENDING") for path in sorted(shape.equalities)),
            *shape.order,
            (shape.aggregated, "ASCENDING"),
        )
        return [(shape.collection, fields)]
    if not shape.order:
        return []  # equalities only: single-field indexes merge
    if not shape.equalities:
        return [] if len(shape.order) == 1 else [(shape.collection, shape.order)]
    return [
        (shape.collection, ((path, "ASCENDING"), *shape.order))
        for path in sorted(shape.equalities)
    ]


def served(shape: Shape, indexes: Sequence[dict[str, Any]]) -> bool:
    """True when the definitions in ``indexes`` serve ``shape`` (merging included)."""
    have = {
        (
            index["collectionGroup"],
            tuple((f["fieldPath"], f["order"]) for f in index["fields"]),
        )
        for index in indexes
        if index.get("queryScope", "COLLECTION") == "COLLECTION"
    }
    return all(need in have for need in needed_indexes(shape))


def definitions() -> dict[str, Any]:
    """The firestore.indexes.json document for every shape, in a stable order."""
    unique = sorted({need for s in all_shapes() for need in needed_indexes(s)})
    return {
        "indexes": [
            {
                "collectionGroup": collection,
                "queryScope": "COLLECTION",
                "fields": [{"fieldPath": p, "order": o} for p, o in fields],
            }
            for collection, fields in unique
        ],
        "fieldOverrides": [],
    }


def render() -> str:
    return json.dumps(definitions(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when out of date")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)

    text = render()
    count = len(definitions()["indexes"])
    if count > MAX_COMPOSITE_INDEXES:
        print(
            f"error: {count} composite indexes; Firestore allows "
            f"{MAX_COMPOSITE_INDEXES} per database. Declare fewer filters or sorts.",
            file=sys.stderr,
        )
        return 1
    if args.check:
        current = (
            args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        )
        if current != text:
            print(
                f"error: {args.output} is out of date; run `make indexes`",
                file=sys.stderr,
            )
            return 1
        return 0
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {count} composite indexes to {args.output}")
    return 0


_DIRECTIONS = {"asc": "ASCENDING", "desc": "DESCENDING"}


def _subsets(items: Sequence[str]) -> Iterator[tuple[str, ...]]:
    for size in range(len(items) + 1):
        yield from itertools.combinations(items, size)


def _path(column: str) -> str:
    # The sync stores declared columns under encode_column_name, as reads.py expects.
    return store.data_path(values.encode_column_name(column))


if __name__ == "__main__":
    sys.exit(main())
