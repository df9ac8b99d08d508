"""A change of k source rows costs O(k) Firestore writes, and reads show it.

How the change check is tested, honestly: real BigQuery moves a table's ``modified``
time on every load and DML statement; the local server never does (see
../shared/EMULATORS.md). There only ``num_rows`` moves, and it counts row versions
written: an INSERT adds its rows, an UPDATE adds the rows it rewrites, a DELETE takes
nothing off (measured on local-bigquery 0.3.2). So, on this server:

- INSERT and UPDATE are found by the default, metadata-only check (via ``num_rows``;
  on real BigQuery ``modified`` finds them too);
- DELETE is invisible to the metadata check, which the test shows (the run reports
  "unchanged"); ``force`` finds it, and so does a dataset declaring
  ``refresh_key_sql`` (row count and latest ``recorded_at`` of the observations),
  which also finds corrections.

"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from google.cloud import firestore as fs

from perfcache import datasets
from perfcache.config import Settings
from perfcache.sync import SyncRequest, run_sync
from tests import sync_support as support

TEACHER = datasets.get("teacher_data")
K = 7  # rows changed per statement


def _dml(bigquery: Any, sql: str) -> int:
    job = bigquery.query(sql)
    job.result()
    return int(job.num_dml_affected_rows or 0)


def test_metadata_check_finds_inserts_and_updates_force_finds_deletes(
    fresh_warehouse: tuple[Settings, str],
    firestore: fs.Client,
    bigquery: Any,
    bq_read_client: Any,
) -> None:
    settings, warehouse = support.fast(fresh_warehouse[0]), fresh_warehouse[1]
    services = support.services(firestore, bigquery, bq_read_client)
    only_teachers = SyncRequest(data_type="teacher_data")
    run_sync(settings, only_teachers, services)

    # INSERT: a new week for K teachers.
    assert _dml(bigquery, _insert_new_week(warehouse)) == K
    after_insert = run_sync(settings, only_teachers, services)

    line = after_insert.datasets["teacher_data"]
    assert (line.status, line.inserted, line.updated, line.deleted) == (
        "synced",
        K,
        0,
        0,
    )
    # k rows into the target, the same k into the other slot: nothing more.
    assert (line.firestore_writes, line.firestore_deletes) == (2 * K, 0)
    assert support.queries_of(services).count(TEACHER.sql(warehouse)) == 2
    new_ids = [f"s:T-{n:05d}|d:2026-06-01" for n in range(1, K + 1)]
    assert all(_served(firestore, i)["observation_score"] == 4.5 for i in new_ids)

    # UPDATE: K corrections in place.
    assert _dml(bigquery, _correct(warehouse, 1.25)) == K
    after_update = run_sync(settings, only_teachers, services)

    line = after_update.datasets["teacher_data"]
    assert (line.inserted, line.updated, line.deleted) == (0, K, 0)
    assert (line.firestore_writes, line.firestore_deletes) == (2 * K, 0)
    assert _served(firestore, "s:T-00003|d:2025-09-08")["observation_score"] == 1.25

    # DELETE: invisible to this server's metadata; force finds it.
    assert _dml(bigquery, _delete_new_week(warehouse)) == K
    blind = run_sync(settings, only_teachers, services)
    assert blind.datasets["teacher_data"].reason == "unchanged"
    forced = run_sync(settings, replace(only_teachers, force=True), services)

    line = forced.datasets["teacher_data"]
    assert (line.inserted, line.updated, line.deleted) == (0, 0, K), line
    assert (line.firestore_writes, line.firestore_deletes) == (0, 2 * K)
    assert all(_served_or_none(firestore, i) is None for i in new_ids)
    assert support.served(firestore)[1]["teacher_data"].complete


def test_refresh_key_sql_finds_what_metadata_misses_for_one_cheap_query(
    fresh_warehouse: tuple[Settings, str],
    firestore: fs.Client,
    bigquery: Any,
    bq_read_client: Any,
) -> None:
    settings, warehouse = support.fast(fresh_warehouse[0]), fresh_warehouse[1]
    services = support.services(firestore, bigquery, bq_read_client)
    keyed = replace(
        TEACHER,
        refresh_key_sql=(
            "SELECT FORMAT('%d/%t', COUNT(*), MAX(recorded_at)) "
            "FROM `{warehouse}.weekly_observations`"
        ),
    )
    assert _dml(bigquery, _insert_new_week(warehouse)) == K
    run_sync(settings, SyncRequest(), services, [keyed])

    # Unchanged key: skipped after the one cheap query, not the dataset's.
    support.queries_of(services).clear()
    quiet = run_sync(settings, SyncRequest(), services, [keyed])
    assert quiet.datasets["teacher_data"].reason == "unchanged"
    refresh_sql = keyed.refresh_key_sql or ""
    assert support.queries_of(services) == [
        refresh_sql.replace("{warehouse}", warehouse)
    ]

    # A DELETE the metadata check cannot see here moves the key.
    assert _dml(bigquery, _delete_new_week(warehouse)) == K
    seen = run_sync(settings, SyncRequest(), services, [keyed])

    line = seen.datasets["teacher_data"]
    assert (line.status, line.inserted, line.updated, line.deleted) == (
        "synced",
        0,
        0,
        K,
    )
    assert line.firestore_deletes == 2 * K

    # So does a correction (recorded_at moves).
    assert _dml(bigquery, _correct(warehouse, 1.5)) == K
    corrected = run_sync(settings, SyncRequest(), services, [keyed])

    line = corrected.datasets["teacher_data"]
    assert (line.inserted, line.updated, line.deleted) == (0, K, 0)
    assert line.firestore_writes == 2 * K
    assert _served(firestore, "s:T-00007|d:2025-09-08")["observation_score"] == 1.5


def _insert_new_week(warehouse: str) -> str:
    """K observations for teachers T-00001..K in a week the sample does not have."""
    return (
        f"INSERT INTO `{warehouse}.weekly_observations` "  # noqa: S608 (our constants)
        "SELECT CONCAT('NEW-', teacher_id), teacher_id, school_id, DATE '2026-06-01', "
        "1, 4.5, 1.0, 90.0, 1, TIMESTAMP '2026-06-05 15:00:00' "
        f"FROM `{warehouse}.teacher_assignments` "
        f"WHERE valid_to IS NULL AND teacher_id <= 'T-{K:05d}'"
    )


def _delete_new_week(warehouse: str) -> str:
    return (
        f"DELETE FROM `{warehouse}.weekly_observations` "  # noqa: S608 (our constants)
        "WHERE week_start = DATE '2026-06-01'"
    )


def _correct(warehouse: str, score: float) -> str:
    """Corrects K teachers' 2025-09-08 observations in place, recorded today (so the
    correction wins over any earlier one, and moves the latest ``recorded_at``)."""
    return (
        f"UPDATE `{warehouse}.weekly_observations` "  # noqa: S608 (our constants)
        f"SET observation_score = {score}, recorded_at = CURRENT_TIMESTAMP() "
        "WHERE week_start = DATE '2025-09-08' AND observation_id IN ("
        "  SELECT MIN(observation_id) "
        f"  FROM `{warehouse}.weekly_observations` "
        "  WHERE week_start = DATE '2025-09-08' "
        "  GROUP BY teacher_id ORDER BY teacher_id LIMIT 7)"
    )


def _served_or_none(firestore: fs.Client, doc_id: str) -> dict[str, Any] | None:
    """A teacher_data row as a reader gets it: from the slot the pointer names."""
    state = support.pointer(firestore).datasets["teacher_data"]
    collection = firestore.collection(f"{TEACHER.collection}_{state.slot}")
    snapshot = collection.document(doc_id).get()
    return (snapshot.to_dict() or {}).get("d") if snapshot.exists else None


def _served(firestore: fs.Client, doc_id: str) -> dict[str, Any]:
    row = _served_or_none(firestore, doc_id)
    assert row is not None, f"expected {doc_id} to be served; it is not"
    return row
