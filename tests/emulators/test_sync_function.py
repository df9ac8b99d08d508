"""The deployed entry: functions-framework serving ``sync`` a Pub/Sub CloudEvent.

Events are posted the way Eventarc delivers a Pub/Sub message to a function (binary
CloudEvent headers, the message under ``data.message``). A 2xx answer acknowledges the
message; any other makes Pub/Sub deliver it again.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from typing import Any

import functions_framework
import pytest
from google.cloud import firestore as fs

from perfcache import store
from tests import sync_support as support

SOURCE = support.ROOT / "functions" / "sync" / "main.py"
TOPIC = "//pubsub.googleapis.com/projects/test-perfcache/topics/perfcache-sync"


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def function_env(
    monkeypatch: pytest.MonkeyPatch, warehouse: str, firestore: fs.Client
) -> None:
    for name, value in support.FAST.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PERFCACHE_WAREHOUSE", warehouse)


@pytest.fixture
def app(function_env: None) -> Any:
    """A fresh app per test: the module (and its cached clients) is loaded anew."""
    create_app: Any = functions_framework.create_app  # untyped in the package
    return create_app(
        target="sync", source=str(SOURCE), signature_type="cloudevent"
    ).test_client()


@pytest.fixture
def records() -> Iterator[_Records]:
    handler = _Records()
    logger = logging.getLogger("perfcache")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def deliver(app: Any, data: bytes | None, message_id: str) -> int:
    """Posts one Pub/Sub message as a CloudEvent; returns the HTTP status."""
    message: dict[str, Any] = {
        "messageId": message_id,
        "publishTime": "2026-12-04T10:00:00.000Z",
        "attributes": {},
    }
    if data is not None:
        message["data"] = base64.b64encode(data).decode("ascii")
    response = app.post(
        "/",
        headers={
            "ce-id": message_id,
            "ce-specversion": "1.0",
            "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
            "ce-source": TOPIC,
            "Content-Type": "application/json",
        },
        data=json.dumps(
            {
                "message": message,
                "subscription": "projects/test-perfcache/subscriptions/sync-push",
            }
        ),
    )
    return int(response.status_code)


def runs(firestore: fs.Client) -> list[dict[str, Any]]:
    return [
        snapshot.to_dict() or {}
        for snapshot in firestore.collection(store.RUNS_COLLECTION).stream()
    ]


def test_a_message_runs_a_sync_and_its_redelivery_does_not(
    app: Any, firestore: fs.Client
) -> None:
    body = json.dumps({"data_type": "school_data", "force": True}).encode()

    first = deliver(app, body, "1001")
    again = deliver(app, body, "1001")

    assert (first, again) == (200, 200)
    by_status = {run["status"]: run for run in runs(firestore)}
    assert set(by_status) == {"succeeded", "duplicate"}
    assert by_status["succeeded"]["trigger"] == "pubsub"
    assert by_status["succeeded"]["message_id"] == "1001"
    assert list(by_status["succeeded"]["datasets"]) == ["school_data"]
    assert support.pointer(firestore).generation == 1


def test_an_empty_message_means_all_datasets_not_forced(
    app: Any, firestore: fs.Client
) -> None:
    assert deliver(app, None, "1002") == 200

    (run,) = runs(firestore)
    assert (run["status"], run["data_type"], run["force"]) == (
        "succeeded",
        "all",
        False,
    )
    assert len(run["datasets"]) == 4


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"{not json", "could not read"),
        (b'"all"', "JSON object"),
        (b'{"data_type": "nope"}', "expected data_type to be one of"),
        (b'{"force": "yes"}', "booleans"),
    ],
)
def test_an_unreadable_message_is_logged_as_error_and_acknowledged(
    app: Any, firestore: fs.Client, records: _Records, data: bytes, expected: str
) -> None:
    status = deliver(app, data, "1003")

    assert status == 200
    assert runs(firestore) == []
    errors = [r for r in records.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert getattr(errors[0], "message_id", None) == "1003"
    assert expected in getattr(errors[0], "error", "")


def test_a_transient_failure_asks_pubsub_to_redeliver(
    app: Any, monkeypatch: pytest.MonkeyPatch, firestore: fs.Client
) -> None:
    sock, port = support.refused_port()
    with sock:
        monkeypatch.setenv("BIGQUERY_EMULATOR_HOST", f"http://127.0.0.1:{port}")
        monkeypatch.setenv("PERFCACHE_BIGQUERY_RETRY_DEADLINE_S", "1")
        status = deliver(app, b'{"data_type": "school_data"}', "1004")

    assert status == 500
    (run,) = runs(firestore)
    assert (run["status"], run["retryable"]) == ("failed", True)


def test_a_fatal_failure_is_acknowledged_without_redelivery(
    app: Any, monkeypatch: pytest.MonkeyPatch, firestore: fs.Client
) -> None:
    monkeypatch.setenv("PERFCACHE_WAREHOUSE", "test-perfcache.no_such_dataset")

    status = deliver(app, b'{"data_type": "school_data"}', "1005")

    assert status == 200
    (run,) = runs(firestore)
    assert (run["status"], run["retryable"]) == ("failed", False)
    assert "NotFound" in run["datasets"]["school_data"]["reason"]
