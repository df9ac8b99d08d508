"""Readers during syncs, syncs killed mid-run, and syncs started together.

Everything here runs the real CLI (``python -m perfcache.sync``) in subprocesses, as
`make sync` and the function do, against the session's servers. Two warehouses whose
results differ in about half the rows (the shared sample and a private copy with
changed scores) alternate, so every run has real writes to interrupt.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from google.cloud import firestore as fs

from perfcache import datasets
from perfcache.config import Settings
from tests import sync_support as support

KILLS = 20  # runs killed before they finished
SEED = 20261204  # fixed: a failure replays with the same kill delays


@pytest.fixture
def changed_warehouse(fresh_warehouse: tuple[Settings, str], bigquery: Any) -> str:
    """A copy of the sample whose even teachers score 0.25 higher."""
    warehouse = fresh_warehouse[1]
    bigquery.query(
        f"UPDATE `{warehouse}.weekly_observations` "  # noqa: S608 (our constants)
        "SET observation_score = observation_score + 0.25 "
        "WHERE MOD(CAST(SUBSTR(teacher_id, 3) AS INT64), 2) = 0"
    ).result()
    return warehouse


@pytest.fixture
def reader(stack: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.sync_reader"],
        cwd=support.ROOT,
        env=support.cli_env(""),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()


def test_syncs_killed_at_random_points_never_show_a_reader_a_partial_generation(
    warehouse: str,
    changed_warehouse: str,
    firestore: fs.Client,
    bigquery: Any,
    reader: subprocess.Popen[str],
) -> None:
    """SIGKILL lands at a random point of a run's progress: after a random number of
    its log lines (one per page, commit, dataset and switch) plus a random pause, so
    kills fall while querying, writing the spare slot, switching and levelling. A
    reader process polls all along, and the served data is checked after each kill.
    """
    # A lease lasts 1 s, so the next subprocess (over 1 s to start) takes over the
    # one a killed run left; live runs renew theirs between steps.
    envs = [
        support.cli_env(source, PERFCACHE_LEASE_TTL_S="1")
        for source in (warehouse, changed_warehouse)
    ]
    code, first = support.run_cli(envs[0], "--force")
    assert (code, first["status"]) == (0, "succeeded")
    lines_per_run = _log_lines(envs[1], "--force")

    rng = random.Random(SEED)
    phases: Counter[str] = Counter()
    attempts = 0
    while sum(n for phase, n in phases.items() if phase != "finished") < KILLS:
        attempts += 1
        assert attempts <= 2 * KILLS, f"too few kills landed mid-run: {phases}"
        # The last lines of a run come within milliseconds of its end: aim before.
        after = rng.randint(1, lines_per_run - 3)
        phase = _kill_after(envs[attempts % 2], after, rng.uniform(0, 0.1))
        phases[phase] += 1
        _, seen = support.served(firestore)
        broken = {name: state for name, state in seen.items() if not state.complete}
        assert broken == {}, f"after kill {attempts} while {phase}: {broken}"

    print(f"kill points by phase: {dict(phases)}")
    assert len(set(phases) - {"finished"}) >= 3, phases

    # The next run converges: every row once, both slots level, nothing left to do.
    time.sleep(1.1)
    code, converged = support.run_cli(envs[0], "--force")
    assert (code, converged["status"]) == (0, "succeeded"), converged
    _, seen = support.served(firestore)
    current = support.pointer(firestore)
    for dataset in datasets.DATASETS:
        state = current.datasets[dataset.name]
        expected = support.query_count(bigquery, dataset, warehouse)
        assert seen[dataset.name].complete
        assert seen[dataset.name].documents == expected == state.row_count
        assert state.slots_equal
        assert support.slot_hashes(firestore, dataset, "a") == support.slot_hashes(
            firestore, dataset, "b"
        )
    code, again = support.run_cli(envs[0], "--force")
    assert code == 0
    assert {n: d["firestore_writes"] for n, d in again["datasets"].items()} == {
        d.name: 0 for d in datasets.DATASETS
    }

    # The reader, polling in its own process the whole time, never saw a torn read.
    reader.terminate()
    out, _ = reader.communicate(timeout=60)
    polls = [json.loads(line) for line in out.splitlines() if line.endswith("}")]
    torn = [p for p in polls if not all(ok for _, ok in p["datasets"].values())]
    assert torn == [], f"{len(torn)} of {len(polls)} polls saw a partial generation"
    assert len({p["generation"] for p in polls}) >= 5, "the reader saw no switches"


def test_two_syncs_started_together_one_runs_one_reports_already_running(
    warehouse: str, firestore: fs.Client
) -> None:
    env = support.cli_env(warehouse)
    processes = [support.start_cli(env, "--force") for _ in range(2)]
    results = []
    for process in processes:
        out, _ = process.communicate(timeout=180)
        results.append((process.returncode, json.loads(out)))

    assert sorted(r["status"] for _, r in results) == ["already_running", "succeeded"]
    assert [code for code, _ in results] == [0, 0]
    winner = next(r for _, r in results if r["status"] == "succeeded")
    assert support.pointer(firestore).datasets["school_data"].run_id == winner["run_id"]


def test_the_cli_prints_one_json_summary_and_exits_non_zero_on_failure(
    settings: Settings, warehouse: str, firestore: fs.Client
) -> None:
    code, ok = support.run_cli(
        support.cli_env(warehouse), "--data-type", "school_data", "--dry-run"
    )
    missing = replace(settings, warehouse=f"{settings.project}.no_such_dataset")
    failed_code, failed = support.run_cli(
        support.cli_env(missing.warehouse), "--data-type", "school_data"
    )

    assert code == 0
    assert set(ok) >= {"run_id", "status", "trigger", "started_at", "finished_at"}
    assert ok["trigger"] == "cli"
    assert set(ok["datasets"]["school_data"]) == {
        "status", "reason", "rows_read", "inserted", "updated", "deleted",
        "unchanged", "rejected", "firestore_reads", "firestore_writes",
        "firestore_deletes", "bytes_processed", "duration_s",
    }  # fmt: skip
    assert failed_code == 1
    assert failed["status"] == "failed"
    assert "NotFound" in failed["datasets"]["school_data"]["reason"]


def _log_lines(env: dict[str, str], *args: str) -> int:
    """How many log lines a whole run writes (to spread kill points over them)."""
    process = support.start_cli(env, *args, stderr=subprocess.PIPE)
    _, err = process.communicate(timeout=180)
    assert process.returncode == 0, err[-2000:]
    return len(err.splitlines())


def _kill_after(env: dict[str, str], lines: int, pause_s: float) -> str:
    """Starts a forced sync, SIGKILLs it after ``lines`` log lines and a pause, and
    says where it was."""
    process = support.start_cli(env, "--force", stderr=subprocess.PIPE)
    assert process.stderr is not None
    seen: list[str] = []
    for line in process.stderr:
        seen.append(line)
        if len(seen) >= lines:
            time.sleep(pause_s)
            break
    process.kill()
    _, rest = process.communicate()
    return _phase([*seen, *rest.splitlines()])


def _phase(log_lines: list[str]) -> str:
    """Where a sync was when it stopped, from the log lines it wrote."""
    messages = []
    for line in log_lines:
        try:
            messages.append(json.loads(line).get("message", ""))
        except json.JSONDecodeError:
            continue  # a line cut short by the kill
    if "sync run finished" in messages:
        return "finished"
    if "pointer switched" in messages:
        return "levelling"
    if "commit written" in messages:
        return "writing"
    if messages:
        return "querying"
    return "starting"
