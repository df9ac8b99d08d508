"""The three local servers start on loopback, answer real clients, and stop cleanly."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from google.cloud import bigquery as bq
from google.cloud import firestore as fs

from perfcache import clients
from perfcache.config import Settings
from tools import stack as local_stack


def test_firestore_answers_a_client_write_and_read(firestore: fs.Client) -> None:
    firestore.collection("probe").document("one").set({"n": 2**63 - 1})

    assert firestore.collection("probe").document("one").get().to_dict() == {
        "n": 2**63 - 1
    }


def test_bigquery_answers_a_query(bigquery: bq.Client) -> None:
    rows = list(bigquery.query("SELECT 1 + 1 AS two").result())

    assert [dict(row) for row in rows] == [{"two": 2}]


def test_pubsub_publishes_and_delivers(settings: Settings) -> None:
    from google.cloud import pubsub_v1

    publisher = clients.publisher_client(settings)
    subscriber = pubsub_v1.SubscriberClient()
    topic = publisher.topic_path(settings.project, "stack-probe")
    subscription = subscriber.subscription_path(settings.project, "stack-probe-sub")
    publisher.create_topic(name=topic)
    subscriber.create_subscription(name=subscription, topic=topic)

    publisher.publish(topic, b"hello").result(timeout=30)
    response = subscriber.pull(subscription=subscription, max_messages=1, timeout=30)

    assert [m.message.data for m in response.received_messages] == [b"hello"]


def test_every_server_listens_on_loopback_only(stack: dict[str, str]) -> None:
    hosts = [
        stack["FIRESTORE_EMULATOR_HOST"],
        stack["PUBSUB_EMULATOR_HOST"],
        stack["BIGQUERY_EMULATOR_HOST"].removeprefix("http://"),
        stack["BIGQUERY_STORAGE_EMULATOR_HOST"],
    ]
    for host in hosts:
        address, port = host.rsplit(":", 1)
        assert address == "127.0.0.1"
        with socket.create_connection((address, int(port)), timeout=5):
            pass


def test_up_then_down_leaves_no_process(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FIRESTORE_EMULATOR_HEAP", "768m")

    local_stack.up(tmp_path, "probe-project")
    pids = [int(p.read_text()) for p in (tmp_path / "pids").glob("*.pid")]
    assert len(pids) == 3
    assert (tmp_path / "env").read_text().count("127.0.0.1") == 4
    firestore_pid = (tmp_path / "pids" / "firestore.pid").read_text().strip()
    argv = Path(f"/proc/{firestore_pid}/cmdline").read_bytes().split(b"\0")
    assert b"-Xmx768m" in argv

    stopped = local_stack.down(tmp_path)

    assert sorted(stopped) == ["bigquery", "firestore", "pubsub"]
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_a_missing_emulator_fails_with_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GCLOUD_SDK_ROOT", str(tmp_path / "no-sdk"))

    with pytest.raises(local_stack.StackError, match="google-cloud-cli-firestore"):
        local_stack.up(tmp_path / "state", "probe-project")


def test_a_malformed_emulator_heap_fails_before_starting_anything(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FIRESTORE_EMULATOR_HEAP", "12 GB")

    with pytest.raises(
        local_stack.StackError, match="such as 8g or 6144m; found '12 GB'"
    ):
        local_stack.up(tmp_path / "state", "probe-project")

    assert not (tmp_path / "state" / "pids").exists() or not list(
        (tmp_path / "state" / "pids").glob("*.pid")
    )
