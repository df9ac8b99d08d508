"""The sync engine on the real local servers: counts, skips, diffs, failures, runs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from google.cloud import firestore as fs

from perfcache import datasets, docids, store
from perfcache.config import Settings
from perfcache.datasets import DATASETS, Dataset
from perfcache.sync import SyncRequest, run_sync
from perfcache.sync.engine import UnknownDataTypeError
from tests import sync_support as support

SCHOOL = datasets.get("school_data")
TEACHER = datasets.get("teacher_data")


class SqlDataset(Dataset):
    """A test dataset whose SQL is given inline instead of read from a file."""

    inline_sql: str = ""

    def sql(self, warehouse: str) -> str:
        return self.inline_sql.replace("{warehouse}", warehouse)


def inline(name: str, sql: str, key: tuple[str, ...], **fields: Any) -> Dataset:
    dataset = SqlDataset(
        name=name,
        sql_file="",
        key=key,
        collection=name,
        route=name,
        sources=("schools",),
        **fields,
    )
    object.__setattr__(dataset, "inline_sql", sql)
    return dataset


@pytest.fixture
def fast(settings: Settings, warehouse: str) -> Settings:
    return support.fast(settings)


@pytest.fixture
def closed_port() -> Iterator[int]:
    sock, port = support.refused_port()
    with sock:
        yield port


@pytest.fixture
def services(firestore: fs.Client, bigquery: Any, bq_read_client: Any) -> Any:
    return support.services(firestore, bigquery, bq_read_client)


def test_full_sync_serves_every_row_of_every_query(
    fast: Settings, services: Any, firestore: fs.Client, bigquery: Any
) -> None:
    report = run_sync(fast, SyncRequest(force=True), services)

    assert report.status == "succeeded", report.to_dict()
    generation, seen = support.served(firestore)
    assert generation == 1
    for dataset in datasets.DATASETS:
        expected = support.query_count(bigquery, dataset, fast.warehouse)
        line = report.datasets[dataset.name]
        assert (line.status, line.rows_read, line.inserted) == (
            "synced",
            expected,
            expected,
        )
        assert seen[dataset.name].documents == expected
        assert seen[dataset.name].complete
        # Both slots hold the rows once levelled: the served one and the spare.
        assert support.slot_hashes(firestore, dataset, "b") == support.slot_hashes(
            firestore, dataset, "a"
        )
        # Each row written once per slot, never more.
        assert line.firestore_writes == 2 * expected
    assert all(
        state.slots_equal for state in support.pointer(firestore).datasets.values()
    )

    saved = firestore.collection(store.RUNS_COLLECTION).document(report.run_id).get()
    assert saved.to_dict() == report.to_dict()

    # Every query names its dataset and run, and is capped.
    counting: support.CountingBigQuery = services.bigquery
    for sql, config in zip(counting.queries, counting.configs, strict=True):
        dataset = next(d for d in datasets.DATASETS if d.sql(fast.warehouse) == sql)
        assert config.labels["perfcache_dataset"] == dataset.name
        assert config.labels["perfcache_run"] == report.run_id
        assert config.maximum_bytes_billed == fast.maximum_bytes_billed


def test_a_first_load_fills_both_slots_over_what_a_crashed_one_left(
    fast: Settings, services: Any, firestore: fs.Client, bigquery: Any
) -> None:
    """Before a dataset's first switch no reader is on either slot, so one pass
    writes both. A crashed first run's leftovers in either slot (a stale row, a
    stray id) are replaced, here with a buffer so small every write reads the
    result again."""
    stale_id = docids.doc_id(("SCH-0001",))
    for slot in ("a", "b"):
        rows = firestore.collection(store.row_collection(SCHOOL, slot))
        rows.document(stale_id).set({"d": {"school_id": "old"}, "_h": "stale"})
        rows.document(f"stray-{slot}").set({"d": {}, "_h": "stray"})

    report = run_sync(
        replace(fast, sync_buffer_rows=10),
        SyncRequest(force=True, data_type="school_data"),
        services,
    )

    line = report.datasets["school_data"]
    expected = support.query_count(bigquery, SCHOOL, fast.warehouse)
    assert (report.status, line.rows_read) == ("succeeded", expected)
    assert (line.inserted, line.updated, line.deleted) == (expected - 1, 1, 1)
    # Each slot: every row set once, its stray id deleted.
    assert (line.firestore_writes, line.firestore_deletes) == (2 * expected, 2)
    slots = [
        {
            snapshot.id: snapshot.to_dict() or {}
            for snapshot in firestore.collection(
                store.row_collection(SCHOOL, slot)
            ).stream()
        }
        for slot in ("a", "b")
    ]
    assert slots[0] == slots[1]
    assert len(slots[0]) == expected
    assert slots[0][stale_id]["d"]["school_id"] == "SCH-0001"
    assert support.pointer(firestore).datasets["school_data"].slots_equal
    _, seen = support.served(firestore)
    assert seen["school_data"].complete


def test_rest_pages_and_storage_read_batches_give_the_same_documents(
    fast: Settings, firestore: fs.Client, bigquery: Any, bq_read_client: Any
) -> None:
    assert bq_read_client is not None
    arrow = support.services(firestore, bigquery, bq_read_client)
    rest = support.services(firestore, bigquery, read_client=None)
    run_sync(fast, SyncRequest(force=True), arrow)

    # Small REST pages, so a result spans several.
    again = run_sync(replace(fast, sync_page_rows=500), SyncRequest(force=True), rest)

    for name, line in again.datasets.items():
        assert (line.reason, line.firestore_writes) == ("result unchanged", 0), name


def test_unchanged_sources_skip_without_a_query_and_force_writes_nothing(
    fast: Settings, services: Any, firestore: fs.Client
) -> None:
    run_sync(fast, SyncRequest(force=True), services)
    support.queries_of(services).clear()

    again = run_sync(fast, SyncRequest(), services)

    assert again.status == "skipped"
    assert {d.reason for d in again.datasets.values()} == {"unchanged"}
    # The change check read table metadata only: not one query ran.
    assert support.queries_of(services) == []

    forced = run_sync(fast, SyncRequest(force=True), services)

    assert forced.status == "succeeded"
    for name, line in forced.datasets.items():
        assert (line.firestore_writes, line.firestore_deletes) == (0, 0), name
        # Equal slots and an equal checksum: not even the spare slot is read.
        assert line.firestore_reads == 0, name
        assert line.unchanged == line.rows_read > 0
    assert len(support.queries_of(services)) == len(datasets.DATASETS)


def test_a_recent_sync_is_skipped_as_fresh_unless_forced(
    settings: Settings, warehouse: str, services: Any, firestore: fs.Client
) -> None:
    fresh_window = support.fast(settings, freshness_window_s=3600)
    run_sync(fresh_window, SyncRequest(data_type="school_data"), services)
    support.queries_of(services).clear()

    skipped = run_sync(fresh_window, SyncRequest(data_type="school_data"), services)
    forced = run_sync(
        fresh_window, SyncRequest(data_type="school_data", force=True), services
    )

    assert skipped.status == "skipped"
    assert skipped.datasets["school_data"].reason == "fresh"
    assert forced.datasets["school_data"].status == "synced"
    assert len(support.queries_of(services)) == 1


def test_a_dry_run_counts_the_diff_and_writes_only_the_run_log(
    fast: Settings, services: Any, firestore: fs.Client
) -> None:
    report = run_sync(fast, SyncRequest(dry_run=True), services)

    assert report.status == "succeeded"
    line = report.datasets["teacher_data"]
    assert line.status == "dry_run"
    assert line.inserted == line.rows_read > 0
    assert line.firestore_writes == line.firestore_deletes == 0
    collections = {c.id for c in firestore.collections()}
    assert not collections & {f"{d.collection}_{s}" for d in DATASETS for s in "ab"}
    assert not support.pointer(firestore).datasets
    assert (
        firestore.collection(store.RUNS_COLLECTION).document(report.run_id).get().exists
    )


def test_bad_sql_fails_that_dataset_only_and_asks_for_no_redelivery(
    fast: Settings, services: Any, firestore: fs.Client
) -> None:
    broken = inline("broken_probe", "SELEC nothing FROM nowhere", ("x",))
    catalogue = [SCHOOL, broken]

    report = run_sync(fast, SyncRequest(force=True), services, catalogue)

    assert report.status == "failed"
    assert report.retryable is False
    assert report.datasets["broken_probe"].status == "failed"
    assert report.datasets["school_data"].status == "synced"
    assert "broken_probe" not in support.pointer(firestore).datasets
    assert support.served(firestore)[1]["school_data"].complete


def test_a_transient_bigquery_failure_asks_for_redelivery(
    fast: Settings, firestore: fs.Client, closed_port: int
) -> None:
    from perfcache import clients

    unreachable = replace(
        fast,
        bigquery_endpoint=f"http://127.0.0.1:{closed_port}",
        bigquery_retry_deadline_s=1,
    )
    services = support.services(
        firestore, clients.bigquery_client(unreachable), read_client=None
    )

    report = run_sync(unreachable, SyncRequest(data_type="school_data"), services)

    assert report.status == "failed"
    assert report.retryable is True
    assert "RetryError" in report.datasets["school_data"].reason


def test_duplicate_keys_fail_the_dataset_quoting_them(
    fast: Settings, services: Any, firestore: fs.Client, bigquery: Any
) -> None:
    by_sector = replace(SCHOOL, name="dup_probe", key=("sector_id",))
    schools = support.query_count(bigquery, SCHOOL, fast.warehouse)
    sectors = int(
        next(
            iter(
                bigquery.query(
                    "SELECT COUNT(DISTINCT sector_id) "  # noqa: S608 (our SQL)
                    f"FROM ({SCHOOL.sql(fast.warehouse)})"
                ).result()
            )
        )[0]
    )

    report = run_sync(fast, SyncRequest(force=True), services, [by_sector])

    reason = report.datasets["dup_probe"].reason
    assert report.status == "failed"
    assert not report.retryable
    assert "DuplicateKeyError" in reason
    # Which repeat comes first depends on the result's row order; the count does not.
    assert f"found {schools - sectors} rows repeating an earlier key" in reason
    assert re.search(r"e\.g\. \(?sector_id='SEC-\d+'", reason), reason
    assert not list(firestore.collection("school_data_a").limit(1).stream())


def test_rows_firestore_cannot_hold_are_rejected_counted_and_listed(
    fast: Settings, services: Any, firestore: fs.Client
) -> None:
    sql = (
        "SELECT IF(school_id = 'SCH-0007', NULL, school_id) AS k, school_name "
        "FROM `{warehouse}.schools`"
    )
    one_null = inline("reject_probe", sql, ("k",))

    failed = run_sync(fast, SyncRequest(force=True), services, [one_null])
    tolerant = replace(fast, reject_share_limit=0.1)
    synced = run_sync(tolerant, SyncRequest(force=True), services, [one_null])

    # 1 of 20 rows is 5 %: over the default 1 %, within 10 %.
    assert failed.datasets["reject_probe"].status == "failed"
    assert "RejectLimitError" in failed.datasets["reject_probe"].reason
    line = synced.datasets["reject_probe"]
    assert (line.status, line.rejected, line.inserted) == ("synced", 1, 19)
    assert "NULL" in synced.rejects["reject_probe"][0]["reason"]


def test_a_rejected_row_sharing_a_key_with_a_kept_one_fails_the_dataset(
    fast: Settings, services: Any, firestore: fs.Client
) -> None:
    # The second SCH-0007 row cannot be stored (over 1 MiB); writing the first under
    # that id would hide that the key is not unique.
    sql = (
        "SELECT school_id AS k, school_name AS v FROM `{warehouse}.schools` "
        "UNION ALL SELECT 'SCH-0007' AS k, REPEAT('x', 1100000) AS v"
    )
    shared = inline("shared_probe", sql, ("k",))
    tolerant = replace(fast, reject_share_limit=0.1)

    report = run_sync(tolerant, SyncRequest(force=True), services, [shared])

    line = report.datasets["shared_probe"]
    assert (report.status, line.status, line.rejected) == ("failed", "failed", 1)
    assert "DuplicateKeyError" in line.reason
    assert "found 1 rows repeating an earlier key" in line.reason
    assert "k='SCH-0007'" in line.reason
    assert not list(firestore.collection("shared_probe_a").limit(1).stream())


def test_a_live_lease_makes_a_second_run_report_already_running(
    fast: Settings, services: Any, firestore: fs.Client
) -> None:
    lease = firestore.collection(store.STATE_COLLECTION).document(store.LEASE_DOC)
    now = datetime.now(UTC)
    lease.set({"run_id": "other-run", "expires_at": now + timedelta(minutes=5)})

    blocked = run_sync(fast, SyncRequest(), services)

    assert blocked.status == "already_running"
    assert blocked.ok
    assert support.queries_of(services) == []
    assert (lease.get().to_dict() or {})["run_id"] == "other-run"


def test_an_expired_lease_is_taken_over_and_its_run_marked_abandoned(
    fast: Settings, services: Any, firestore: fs.Client
) -> None:
    runs = firestore.collection(store.RUNS_COLLECTION)
    runs.document("crashed-run").set({"run_id": "crashed-run", "status": "running"})
    lease = firestore.collection(store.STATE_COLLECTION).document(store.LEASE_DOC)
    lease.set(
        {
            "run_id": "crashed-run",
            "expires_at": datetime.now(UTC) - timedelta(seconds=1),
        }
    )

    report = run_sync(fast, SyncRequest(data_type="school_data"), services)

    assert report.status == "succeeded"
    assert (runs.document("crashed-run").get().to_dict() or {})["status"] == "abandoned"
    assert not lease.get().exists


def test_a_redelivered_message_is_not_synced_twice(
    fast: Settings, services: Any, firestore: fs.Client
) -> None:
    message = SyncRequest(
        data_type="school_data", force=True, trigger="pubsub", message_id="m-42"
    )

    first = run_sync(fast, message, services)
    support.queries_of(services).clear()
    again = run_sync(fast, message, services)

    assert first.status == "succeeded"
    assert again.status == "duplicate"
    assert again.ok
    assert support.queries_of(services) == []
    assert support.pointer(firestore).generation == 1


def test_an_unknown_data_type_is_refused_before_anything_runs(
    fast: Settings, services: Any
) -> None:
    with pytest.raises(UnknownDataTypeError, match="teacher_data"):
        run_sync(fast, SyncRequest(data_type="nope"), services)
