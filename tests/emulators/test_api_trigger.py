"""The trigger end to end: API -> Pub/Sub emulator -> sync function -> API.

Also what a reader sees around a sync: before the first one (503), during one (a
single consistent generation per response, the trigger answering 409), and after it
(the new generation, old ETags no longer matching).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient

from perfcache import clients
from perfcache.api.app import Api
from perfcache.config import Settings
from perfcache.sync.engine import SyncRequest, run_sync
from tests.api_support import api_settings, bearer, flask_app
from tests.conftest import clear_firestore
from tools.worker import to_cloud_event

pytestmark = pytest.mark.emulators

NEW_SCORE = 4.875  # no sample score is this exact value


@pytest.fixture
def subscription(settings: Settings) -> Iterator[tuple[str, str]]:
    """A fresh topic and a pull subscription on it; yields (topic id, sub path)."""
    from google.cloud import pubsub_v1

    topic_id = f"sync-{uuid.uuid4().hex[:8]}"
    publisher = clients.publisher_client(settings)
    subscriber = pubsub_v1.SubscriberClient(credentials=clients._anonymous())
    topic = publisher.topic_path(settings.project, topic_id)
    path = subscriber.subscription_path(settings.project, f"{topic_id}-pull")
    publisher.create_topic(name=topic)
    subscriber.create_subscription(name=path, topic=topic)
    try:
        yield topic_id, path
    finally:
        subscriber.delete_subscription(subscription=path)
        publisher.delete_topic(topic=topic)
        subscriber.close()


def _teacher_url(teacher_id: str) -> str:
    return f"/api/teacher-data?teacher_id={teacher_id}&page_size=100"


def test_trigger_publishes_and_the_sync_function_serves_a_new_generation(
    stack: dict[str, str],
    fresh_warehouse: tuple[Settings, str],
    bigquery: Any,
    subscription: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    warehouse_settings, dataset = fresh_warehouse
    topic_id, subscription_path = subscription
    clear_firestore(stack)
    settings = api_settings(warehouse_settings, sync_topic=topic_id)
    client = flask_app(Api(settings)).test_client()
    admin = bearer("admin")

    # 1. Nothing synced yet: a JSON 503 that says what to do, never a 500.
    empty = client.get("/api/teacher-data", headers=admin)
    assert empty.status_code == 503
    assert empty.get_json()["error"]["code"] == "not_synced"

    # 2. A first sync, and a baseline read of one teacher.
    first = run_sync(warehouse_settings, SyncRequest(force=True))
    assert first.status == "succeeded", first.error
    teacher_id = "T-00007"
    before = client.get(_teacher_url(teacher_id), headers=admin)
    old_generation = before.get_json()["meta"]["generation"]
    assert {r["observation_score"] for r in before.get_json()["data"]} != {NEW_SCORE}

    # 3. The warehouse changes; an admin triggers a sync through the API.
    from google.cloud.bigquery import QueryJobConfig, ScalarQueryParameter

    update = QueryJobConfig(
        query_parameters=[
            ScalarQueryParameter("score", "FLOAT64", NEW_SCORE),
            ScalarQueryParameter("teacher", "STRING", teacher_id),
        ]
    )
    # The table is the test's own dataset; the values go in as parameters.
    sql = "UPDATE `{table}` SET observation_score = @score WHERE teacher_id = @teacher"
    sql = sql.format(table=f"{dataset}.weekly_observations")
    bigquery.query(sql, job_config=update).result()
    triggered = client.post(
        "/api/data-sync/trigger",
        json={"data_type": "teacher_data", "force": True},
        headers=admin,
    )
    assert triggered.status_code == 202, triggered.get_json()
    message_id = triggered.get_json()["data"]["message_id"]

    # 4. The message is on the topic, as the sync function will receive it.
    message = _pull_one(warehouse_settings, subscription_path)
    assert message.message_id == message_id
    assert json.loads(message.data) == {"data_type": "teacher_data", "force": True}
    assert dict(message.attributes) == {"trigger": "api"}

    # 5. The sync function consumes it while a reader polls the API.
    monkeypatch.setenv("PERFCACHE_WAREHOUSE", dataset)
    seen = _run_sync_function_while_polling(
        warehouse_settings, message, teacher_id, client
    )

    # 6. Each response during the sync held one generation, whole.
    generations = {generation for generation, _ in seen["reads"]}
    assert generations <= {old_generation, old_generation + 1}
    for generation, scores in seen["reads"]:
        if generation == old_generation:
            assert NEW_SCORE not in scores
        else:
            assert scores == {NEW_SCORE}
    assert 409 in seen["trigger_statuses"], "the trigger never saw the running sync"

    # 7. After it: the new generation, and the old ETag no longer answers 304.
    after = client.get(
        _teacher_url(teacher_id),
        headers={**admin, "If-None-Match": before.headers["ETag"]},
    )
    assert after.status_code == 200
    assert after.get_json()["meta"]["generation"] == old_generation + 1
    assert {r["observation_score"] for r in after.get_json()["data"]} == {NEW_SCORE}


def _pull_one(settings: Settings, subscription_path: str) -> Any:
    from google.cloud import pubsub_v1

    subscriber = pubsub_v1.SubscriberClient(credentials=clients._anonymous())
    try:
        for _ in range(20):
            response = subscriber.pull(
                subscription=subscription_path, max_messages=1, timeout=10
            )
            if response.received_messages:
                received = response.received_messages[0]
                subscriber.acknowledge(
                    subscription=subscription_path, ack_ids=[received.ack_id]
                )
                return received.message
    finally:
        subscriber.close()
    raise AssertionError(f"no message arrived on {subscription_path}")


def _run_sync_function_while_polling(
    settings: Settings, message: Any, teacher_id: str, client: FlaskClient
) -> dict[str, list[Any]]:
    """Calls the sync CloudEvent function; a thread reads the API meanwhile."""
    from functions.sync import main as sync_function

    sync_function._settings.cache_clear()
    sync_function._services.cache_clear()
    event = to_cloud_event(
        settings.project, message.message_id, message.data, dict(message.attributes)
    )
    # No response cache and no pointer reuse: every poll reads Firestore.
    poller = flask_app(
        Api(api_settings(settings, api_cache_entries=0, api_pointer_ttl_s=0))
    ).test_client()
    seen: dict[str, list[Any]] = {"reads": [], "trigger_statuses": []}
    done = threading.Event()

    def poll() -> None:
        admin = bearer("admin")
        while not done.is_set():
            body = poller.get(_teacher_url(teacher_id), headers=admin).get_json()
            scores = {r["observation_score"] for r in body["data"]}
            seen["reads"].append((body["meta"]["generation"], scores))
            status = poller.post(
                "/api/data-sync/trigger", json={"data_type": "all"}, headers=admin
            )
            seen["trigger_statuses"].append(status.status_code)
            done.wait(0.05)

    reader = threading.Thread(target=poll, daemon=True)
    reader.start()
    try:
        sync_function.sync(event)
    finally:
        done.set()
        reader.join(timeout=30)
        sync_function._settings.cache_clear()
        sync_function._services.cache_clear()
    assert seen["reads"], "the reader never ran during the sync"
    return seen
