"""Google Cloud clients built one way, pointed at the local servers when configured.

Against the local stack the clients use anonymous credentials and explicit endpoints.
The BigQuery Storage Read client is only ever built for an explicit endpoint or for
Google's own when ``use_storage_api`` is on and no local server is configured; callers
pass it to the BigQuery client so that ``to_arrow`` never builds one of its own.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from perfcache.config import Settings

if TYPE_CHECKING:
    from google.cloud import bigquery, bigquery_storage, firestore
    from google.cloud.pubsub_v1 import PublisherClient


def _anonymous() -> Any:
    from google.auth.credentials import AnonymousCredentials

    return AnonymousCredentials()  # type: ignore[no-untyped-call]


def bigquery_client(settings: Settings) -> bigquery.Client:
    from google.cloud import bigquery

    if settings.bigquery_endpoint:
        return bigquery.Client(
            project=settings.project,
            credentials=_anonymous(),
            client_options={"api_endpoint": settings.bigquery_endpoint},
            location=settings.bigquery_location,
        )
    return bigquery.Client(
        project=settings.project, location=settings.bigquery_location
    )


def bigquery_read_client(
    settings: Settings,
) -> bigquery_storage.BigQueryReadClient | None:
    """The Storage Read client for ``settings``, or None when it must not be used."""
    if not settings.use_storage_api:
        return None
    from google.cloud import bigquery_storage

    if settings.bigquery_storage_endpoint:
        import grpc
        from google.cloud.bigquery_storage_v1.services.big_query_read import (
            transports,
        )

        # The local server's messages pass the 4 MiB gRPC default; lift both limits.
        channel = grpc.insecure_channel(
            settings.bigquery_storage_endpoint,
            options=[
                ("grpc.max_send_message_length", -1),
                ("grpc.max_receive_message_length", -1),
            ],
        )
        transport = transports.BigQueryReadGrpcTransport(channel=channel)
        return bigquery_storage.BigQueryReadClient(  # type: ignore[no-untyped-call]
            transport=transport
        )
    if settings.bigquery_endpoint:
        # A local REST server without a gRPC port: never fall through to Google's.
        return None
    return bigquery_storage.BigQueryReadClient()  # type: ignore[no-untyped-call]


def firestore_client(settings: Settings) -> firestore.Client:
    from google.cloud import firestore

    if os.environ.get("FIRESTORE_EMULATOR_HOST"):
        return firestore.Client(project=settings.project, credentials=_anonymous())
    return firestore.Client(project=settings.project)


def publisher_client(settings: Settings) -> PublisherClient:
    from google.cloud.pubsub_v1 import PublisherClient

    if os.environ.get("PUBSUB_EMULATOR_HOST"):
        return PublisherClient(credentials=_anonymous())
    return PublisherClient()
