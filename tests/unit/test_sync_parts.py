"""The sync's pure parts: pacing, batching, retries, hashes, checksums, messages."""

from __future__ import annotations

import base64
import random
from typing import Any

import pytest
from google.api_core import exceptions
from google.cloud.bigquery import SchemaField

from functions.sync.main import BadMessageError, parse_request
from perfcache.errors import TransientError, describe, is_transient
from perfcache.sync.rows import (
    Checksum,
    Encoded,
    Rejected,
    RowCodec,
    checksum_of,
    content_hash,
)
from perfcache.sync.writer import MAX_BATCH_WRITES, Ramp, Writer

# The client's exception classes are untyped; these names keep mypy strict here.
Unavailable: Any = exceptions.ServiceUnavailable
BadRequest: Any = exceptions.BadRequest


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_the_ramp_starts_at_500_ops_and_grows_by_half_every_5_minutes() -> None:
    clock = FakeClock()
    ramp = Ramp(500, clock=clock, sleep=clock.sleep)

    for _ in range(4):
        ramp.wait(500)

    # The first batch goes at once; each next 500 waits one second at 500 ops/s.
    assert clock.slept == [1.0, 1.0, 1.0]
    clock.now = 5 * 60 + 0.5
    assert ramp.rate(clock.now) == 750
    clock.now = 10 * 60 + 0.5
    assert ramp.rate(clock.now) == 1125


class FakeBatch:
    def __init__(self, client: FakeFirestore) -> None:
        self.client = client
        self.ops: list[tuple[str, str]] = []

    def set(self, reference: str, fields: dict[str, Any]) -> None:
        self.ops.append(("set", reference))

    def delete(self, reference: str) -> None:
        self.ops.append(("delete", reference))

    def commit(self) -> None:
        if self.client.failures:
            raise self.client.failures.pop(0)
        self.client.commits.append(self.ops)


class FakeCollection:
    def document(self, doc_id: str) -> str:
        return doc_id


class FakeFirestore:
    """Records commits; raises the queued failures first (no server involved)."""

    def __init__(self, failures: list[Exception] | None = None) -> None:
        self.failures = list(failures or [])
        self.commits: list[list[tuple[str, str]]] = []

    def collection(self, name: str) -> FakeCollection:
        return FakeCollection()

    def batch(self) -> FakeBatch:
        return FakeBatch(self)


def _writer(client: FakeFirestore, deadline_s: float = 5) -> Writer:
    writer: Writer = Writer(
        client,  # type: ignore[arg-type]
        "teacher_data_a",
        Ramp(1e9),
        deadline_s,
    )
    return writer


def test_commits_hold_at_most_500_writes_and_count_each_kind() -> None:
    client = FakeFirestore()
    writer = _writer(client)

    for n in range(1_100):
        writer.set(f"id-{n}", {"d": {"x": n}, "_h": "h"})
    writer.delete("gone")
    writer.flush()

    assert [len(ops) for ops in client.commits] == [500, 500, 101]
    assert max(len(ops) for ops in client.commits) <= MAX_BATCH_WRITES
    assert (writer.counts.writes, writer.counts.deletes, writer.counts.commits) == (
        1_100,
        1,
        3,
    )


def test_commits_stay_under_the_request_size(monkeypatch: pytest.MonkeyPatch) -> None:
    client = FakeFirestore()
    writer = _writer(client)
    big = "x" * 900_000  # ten of these pass 9 MiB

    for n in range(25):
        writer.set(f"id-{n}", {"d": {"text": big}, "_h": "h"})
    writer.flush()

    assert [len(ops) for ops in client.commits] == [10, 10, 5]


def test_transient_commit_errors_are_retried_and_fatal_ones_raised(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("time.sleep", lambda seconds: None)
    flaky = FakeFirestore([Unavailable("busy"), Unavailable("busy")])
    writer = _writer(flaky)
    writer.set("a", {"d": {}, "_h": "h"})
    writer.flush()
    assert flaky.commits == [[("set", "a")]]

    broken = _writer(FakeFirestore([BadRequest("no")]))
    broken.set("a", {"d": {}, "_h": "h"})
    with pytest.raises(BadRequest):
        broken.flush()


def test_a_commit_failing_past_the_deadline_raises_a_transient_error() -> None:
    always = FakeFirestore([Unavailable("busy")] * 1_000)
    writer = _writer(always, deadline_s=0)
    writer.set("a", {"d": {}, "_h": "h"})

    with pytest.raises(TransientError, match="kept failing"):
        writer.flush()


def test_the_checksum_ignores_order_and_matches_the_stored_rows() -> None:
    pairs = [(f"id-{n}", f"hash-{n}") for n in range(50)]
    shuffled = pairs[:]
    random.Random(1).shuffle(shuffled)
    one, other = Checksum(), Checksum()
    for doc_id, row_hash in pairs:
        one.add(doc_id, row_hash)
    for doc_id, row_hash in shuffled:
        other.add(doc_id, row_hash)

    assert one.hexdigest() == other.hexdigest() == checksum_of(dict(pairs))
    assert checksum_of(dict(pairs[:-1])) != one.hexdigest()


def test_the_row_hash_tells_types_apart_and_ignores_last_bit_float_noise() -> None:
    assert content_hash({"x": 1}) != content_hash({"x": "1"})
    assert content_hash({"x": 1}) != content_hash({"x": 1.0})
    assert content_hash({"x": True}) != content_hash({"x": 1})
    assert content_hash({"a": 1, "b": 2}) == content_hash({"b": 2, "a": 1})
    # Two runs of the same AVG on the local server (exactly 4579.417 / 64).
    assert content_hash({"avg": 71.55339062500002}) == content_hash(
        {"avg": 71.55339062499999}
    )
    # A change of one part in a million is a change.
    assert content_hash({"avg": 71.55339}) != content_hash({"avg": 71.55339 * 1.000001})
    assert content_hash({"x": float("nan")}) != content_hash({"x": float("inf")})


def test_a_second_read_gives_wanted_rows_the_ids_and_values_of_the_first() -> None:
    schema = [SchemaField("id", "STRING"), SchemaField("score", "FLOAT64")]
    codec = RowCodec(schema, ["id"], "things_a", json_text=False)
    rows: list[dict[str, Any]] = [
        {"id": "t-1", "score": 1.5},
        {"id": "t/2", "score": 2.0},
        {"id": None, "score": 3.0},
    ]
    first = [codec.encode(row) for row in rows]
    kept, other, null_key = first
    assert isinstance(kept, Encoded)
    assert isinstance(other, Encoded)
    assert isinstance(null_key, Rejected)

    ids = [codec.doc_id_of(row) for row in rows]

    assert ids == [kept.doc_id, other.doc_id, None]
    assert [codec.values(row) for row in rows[:2]] == [kept.data, other.data]


def test_a_transaction_that_could_not_begin_reports_what_stopped_it() -> None:
    # What google-cloud-firestore's @transactional raises when begin_transaction
    # fails (seen against a refused port: a RetryError of 503s): a ValueError from
    # its rollback attempt, the real error as its context.
    def begin() -> None:
        raise Unavailable("failed to connect to all addresses")

    def transactional() -> None:
        try:
            begin()
        except Unavailable:
            raise ValueError(
                "The transaction has no transaction ID, so it cannot be rolled back."
            ) from None

    with pytest.raises(ValueError, match="cannot be rolled back") as caught:
        transactional()

    assert is_transient(caught.value)
    assert describe(caught.value) == (
        "ServiceUnavailable: 503 failed to connect to all addresses"
    )
    assert not is_transient(ValueError("cannot be rolled back"))
    assert describe(KeyError("x")) == "KeyError: 'x'"


def _message(data: bytes | None) -> dict[str, Any]:
    if data is None:
        return {}
    return {"data": base64.b64encode(data).decode("ascii")}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (None, ("all", False, False)),
        (b"", ("all", False, False)),
        (b"{}", ("all", False, False)),
        (b'{"data_type": ""}', ("all", False, False)),
        (
            b'{"data_type": "teacher_data", "force": true}',
            ("teacher_data", True, False),
        ),
        (b'{"dry_run": true}', ("all", False, True)),
    ],
)
def test_a_message_says_what_to_sync_with_empty_meaning_all(
    data: bytes | None, expected: tuple[str, bool, bool]
) -> None:
    request = parse_request(_message(data), "m-1")

    assert (request.data_type, request.force, request.dry_run) == expected
    assert (request.trigger, request.message_id) == ("pubsub", "m-1")


@pytest.mark.parametrize("data", [b"{oops", b"[1]", b'{"dry_run": 1}', b"\xff"])
def test_an_unreadable_message_is_a_bad_message(data: bytes) -> None:
    with pytest.raises(BadMessageError, match="expected"):
        parse_request(_message(data), "m-1")
