"""Every BigQuery type, synced for real and read back through the API as an admin.

The one-row table of test_types_roundtrip (every type with edge values) becomes a
dataset of its own: a real sync copies it into the Firestore emulator, once per way
the sync reads a result (REST pages, a Storage Read API session, and the Arrow table
the client builds from a result that fits its first page), and ``GET /api/every-type``
serves it.
The body is parsed strictly (no NaN or Infinity tokens) and each column must be
exactly what docs/types.md says, under its original name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from perfcache import clients, datasets
from perfcache.api import app
from perfcache.api.app import Api, Route
from perfcache.config import Settings
from perfcache.datasets import Dataset
from perfcache.sync.engine import Services, SyncRequest, run_sync
from tests import sync_support
from tests.api_support import api_settings, bearer, flask_app
from tests.conftest import clear_firestore
from tests.emulators.test_types_roundtrip import (
    COLUMNS,
    Column,
    expected_json,
    refuse_constant,
    types_table,  # noqa: F401 (the fixture creating the table)
)

pytestmark = [
    pytest.mark.emulators,
    # As in test_types_roundtrip: the Storage Read path decodes through a client
    # method google-cloud-bigquery-storage marks as deprecated.
    pytest.mark.filterwarnings(
        "ignore:Retrieving Arrow record batches:PendingDeprecationWarning"
    ),
]

NAME = "every_type"
ROUTE = "every-type"
KEY = "row_id"
# Ids holding what Firestore ids cannot hold as they are.
KEYS = ("a/b.__x__ 1", "a/b.__x__ 2", "a/b.__x__ 3")


@dataclass(frozen=True)
class ReadPath:
    """How the sync reads the result: client, page size, and whether it streams."""

    name: str
    read_client: bool
    page_rows: int
    # True when the Storage Read API must serve the rows (a read session opened).
    streams: bool


READ_PATHS = (
    ReadPath("rest_pages", read_client=False, page_rows=1, streams=False),
    # Three rows read one per page: more than the client finds in its first page,
    # so it opens a Storage Read session.
    ReadPath("storage_read", read_client=True, page_rows=1, streams=True),
    # The whole result in the first page: the client turns those REST rows into
    # Arrow itself and never opens a session; the sync takes the Arrow branch. The
    # client warns that it has no Arrow type for INTERVAL and infers one from the
    # values; the values are checked below all the same.
    pytest.param(
        ReadPath(
            "arrow_from_first_page", read_client=True, page_rows=5000, streams=False
        ),
        marks=pytest.mark.filterwarnings(
            "ignore:Unable to determine Arrow type for field 'interval_value'"
            ":UserWarning"
        ),
    ),
)


@dataclass(frozen=True)
class InlineDataset(Dataset):
    """A dataset whose query is given here rather than read from perfcache/sql."""

    query: str = ""

    def sql(self, warehouse: str) -> str:
        return self.query


def every_type_dataset(table: str) -> InlineDataset:
    ids = ", ".join(f"'{key}'" for key in KEYS)
    # Built from this module's constants and the fixture's table name.
    sql = f"SELECT {KEY}, t.* FROM `{table}` t, UNNEST([{ids}]) {KEY}"  # noqa: S608
    return InlineDataset(
        name=NAME,
        sql_file="",
        key=(KEY,),
        collection=NAME,
        route=ROUTE,
        # No source tables: the change check is the SQL's hash, and force=True
        # queries anyway.
        sources=(),
        query=sql,
    )


def expected_rows() -> list[dict[str, Any]]:
    return [{KEY: key, **expected_json()} for key in sorted(KEYS)]


class CountingReadClient:
    """The Storage Read client, counting the read sessions it opens."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.sessions = 0

    def create_read_session(self, *args: Any, **kwargs: Any) -> Any:
        self.sessions += 1
        return self._client.create_read_session(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


@pytest.fixture(scope="module", params=READ_PATHS, ids=lambda path: path.name)
def served(
    request: pytest.FixtureRequest,
    stack: dict[str, str],
    settings: Settings,
    bigquery: Any,
    bq_read_client: Any,
    types_table: str,  # noqa: F811 (the imported fixture)
) -> list[dict[str, Any]]:
    """The rows ``GET /api/every-type`` serves after a real sync of the table."""
    path: ReadPath = request.param
    read_client = None
    if path.read_client:
        assert bq_read_client is not None, "the local stack serves the Storage Read API"
        read_client = CountingReadClient(bq_read_client)

    clear_firestore(stack)
    dataset = every_type_dataset(types_table)
    services = Services(
        firestore=clients.firestore_client(settings),
        bigquery=bigquery,
        read_client=read_client,
    )
    report = run_sync(
        sync_support.fast(settings, sync_page_rows=path.page_rows),
        SyncRequest(data_type=NAME, force=True),
        services,
        catalogue=(dataset,),
    )
    summary = json.dumps(report.to_dict(), indent=2, default=str)
    line = report.datasets.get(NAME)
    assert report.status == "succeeded", f"the sync failed:\n{summary}"
    assert line is not None, f"the sync did not report {NAME}:\n{summary}"
    assert (line.status, line.rows_read, line.rejected, line.inserted) == (
        "synced",
        len(KEYS),
        0,
        len(KEYS),
    ), f"the sync did not store every row:\n{summary}"
    sessions = read_client.sessions if read_client is not None else 0
    assert (sessions > 0) == path.streams, f"{path.name}: {sessions} read sessions"

    with pytest.MonkeyPatch.context() as patch:
        # Only what the rows route looks up: its path, and the dataset by name.
        patch.setitem(datasets.BY_NAME, NAME, dataset)
        patch.setitem(
            app.ROUTES, f"{app.API}/{ROUTE}", Route(("GET",), "rows", dataset=NAME)
        )
        client = flask_app(Api(api_settings(settings))).test_client()
        response = client.get(f"{app.API}/{ROUTE}", headers=bearer("admin"))

    text = response.get_data(as_text=True)
    assert response.status_code == 200, f"{path.name}: the API answered {text}"
    assert response.mimetype == "application/json"
    body = json.loads(text, parse_constant=refuse_constant)
    assert body["next_page_token"] is None
    rows: list[dict[str, Any]] = sorted(body["data"], key=lambda r: str(r.get(KEY)))
    assert [row.get(KEY) for row in rows] == sorted(KEYS), f"{path.name}: {rows}"
    return rows


@pytest.mark.parametrize("column", COLUMNS, ids=lambda column: column.name)
def test_each_value_is_served_as_documented(
    served: list[dict[str, Any]], column: Column
) -> None:
    for row in served:
        assert column.name in row, f"{column.name!r} missing from {sorted(row)}"
        value = row[column.name]
        assert value == column.served
        # As JSON text too: true == 1 and 1.0 == 1 in Python would hide a changed
        # type. Keys sorted: an object's key order carries no meaning in JSON.
        expected = json.dumps(column.served, sort_keys=True)
        assert json.dumps(value, sort_keys=True) == expected


def test_the_rows_are_served_whole_under_their_original_names(
    served: list[dict[str, Any]],
) -> None:
    assert served == expected_rows()
    for row in served:
        assert list(row) == [KEY, *(column.name for column in COLUMNS)]
