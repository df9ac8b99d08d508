"""Helpers the sync tests share: fast settings, a query-counting client, what readers
see, and the sync CLI as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from google.cloud import firestore as fs

from perfcache import store
from perfcache.config import Settings
from perfcache.datasets import DATASETS, Dataset
from perfcache.store import Pointer
from perfcache.sync import Services
from perfcache.sync.rows import checksum_of

ROOT = Path(__file__).resolve().parents[1]

# What the tests change from the defaults, and why: no wait before levelling, no
# freshness skip, and a write rate the local server absorbs without pacing the test.
FAST = {
    "PERFCACHE_LEVEL_GRACE_S": "0",
    "PERFCACHE_FRESHNESS_WINDOW_S": "0",
    "PERFCACHE_FRESHNESS_SLACK_S": "0",
    "PERFCACHE_WRITE_RAMP_START_OPS": "1000000",
}


def fast(settings: Settings, **changes: Any) -> Settings:
    """``settings`` with the FAST values, then ``changes``."""
    values: dict[str, Any] = {
        "level_grace_s": 0,
        "freshness_window_s": 0,
        "freshness_slack_s": 0,
        "write_ramp_start_ops": 1_000_000,
    }
    return replace(settings, **{**values, **changes})


class CountingBigQuery:
    """The real BigQuery client, recording the SQL of every query it is asked for."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.queries: list[str] = []
        self.configs: list[Any] = []

    def query(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        self.queries.append(sql)
        self.configs.append(kwargs.get("job_config"))
        return self._client.query(sql, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def services(firestore: fs.Client, bigquery: Any, read_client: Any) -> Services:
    return Services(
        firestore=firestore,
        bigquery=CountingBigQuery(bigquery),
        read_client=read_client,
    )


def queries_of(services: Services) -> list[str]:
    counting: CountingBigQuery = services.bigquery
    return counting.queries


@dataclass(frozen=True)
class Served:
    """What a reader sees of one dataset, read in one snapshot with the pointer."""

    generation: int
    slot: str
    row_count: int
    checksum: str
    documents: int
    actual_checksum: str

    @property
    def complete(self) -> bool:
        return (
            self.documents == self.row_count and self.actual_checksum == self.checksum
        )


def served(client: fs.Client) -> tuple[int, dict[str, Served]]:
    """The pointer generation and every dataset as served, in one read-only snapshot.

    Reads the way the API does: the pointer and the rows of the slot it names at the
    same moment, so a switch can never fall between the two reads.
    """
    transaction = client.transaction(read_only=True)

    @fs.transactional
    def read(transaction: Any) -> tuple[int, dict[str, Served]]:
        reference = client.collection(store.STATE_COLLECTION).document(
            store.POINTER_DOC
        )
        snapshot = reference.get(transaction=transaction)
        pointer = Pointer.from_firestore(
            snapshot.to_dict() if snapshot.exists else None
        )
        seen = {}
        for name, state in pointer.datasets.items():
            dataset = next(d for d in DATASETS if d.name == name)
            hashes = slot_hashes(client, dataset, state.slot, transaction)
            seen[name] = Served(
                generation=state.generation,
                slot=state.slot,
                row_count=state.row_count,
                checksum=state.checksum,
                documents=len(hashes),
                actual_checksum=checksum_of(hashes),
            )
        return pointer.generation, seen

    result: tuple[int, dict[str, Served]] = read(transaction)
    return result


def slot_hashes(
    client: fs.Client, dataset: Dataset, slot: str, transaction: Any = None
) -> dict[str, str]:
    """doc id -> row hash of every document in one slot of ``dataset``."""
    collection = client.collection(f"{dataset.collection}_{slot}")
    snapshots = collection.select([store.HASH_FIELD]).stream(transaction=transaction)
    return {s.id: str((s.to_dict() or {}).get(store.HASH_FIELD)) for s in snapshots}


def pointer(client: fs.Client) -> Pointer:
    snapshot = (
        client.collection(store.STATE_COLLECTION).document(store.POINTER_DOC).get()
    )
    return Pointer.from_firestore(snapshot.to_dict() if snapshot.exists else None)


def query_count(bigquery: Any, dataset: Dataset, warehouse: str) -> int:
    """Rows of the dataset's query, counted by BigQuery itself."""
    sql = f"SELECT COUNT(*) FROM ({dataset.sql(warehouse)})"  # noqa: S608 (our SQL)
    return int(next(iter(bigquery.query(sql).result()))[0])


def cli_env(warehouse: str, **extra: str) -> dict[str, str]:
    """The environment of a sync CLI subprocess on the session's servers."""
    return {
        **os.environ,
        **FAST,
        "PYTHONPATH": str(ROOT),
        "PERFCACHE_WAREHOUSE": warehouse,
        **extra,
    }


def start_cli(
    env: dict[str, str], *args: str, stderr: Any = None
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "perfcache.sync", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=stderr if stderr is not None else subprocess.DEVNULL,
        text=True,
    )


def run_cli(env: dict[str, str], *args: str) -> tuple[int, dict[str, Any]]:
    """Runs the CLI to the end; its exit code and the one JSON object it printed."""
    process = start_cli(env, *args)
    out, _ = process.communicate(timeout=180)
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one JSON line on stdout; found {out!r}"
    return process.returncode, json.loads(lines[0])


def refused_port() -> tuple[Any, int]:
    """A loopback port of ours that refuses connections: bound, never listening.

    Keep the returned socket open for as long as the port must stay ours.
    """
    import socket

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock, int(sock.getsockname()[1])
