"""One sync run, step by step.

    run_sync
      claim      skip a redelivered message already done; take the lease
      prepare    per dataset: fresh? sources changed? query, encode, diff, write the
                 slot nobody reads (a failed dataset keeps serving its old data)
      switch     one transaction points readers at every written dataset at once
      level      bring the slot readers left level with the new one
      record     the run log, the final log line, the lease released

A crash at any step leaves readers on a complete generation: rows are only ever written
to the slot the pointer does not name, until the pointer moves in one transaction.
Before writing into a slot the pointer's ``slots_equal`` is cleared, so the next run
never trusts a half-written slot, and its diff against the slot's actual contents
converges whatever the crash left.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from perfcache import clients, docids, logs, store
from perfcache.config import Settings
from perfcache.datasets import DATASETS, Dataset
from perfcache.errors import (
    FatalError,
    RejectLimitError,
    TransientError,
    describe,
    is_transient,
)
from perfcache.store import DatasetState, Pointer, Slot
from perfcache.sync import lease, runlog, source
from perfcache.sync.index import RowIndex, Selection, compare, digest
from perfcache.sync.rows import Checksum, Encoded, Rejected, RowCodec, hash_bytes
from perfcache.sync.runlog import DatasetReport, RunReport, Trigger
from perfcache.sync.writer import (
    SMALL_DOCUMENT_BYTES,
    Counts,
    Ramp,
    Writer,
    row_fields,
)

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from google.cloud import firestore as fs

log = logs.get_logger(__name__)

# Documents per page when reading a slot's row hashes: one request stays well inside
# Firestore's 60 s query deadline even at the first load of a large dataset.
_HASH_PAGE = 10_000


class UnknownDataTypeError(FatalError):
    """A sync was asked for a dataset that is not declared."""


@dataclass(frozen=True)
class SyncRequest:
    """What to sync: ``all`` or one dataset, forced or not, for real or dry."""

    data_type: str = "all"
    force: bool = False
    dry_run: bool = False
    trigger: Trigger = "cli"
    message_id: str = ""


@dataclass
class Services:
    """The clients a run uses; tests pass wrappers around the real ones."""

    firestore: Any
    bigquery: Any
    read_client: Any | None

    @classmethod
    def from_settings(cls, settings: Settings) -> Services:
        return cls(
            firestore=clients.firestore_client(settings),
            bigquery=clients.bigquery_client(settings),
            read_client=clients.bigquery_read_client(settings),
        )


def resolve(data_type: str, catalogue: Sequence[Dataset] = DATASETS) -> list[Dataset]:
    """The datasets a request names: all of them, or the one called ``data_type``."""
    if data_type in ("", "all"):
        return list(catalogue)
    for dataset in catalogue:
        if dataset.name == data_type:
            return [dataset]
    known = ", ".join(["all", *(d.name for d in catalogue)])
    raise UnknownDataTypeError(
        f"expected data_type to be one of: {known}; found {data_type!r}. Send one of "
        "those names (or leave it empty for all)."
    )


def run_sync(
    settings: Settings,
    request: SyncRequest,
    services: Services | None = None,
    catalogue: Sequence[Dataset] = DATASETS,
) -> RunReport:
    """Runs one sync and returns its summary (also stored in ``sync_runs``).

    Raises UnknownDataTypeError before doing anything for an unknown data_type; every
    later failure is recorded in the returned report instead of raised.
    """
    chosen = resolve(request.data_type, catalogue)
    services = services or Services.from_settings(settings)
    started = datetime.now(UTC)
    report = RunReport(
        run_id=runlog.new_run_id(started),
        trigger=request.trigger,
        started_at=started,
        data_type=request.data_type or "all",
        force=request.force,
        dry_run=request.dry_run,
        message_id=request.message_id,
    )
    with logs.bind_labels(run_id=report.run_id):
        run = _Run(settings, request, services, report)
        try:
            run.execute(chosen)
        except Exception as error:  # the run log records any failure
            report.status = "failed"
            report.error = describe(error)
            report.retryable = is_transient(error)
            log.exception("sync run failed", extra={"retryable": report.retryable})
        finally:
            run.finish()
    return report


@dataclass(frozen=True)
class _Changes:
    """What one slot needs to hold a result: rows to set, ids to delete."""

    slot: Slot
    changed: Selection
    vanished: list[str]


@dataclass
class _Plan:
    """One dataset's prepared result: what the switch and the level step need."""

    dataset: Dataset
    report: DatasetReport
    previous: DatasetState | None
    source_key: str
    # None when the dataset was skipped before querying.
    result: source.Result | None = None
    codec: RowCodec | None = None
    # Every row's id and hash, frozen once the result is read.
    index: RowIndex = field(default_factory=RowIndex)
    checksum: str = ""
    columns: dict[str, str] = field(default_factory=dict)
    # Every row's document, while the result fits in sync_buffer_rows.
    docs: dict[str, Encoded] | None = None
    # Sizes of the documents too big to count as SMALL_DOCUMENT_BYTES in a batch.
    large: dict[str, int] = field(default_factory=dict)
    target: Slot = "a"
    changed: Selection | None = None
    vanished: list[str] = field(default_factory=list)
    # True once both slots hold the result, written in one pass (a first load).
    filled_both: bool = False
    # "switch": serve the target slot; "confirm": same rows, refresh synced_at only.
    action: str = "none"
    retryable: bool = False


class _Run:
    def __init__(
        self,
        settings: Settings,
        request: SyncRequest,
        services: Services,
        report: RunReport,
    ) -> None:
        self.settings = settings
        self.request = request
        self.services = services
        self.report = report
        self.fs: fs.Client = services.firestore
        self.holds_lease = False
        self.lease_renewed_at = 0.0
        self.ramp = Ramp(settings.write_ramp_start_ops)
        self.pointer_ref = self.fs.collection(store.STATE_COLLECTION).document(
            store.POINTER_DOC
        )

    # --- the steps ----------------------------------------------------------------

    def execute(self, chosen: list[Dataset]) -> None:
        if not self._claim():
            return
        runlog.save(self.fs, self.report)
        pointer = self._read_pointer()

        plans = []
        for dataset in chosen:
            self._keep_lease(force=True)
            plans.append(self._prepare(dataset, pointer.datasets.get(dataset.name)))

        if not self.request.dry_run:
            self._switch([p for p in plans if p.action in ("switch", "confirm")])
            self._level(
                [p for p in plans if p.action == "switch" and not p.filled_both]
            )
        self._settle_status(plans)

    def _claim(self) -> bool:
        """Skips a message already done, then takes the lease; False to stop."""
        if self.request.message_id:
            done = runlog.finished_run_for(self.fs, self.request.message_id)
            if done is not None:
                self.report.status = "duplicate"
                self.report.error = (
                    f"message {self.request.message_id} was already handled by run "
                    f"{done}; acknowledged without syncing again"
                )
                log.info("redelivered message already handled", extra={"by": done})
                return False
        claim = lease.acquire(self.fs, self.report.run_id, self.settings.lease_ttl_s)
        if not claim.acquired:
            self.report.status = "already_running"
            self.report.error = (
                f"run {claim.other_run_id} holds the sync lease until "
                f"{claim.other_expires_at}; this run did nothing"
            )
            log.info("another sync is running", extra={"other": claim.other_run_id})
            return False
        self.holds_lease = True
        self.lease_renewed_at = time.monotonic()
        if claim.other_run_id:
            runlog.mark_abandoned(self.fs, claim.other_run_id)
        return True

    def _prepare(self, dataset: Dataset, previous: DatasetState | None) -> _Plan:
        """Everything for one dataset up to (not including) the switch."""
        started = time.monotonic()
        plan = _Plan(dataset, DatasetReport(), previous, source_key="")
        try:
            with logs.bind_labels(dataset=dataset.name):
                self._prepare_steps(plan)
        except Exception as error:  # noqa: BLE001 (one dataset's failure is reported)
            plan.action = "none"
            plan.report.status = "failed"
            plan.report.reason = describe(error)
            plan.retryable = is_transient(error)
            log.error(  # noqa: TRY400 (the reason is the message; no trace needed)
                "dataset failed; its previous data stays served",
                extra={
                    "dataset": dataset.name,
                    "reason": plan.report.reason,
                    "retryable": plan.retryable,
                },
            )
        plan.report.duration_s = round(time.monotonic() - started, 3)
        self.report.datasets[dataset.name] = plan.report
        log.info(
            "dataset summary",
            extra={"dataset": dataset.name, **vars(plan.report)},
        )
        return plan

    def _prepare_steps(self, plan: _Plan) -> None:
        dataset, previous, report = plan.dataset, plan.previous, plan.report

        # 1. Freshness: a recent sync is enough unless forced.
        if previous is not None and not self.request.force and self._is_fresh(previous):
            report.status, report.reason = "skipped", "fresh"
            return

        # 2. Change check: metadata or refresh key, no main query.
        plan.source_key = source.source_key(
            self.services.bigquery, self.settings, dataset, self.report.run_id
        )
        if (
            previous is not None
            and not self.request.force
            and plan.source_key == previous.source_key
        ):
            report.status, report.reason = "skipped", "unchanged"
            plan.action = "confirm"
            return

        # 3. Query, then read every page once: ids, hashes, rejects, duplicates.
        plan.result = source.run_query(
            self.services.bigquery,
            self.settings,
            dataset,
            self.report.run_id,
            self.services.read_client,
        )
        report.bytes_processed = plan.result.bytes_processed
        self._scan(plan)

        # 4. Diff against the slot nobody reads; nothing to do when it is known equal.
        plan.target = store.other(previous.slot) if previous else "a"
        if (
            previous is not None
            and previous.slots_equal
            and plan.checksum == previous.checksum
        ):
            report.unchanged = len(plan.index)
            report.reason = "result unchanged"
            plan.action = "confirm"
            plan.docs = None
            self._set_dry_status(report)
            return
        self._diff(plan)

        # 5. Write the target slot (a dry run stops at the counts). Before a dataset's
        # first switch no reader is on either slot, so both are filled in one pass
        # and there is nothing to level afterwards.
        if self.request.dry_run:
            self._set_dry_status(report)
            return
        if previous is not None and previous.slots_equal:
            self._mark_slots_unequal(dataset.name)
        assert plan.changed is not None
        writes = [_Changes(plan.target, plan.changed, plan.vanished)]
        if previous is None:
            other = store.other(plan.target)
            writes.append(self._changes(plan, other, report))
            plan.filled_both = True
        self._apply(plan, writes)
        plan.action = "switch"

    def _switch(self, plans: list[_Plan]) -> None:
        """One transaction moves every written dataset's readers to its new slot."""
        if not plans:
            return
        from google.cloud import firestore

        now = datetime.now(UTC)
        run_id = self.report.run_id

        @firestore.transactional
        def switch(transaction: Any) -> Pointer:
            snapshot = self.pointer_ref.get(transaction=transaction)
            current = Pointer.from_firestore(
                snapshot.to_dict() if snapshot.exists else None
            )
            states = dict(current.datasets)
            switched = False
            for plan in plans:
                name, old = plan.dataset.name, states.get(plan.dataset.name)
                if plan.action == "confirm" and old is not None:
                    states[name] = replace(
                        old,
                        synced_at=now,
                        run_id=run_id,
                        source_key=plan.source_key or old.source_key,
                    )
                elif plan.action == "switch":
                    switched = True
                    states[name] = DatasetState(
                        slot=plan.target,
                        generation=(old.generation if old else 0) + 1,
                        synced_at=now,
                        row_count=len(plan.index),
                        checksum=plan.checksum,
                        source_key=plan.source_key,
                        run_id=run_id,
                        columns=plan.columns,
                        slots_equal=plan.filled_both,
                    )
            updated = Pointer(
                generation=current.generation + (1 if switched else 0),
                switched_at=now if switched else current.switched_at,
                datasets=states,
            )
            transaction.set(self.pointer_ref, updated.to_firestore())
            return updated

        self._keep_lease(force=True)
        pointer: Pointer = switch(self.fs.transaction())
        log.info(
            "pointer switched",
            extra={
                "generation": pointer.generation,
                "switched": [p.dataset.name for p in plans if p.action == "switch"],
                "confirmed": [p.dataset.name for p in plans if p.action == "confirm"],
            },
        )

    def _level(self, plans: list[_Plan]) -> None:
        """Rewrites the slot readers left so the next sync starts from equal slots.

        A failure here is logged, not raised: readers are already on the new rows,
        and the next run's diff levels whatever is left (slots_equal stays False).
        """
        if not plans:
            return
        time.sleep(self.settings.level_grace_s)
        leveled = []
        for plan in plans:
            try:
                self._level_one(plan)
            except Exception as error:  # noqa: BLE001 (served data is already right)
                self.report.error = f"levelling {plan.dataset.name} failed: {error}"
                log.warning(
                    "levelling the unserved slot failed; the next run will finish it",
                    extra={"dataset": plan.dataset.name, "error": str(error)},
                )
            else:
                leveled.append(plan.dataset.name)
        if leveled:
            from google.cloud.firestore_v1.field_path import FieldPath

            self.pointer_ref.update(
                {
                    FieldPath("datasets", name, "slots_equal").to_api_repr(): True
                    for name in leveled
                }
            )

    def _level_one(self, plan: _Plan) -> None:
        left = store.other(plan.target)
        if (
            plan.previous is not None
            and plan.previous.slots_equal
            and plan.changed is not None
        ):
            # The slot just left held what the target held before: same diff.
            changes = _Changes(left, plan.changed, plan.vanished)
        else:
            changes = self._changes(plan, left, plan.report)
        self._apply(plan, [changes])
        self.report.datasets[plan.dataset.name] = plan.report

    def _settle_status(self, plans: list[_Plan]) -> None:
        failed = [p for p in plans if p.report.status == "failed"]
        if failed:
            self.report.status = "failed"
            self.report.retryable = any(p.retryable for p in failed)
            names = ", ".join(p.dataset.name for p in failed)
            self.report.error = self.report.error or f"datasets failed: {names}"
        elif all(p.report.status == "skipped" for p in plans):
            self.report.status = "skipped"
        else:
            self.report.status = "succeeded"

    def finish(self) -> None:
        """Records the run (log document, final line) and releases the lease."""
        self.report.finished_at = datetime.now(UTC)
        try:
            runlog.save(self.fs, self.report)
        except Exception as error:  # noqa: BLE001 (the final log line still goes out)
            # The error is the whole story here; a traceback would add nothing.
            message = "could not save the run log"
            log.error(message, extra={"error": str(error)})  # noqa: TRY400
        if self.holds_lease:
            try:
                lease.release(self.fs, self.report.run_id)
            except Exception as error:  # noqa: BLE001 (the lease expires by itself)
                log.warning("could not release the lease", extra={"error": str(error)})
        summary = self.report.to_dict()
        log.log(
            40 if self.report.status == "failed" else 20,
            "sync run finished",
            extra={
                "event": "sync_run_finished",
                "status": self.report.status,
                "retryable": self.report.retryable,
                "duration_s": round(
                    (self.report.finished_at - self.report.started_at).total_seconds(),
                    3,
                ),
                "datasets": summary["datasets"],
                "error": self.report.error,
            },
        )

    # --- helpers ------------------------------------------------------------------

    def _keep_lease(self, force: bool = False) -> None:
        """Renews the lease often enough that it never expires under a live run.

        Called between datasets, per page read and per commit: a renewal at most every
        quarter TTL keeps a long dataset (a first load under the write ramp can take
        longer than the TTL) from looking crashed. A lease taken over means another
        run may be writing the same spare slot: stop before switching anything.
        """
        ttl = self.settings.lease_ttl_s
        if not force and time.monotonic() - self.lease_renewed_at < ttl / 4:
            return
        if not lease.renew(self.fs, self.report.run_id, ttl):
            raise TransientError(
                "the sync lease passed to another run (this run went longer than "
                "PERFCACHE_LEASE_TTL_S without renewing it); stopping before the "
                "switch, the next run converges"
            )
        self.lease_renewed_at = time.monotonic()

    def _is_fresh(self, state: DatasetState) -> bool:
        age = (datetime.now(UTC) - state.synced_at).total_seconds()
        due = self.settings.freshness_window_s - self.settings.freshness_slack_s
        return age < due

    def _read_pointer(self) -> Pointer:
        snapshot = self.pointer_ref.get()
        return Pointer.from_firestore(snapshot.to_dict() if snapshot.exists else None)

    def _scan(self, plan: _Plan) -> None:
        """Reads the result once: encodes rows, collects ids and hashes, checks them."""
        assert plan.result is not None
        dataset, report = plan.dataset, plan.report
        from perfcache import values

        plan.columns = values.column_map(plan.result.schema)
        plan.codec = RowCodec(
            plan.result.schema,
            dataset.key,
            store.row_collection(dataset, "a"),
            json_text=plan.result.arrow,
        )
        buffer_limit = self.settings.sync_buffer_rows
        plan.docs = {} if plan.result.total_rows <= buffer_limit else None
        checksum = Checksum()
        rejects: list[dict[str, str]] = []
        # Ids of rejected rows, to catch a key shared with another row; past the
        # reject limit the dataset fails anyway, so no more are kept.
        rejected_ids: list[str] = []
        most_rejects = int(plan.result.total_rows * self.settings.reject_share_limit)
        started = time.monotonic()
        for page in source.pages(plan.result, self.settings, self.services.read_client):
            self._keep_lease()
            for row in page:
                encoded = plan.codec.encode(row)
                if isinstance(encoded, Rejected):
                    report.rejected += 1
                    if len(rejects) < runlog.REJECTS_SAMPLE:
                        rejects.append(
                            {"doc_id": encoded.doc_id, "reason": encoded.reason}
                        )
                    if encoded.keyed and len(rejected_ids) <= most_rejects:
                        rejected_ids.append(encoded.doc_id)
                    continue
                plan.index.add(encoded.doc_id, bytes.fromhex(encoded.row_hash))
                checksum.add(encoded.doc_id, encoded.row_hash)
                if encoded.size > SMALL_DOCUMENT_BYTES:
                    plan.large[encoded.doc_id] = encoded.size
                if plan.docs is not None:
                    plan.docs[encoded.doc_id] = encoded
            report.rows_read += len(page)
            elapsed = time.monotonic() - started or 1e-9
            log.info(
                "page read",
                extra={
                    "dataset": dataset.name,
                    "rows": len(page),
                    "rows_read": report.rows_read,
                    "rows_per_s": round(report.rows_read / elapsed),
                },
            )
        if rejects:
            self.report.rejects[dataset.name] = rejects
        repeated = plan.index.freeze() | _repeated_by_rejects(plan.index, rejected_ids)
        if repeated:
            self._name_duplicates(plan, repeated)
        share = report.rejected / report.rows_read if report.rows_read else 0.0
        if share > self.settings.reject_share_limit:
            raise RejectLimitError(
                f"dataset {dataset.name!r}: {report.rejected} of {report.rows_read} "
                f"rows ({share:.2%}) cannot be stored in Firestore; the limit is "
                f"{self.settings.reject_share_limit:.2%} "
                "(PERFCACHE_REJECT_SHARE_LIMIT). The run log lists the first ones; fix "
                "them in the dataset's SQL."
            )
        plan.checksum = checksum.hexdigest()

    def _name_duplicates(self, plan: _Plan, repeated: set[bytes]) -> None:
        """Fails the dataset quoting the keys that occur more than once; reads the
        result again for them (the index keeps digests, not keys)."""
        assert plan.result is not None
        assert plan.codec is not None
        duplicates = docids.DuplicateKeys(plan.dataset.key)
        for page in source.pages(plan.result, self.settings, self.services.read_client):
            self._keep_lease()
            for row in page:
                doc_id = plan.codec.doc_id_of(row)
                if doc_id is not None and digest(doc_id) in repeated:
                    duplicates.add(doc_id, plan.codec.key_of(row))
        duplicates.check(plan.dataset.name)
        # Never go on with repeated records, even when the second read disagrees.
        raise TransientError(
            f"dataset {plan.dataset.name!r}: expected the second read of the result "
            "to show the keys the first read repeated; found none repeated. The "
            "result changed between the two reads; the next run reads it again."
        )

    def _stored_hashes(
        self, dataset: Dataset, slot: Slot, report: DatasetReport
    ) -> Iterator[list[tuple[str, bytes]]]:
        """(doc id, row hash) of every document in a slot, a page at a time (a
        projection query)."""
        from google.cloud.firestore_v1.field_path import FieldPath

        collection = self.fs.collection(store.row_collection(dataset, slot))
        query = collection.select([store.HASH_FIELD]).order_by(FieldPath.document_id())
        last: Any = None
        while True:
            page_query = query.limit(_HASH_PAGE)
            if last is not None:
                page_query = page_query.start_after(last)
            page = list(page_query.stream())
            # Firestore bills a query that returns nothing as one read.
            report.firestore_reads += max(1, len(page))
            yield [
                (
                    snapshot.id,
                    hash_bytes((snapshot.to_dict() or {}).get(store.HASH_FIELD)),
                )
                for snapshot in page
            ]
            if len(page) < _HASH_PAGE:
                return
            last = page[-1]

    def _diff(self, plan: _Plan) -> None:
        report = plan.report
        stored = self._stored_hashes(plan.dataset, plan.target, report)
        comparison = compare(plan.index, stored)
        plan.changed, plan.vanished = comparison.changed, comparison.vanished
        report.inserted, report.updated = comparison.inserted, comparison.updated
        report.unchanged = len(plan.index) - len(plan.changed)
        report.deleted = len(plan.vanished)
        if plan.docs is not None and plan.previous is not None:
            # Keep only what the writes need: the level step writes the same rows.
            # A first load keeps every row: its second slot is empty or holds a
            # crash's leftovers, and is diffed on its own.
            ids = list(plan.docs)
            held = plan.changed.holds_all(plan.index.positions(ids))
            plan.docs = {i: plan.docs[i] for i, h in zip(ids, held, strict=True) if h}

    def _changes(self, plan: _Plan, slot: Slot, report: DatasetReport) -> _Changes:
        """What ``slot`` needs to hold the plan's result, from its stored hashes."""
        comparison = compare(
            plan.index, self._stored_hashes(plan.dataset, slot, report)
        )
        return _Changes(slot, comparison.changed, comparison.vanished)

    def _apply(self, plan: _Plan, writes: list[_Changes]) -> None:
        """Sets the changed rows and deletes the vanished ids, in one pass over the
        result for every slot in ``writes``; the report counts every committed
        write, including those of a pass that fails later."""
        counts = Counts()
        try:
            self._write(plan, writes, counts)
        finally:
            plan.report.firestore_writes += counts.writes
            plan.report.firestore_deletes += counts.deletes

    def _write(self, plan: _Plan, writes: list[_Changes], counts: Counts) -> None:
        writers = [
            (
                changes,
                Writer(
                    self.fs,
                    store.row_collection(plan.dataset, changes.slot),
                    self.ramp,
                    self.settings.write_retry_deadline_s,
                    counts=counts,
                    on_commit=self._keep_lease,
                ),
            )
            for changes in writes
        ]
        wanted = Selection.union((c.changed for c in writes), len(plan.index))
        for doc_id, position, fields, size in self._changed_docs(plan, wanted):
            for changes, writer in writers:
                if changes.changed.holds(position):
                    writer.set(doc_id, fields, size=size)
        for changes, writer in writers:
            for doc_id in changes.vanished:
                writer.delete(doc_id)
            writer.flush()

    def _changed_docs(
        self, plan: _Plan, wanted: Selection
    ) -> Iterator[tuple[str, int, dict[str, Any], int]]:
        """(id, index position, stored fields, size) of each ``wanted`` row: from
        memory, or by reading the result again."""
        if plan.docs is not None:
            ids = list(plan.docs)
            positions = plan.index.positions(ids)
            held = wanted.holds_all(positions)
            # Buffered ids are unique: as many held as wanted means all are here.
            if int(held.sum()) == len(wanted):
                for doc_id, position, hold in zip(ids, positions, held, strict=True):
                    if hold:
                        encoded = plan.docs[doc_id]
                        fields = row_fields(encoded.data, encoded.row_hash)
                        yield doc_id, int(position), fields, encoded.size
                return
        assert plan.result is not None
        assert plan.codec is not None
        for page in source.pages(plan.result, self.settings, self.services.read_client):
            known = [
                (row, row_id)
                for row in page
                if (row_id := plan.codec.doc_id_of(row)) is not None
            ]
            positions = plan.index.positions([row_id for _, row_id in known])
            held = wanted.holds_all(positions)
            for (row, doc_id), position, hold in zip(
                known, positions, held, strict=True
            ):
                if not hold:
                    continue
                row_hash = plan.index.hash_at(int(position)).hex()
                fields = row_fields(plan.codec.values(row), row_hash)
                size = plan.large.get(doc_id, SMALL_DOCUMENT_BYTES)
                yield doc_id, int(position), fields, size

    def _mark_slots_unequal(self, name: str) -> None:
        """Clears slots_equal before the first write into the unserved slot."""
        from google.cloud.firestore_v1.field_path import FieldPath

        self.pointer_ref.update(
            {FieldPath("datasets", name, "slots_equal").to_api_repr(): False}
        )

    def _set_dry_status(self, report: DatasetReport) -> None:
        if self.request.dry_run:
            report.status = "dry_run"


def _repeated_by_rejects(index: RowIndex, rejected_ids: Sequence[str]) -> set[bytes]:
    """Digests of rejected rows' ids that another row of the result also has."""
    repeated: set[bytes] = set()
    seen: set[bytes] = set()
    for doc_id, position in zip(
        rejected_ids, index.positions(rejected_ids), strict=True
    ):
        key = digest(doc_id)
        if position >= 0 or key in seen:
            repeated.add(key)
        seen.add(key)
    return repeated
