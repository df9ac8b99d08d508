"""The sync function: a Pub/Sub CloudEvent starts one sync run.

Message data is JSON ``{"data_type": "all" | "<dataset>", "force": bool, "dry_run":
bool}``; an empty message or a missing field means all datasets, not forced, not dry.

Acknowledge or redeliver: returning normally acknowledges the message; raising makes
Pub/Sub deliver it again. The handler raises only when the run failed for a transient
cause (a service unavailable, a lease lost), never for a message it cannot read, an
unknown dataset or a fatal failure such as bad SQL: redelivery cannot fix those. A
message whose run already finished is acknowledged without syncing again (the run log
records each run's message id).
"""

from __future__ import annotations

import base64
import binascii
import json
from functools import cache
from typing import Any

import functions_framework
from cloudevents.http import CloudEvent

from perfcache import logs
from perfcache.config import Settings
from perfcache.errors import TransientError
from perfcache.sync.engine import (
    Services,
    SyncRequest,
    UnknownDataTypeError,
    resolve,
    run_sync,
)
from perfcache.sync.runlog import Trigger

log = logs.get_logger("perfcache.functions.sync")


class BadMessageError(ValueError):
    """The message data is not the JSON object the sync expects."""


@cache
def _settings() -> Settings:
    return Settings.from_env()


@cache
def _services() -> Services:
    # Built once per instance: warm invocations reuse the clients' connections.
    return Services.from_settings(_settings())


@functions_framework.cloud_event
def sync(event: CloudEvent) -> None:
    """Runs the sync a Pub/Sub message asks for (see the module docstring)."""
    message = (event.data or {}).get("message", {}) if event.data else {}
    message_id = str(message.get("messageId") or message.get("message_id") or "")
    message_id = message_id or str(event["id"])
    with logs.bind_labels(message_id=message_id):
        try:
            request = parse_request(message, message_id)
            resolve(request.data_type)
        except (BadMessageError, UnknownDataTypeError) as error:
            log.error(  # noqa: TRY400 (the reason is the message; no trace needed)
                "sync message rejected; acknowledged without a run",
                extra={"message_id": message_id, "error": str(error)},
            )
            return

        report = run_sync(_settings(), request, _services())

    if report.status == "failed" and report.retryable:
        raise TransientError(
            f"sync run {report.run_id} failed for a transient cause "
            f"({report.error}); Pub/Sub will deliver message {message_id} again"
        )


def parse_request(message: dict[str, Any], message_id: str) -> SyncRequest:
    """The SyncRequest a Pub/Sub message carries; BadMessageError when unreadable."""
    raw = message.get("data") or ""
    try:
        text = base64.b64decode(raw, validate=True).decode("utf-8") if raw else ""
        body = json.loads(text) if text.strip() else {}
    except (binascii.Error, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BadMessageError(
            "expected message data to be base64 of a JSON object like "
            '{"data_type": "all", "force": false, "dry_run": false}; could not read '
            f"it: {error}"
        ) from error
    if not isinstance(body, dict):
        raise BadMessageError(
            f"expected a JSON object in the message data; found {type(body).__name__}"
        )
    data_type = body.get("data_type") or "all"
    force, dry_run = body.get("force") or False, body.get("dry_run") or False
    well_typed = isinstance(data_type, str) and isinstance(force, bool)
    if not well_typed or not isinstance(dry_run, bool):
        raise BadMessageError(
            "expected data_type to be a string and force / dry_run booleans; found "
            f"{body!r:.200}"
        )
    # The API's trigger marks its messages; the scheduler's arrive unmarked.
    attributes = message.get("attributes") or {}
    trigger: Trigger = "api" if attributes.get("trigger") == "api" else "pubsub"
    return SyncRequest(
        data_type=data_type,
        force=force,
        dry_run=dry_run,
        trigger=trigger,
        message_id=message_id,
    )
