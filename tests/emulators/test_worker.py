"""The local worker delivers sync-topic messages to the sync function, as Eventarc does.

This is what makes the API's trigger route work on `make run`'s stack.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

from google.cloud import firestore as fs
from google.cloud.firestore_v1.base_query import FieldFilter

from perfcache import clients, store
from perfcache.config import Settings
from tools.stack import REPO, SYNC_TOPIC


def test_a_published_request_runs_one_sync(
    stack: dict[str, str], settings: Settings, firestore: fs.Client, warehouse: str
) -> None:
    env = {**os.environ, **stack, "PERFCACHE_WAREHOUSE": warehouse}
    worker = subprocess.Popen(
        [sys.executable, "-m", "tools.worker"],
        env={**env, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        publisher = clients.publisher_client(settings)
        topic = publisher.topic_path(settings.project, SYNC_TOPIC)
        body = {"data_type": "school_data", "force": True}
        message_id = publisher.publish(
            topic, json.dumps(body).encode(), trigger="api"
        ).result(timeout=30)

        run = _wait_for_run(firestore, message_id, timeout_s=120)
    finally:
        worker.terminate()
        worker.wait(timeout=30)

    assert run["status"] == "succeeded"
    assert run["trigger"] == "api"
    assert list(run["datasets"]) == ["school_data"]
    assert run["datasets"]["school_data"]["rows_read"] == 20


def _wait_for_run(
    firestore: fs.Client, message_id: str, timeout_s: float
) -> dict[str, Any]:
    runs = firestore.collection(store.RUNS_COLLECTION)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        matching = runs.where(filter=FieldFilter("message_id", "==", message_id))
        for doc in matching.stream():
            run = doc.to_dict() or {}
            if run.get("status") not in {None, "running"}:
                return run
        time.sleep(0.5)
    raise AssertionError(f"no finished run for message {message_id} in {timeout_s} s")
