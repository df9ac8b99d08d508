"""Local stand-in for Eventarc: runs the sync function for each sync-topic message.

In the cloud, Eventarc delivers each message on the sync topic to the sync function as
a CloudEvent and redelivers it when the function fails. Locally this worker pulls the
subscription `make up` creates and does the same, so the API's trigger route works end
to end on the local stack:

    python -m tools.worker     # with the settings of `make up` in the environment
"""

from __future__ import annotations

import base64
import contextlib
import os
import signal
import sys
import threading
from typing import Any

from cloudevents.http import CloudEvent

from perfcache import logs
from tools.stack import SYNC_SUBSCRIPTION, SYNC_TOPIC

log = logs.get_logger("perfcache.tools.worker")


def to_cloud_event(
    project: str, message_id: str, data: bytes, attributes: dict[str, str]
) -> CloudEvent:
    """A Pub/Sub message as the CloudEvent Eventarc hands to a function."""
    return CloudEvent(
        {
            "type": "google.cloud.pubsub.topic.v1.messagePublished",
            "source": f"//pubsub.googleapis.com/projects/{project}/topics/{SYNC_TOPIC}",
            "id": message_id,
        },
        {
            "message": {
                "data": base64.b64encode(data).decode(),
                "attributes": attributes,
                "messageId": message_id,
            },
            "subscription": f"projects/{project}/subscriptions/{SYNC_SUBSCRIPTION}",
        },
    )


def main() -> int:
    from google.cloud import pubsub_v1

    from functions.sync.main import sync

    project = os.environ.get("GOOGLE_CLOUD_PROJECT", "")
    if not os.environ.get("PUBSUB_EMULATOR_HOST") or not project:
        print(
            "error: the worker only runs against the local Pub/Sub emulator; "
            "load .local/env (make up) first.",
            file=sys.stderr,
        )
        return 2

    subscriber = pubsub_v1.SubscriberClient()
    subscription = subscriber.subscription_path(project, SYNC_SUBSCRIPTION)

    def deliver(message: Any) -> None:
        event = to_cloud_event(
            project, message.message_id, message.data, dict(message.attributes)
        )
        try:
            sync(event)
        except Exception:
            # The function asked for redelivery (a transient failure), as Eventarc
            # would honour by delivering the message again.
            log.exception("sync failed; the message will be delivered again")
            message.nack()
            return
        message.ack()

    # One message at a time: the function runs with max instances 1 in the cloud.
    flow = pubsub_v1.types.FlowControl(max_messages=1)
    future = subscriber.subscribe(subscription, deliver, flow_control=flow)
    log.info("delivering sync requests", extra={"subscription": subscription})

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
    future.cancel()
    with contextlib.suppress(Exception):
        future.result(timeout=30)  # let a delivery in progress finish
    subscriber.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
