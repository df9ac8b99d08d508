"""Test helpers for the API: cache contents, signing keys, tokens and a client.

``write_served`` fills Firestore the way perfcache/store.py documents it (row docs in
one slot, then the pointer) from the real dataset SQL run on the sample warehouse. It
is a fixture, not a sync: tests of the sync itself live with the sync.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import flask
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from perfcache import docids, store, values
from perfcache.api.app import Api
from perfcache.config import Settings
from perfcache.datasets import DATASETS
from perfcache.store import DatasetState, Pointer, Slot

if TYPE_CHECKING:
    from google.cloud import bigquery as bq
    from google.cloud import firestore as fs

SECRET = "tests-only-hs256-secret-of-at-least-32-bytes"
AUDIENCE = "perfcache-api"
ISSUER = "perfcache-dev"
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def api_settings(base: Settings, **changes: Any) -> Settings:
    """``base`` (the session's servers) with the test secret and short TTLs."""
    fields = {
        **{name: getattr(base, name) for name in base.__dataclass_fields__},
        "jwt_secret": SECRET,
        "jwt_audience": AUDIENCE,
        "jwt_issuer": ISSUER,
        "api_pointer_ttl_s": 0.0,
        "cors_origins": ("https://dashboard.example",),
    }
    fields.update(changes)
    return Settings(**fields)


def flask_app(api: Api) -> flask.Flask:
    """A WSGI app routing every path and method to ``api``, as functions-framework."""
    app = flask.Flask("api-under-test")

    def view(path: str = "") -> flask.Response:
        return api(flask.request)

    app.add_url_rule("/", "root", view, methods=ALL_METHODS)
    app.add_url_rule("/<path:path>", "any", view, methods=ALL_METHODS)
    return app


def claims(role: str | None, **extra: Any) -> dict[str, Any]:
    """Valid claims for ``role``; an ``extra`` value of None removes that claim."""
    now = int(time.time())
    base: dict[str, Any] = {
        "sub": f"user-{role}",
        "role": role,
        "aud": AUDIENCE,
        "iss": ISSUER,
        "iat": now,
        "exp": now + 600,
    }
    base.update(extra)
    return {name: value for name, value in base.items() if value is not None}


def token(role: str, **extra: Any) -> str:
    return jwt.encode(claims(role, **extra), SECRET, algorithm="HS256")


def bearer(role: str, **extra: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(role, **extra)}"}


# --- Firestore contents ------------------------------------------------------------


def query_sample(bigquery: bq.Client, warehouse: str) -> dict[str, Any]:
    """Each dataset's schema and rows from its SQL on the sample warehouse."""
    results: dict[str, Any] = {}
    for dataset in DATASETS:
        result = bigquery.query(dataset.sql(warehouse)).result()
        results[dataset.name] = (list(result.schema), [dict(row) for row in result])
    return results


def write_served(
    firestore: fs.Client,
    sample: Mapping[str, Any],
    generation: int = 1,
    slot: Slot = "a",
    synced_at: datetime | None = None,
    change: Any = None,
) -> Pointer:
    """Rows into ``slot`` for every dataset, then the pointer naming that slot.

    ``change(name, row)`` may return a changed copy of a row (a new generation).
    """
    synced_at = synced_at or datetime.now(UTC)
    states: dict[str, DatasetState] = {}
    for dataset in DATASETS:
        schema, rows = sample[dataset.name]
        collection = firestore.collection(store.row_collection(dataset, slot))
        _delete_all(firestore, collection)
        encode = values.row_encoder(schema)
        batch = firestore.batch()
        for count, row in enumerate(rows, start=1):
            if change is not None:
                row = change(dataset.name, row)
            doc_id = docids.doc_id([row[k] for k in dataset.key])
            batch.set(collection.document(doc_id), {store.DATA_FIELD: encode(row)})
            if count % 450 == 0:
                batch.commit()
                batch = firestore.batch()
        batch.commit()
        states[dataset.name] = DatasetState(
            slot=slot,
            generation=generation,
            synced_at=synced_at,
            row_count=len(rows),
            checksum=f"fixture-{generation}",
            source_key="",
            run_id=f"run-{generation}",
            columns=values.column_map(schema),
        )
    pointer = Pointer(generation=generation, switched_at=synced_at, datasets=states)
    ref = firestore.collection(store.STATE_COLLECTION).document(store.POINTER_DOC)
    ref.set(pointer.to_firestore())
    return pointer


def _delete_all(firestore: fs.Client, collection: Any) -> None:
    batch = firestore.batch()
    for count, doc in enumerate(collection.list_documents(), start=1):
        batch.delete(doc)
        if count % 450 == 0:
            batch.commit()
            batch = firestore.batch()
    batch.commit()


# --- keys and a JWKS server --------------------------------------------------------


class Keys:
    """An RSA and an EC key pair, and the JWKS publishing their public halves."""

    def __init__(self) -> None:
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())

    def jwks(self) -> dict[str, Any]:
        keys = []
        for kid, key, alg in (("rsa-1", self.rsa, "RS256"), ("ec-1", self.ec, "ES256")):
            jwk = json.loads(
                jwt.algorithms.get_default_algorithms()[alg].to_jwk(key.public_key())
            )
            jwk.update({"kid": kid, "alg": alg, "use": "sig"})
            keys.append(jwk)
        return {"keys": keys}

    def rsa_public_pem(self) -> bytes:
        return self.rsa.public_key().public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo,
        )


@contextmanager
def jwks_server(document: Mapping[str, Any]) -> Iterator[str]:
    """Serves ``document`` at http://127.0.0.1:<free port>/jwks.json; yields the URL."""
    body = json.dumps(document).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
