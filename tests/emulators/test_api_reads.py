"""The API against a real sync of the sample: routes, roles, paging, caching, errors.

One sync of the small sample serves the whole module; expectations come from the
same dataset SQL run on the warehouse, so every count is checked exactly.
"""

from __future__ import annotations

import io
import json
import logging
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from perfcache import clients, logs, store
from perfcache.api.app import Api
from perfcache.config import Settings
from perfcache.sync.engine import SyncRequest, run_sync
from tests.api_support import api_settings, bearer, flask_app, query_sample
from tests.conftest import clear_firestore

pytestmark = pytest.mark.emulators
Rows = list[dict[str, Any]]


@pytest.fixture(scope="module")
def sample(
    stack: dict[str, str], settings: Settings, warehouse: str, bigquery: Any
) -> dict[str, Rows]:
    """Firestore holding one real sync of the sample; returns the SQL's own rows."""
    clear_firestore(stack)
    report = run_sync(settings, SyncRequest(force=True))
    assert report.status == "succeeded", report.error
    return {name: rows for name, (_, rows) in query_sample(bigquery, warehouse).items()}


@pytest.fixture(scope="module")
def api(settings: Settings, sample: dict[str, Rows]) -> Api:
    return Api(api_settings(settings))


@pytest.fixture(scope="module")
def client(api: Api) -> FlaskClient:
    return flask_app(api).test_client()


@pytest.fixture(scope="module")
def places(sample: dict[str, Rows]) -> dict[str, str]:
    """A sector, one of its schools, a teacher there, and a school elsewhere."""
    schools = sorted(sample["school_data"], key=lambda r: r["school_id"])
    mine = schools[0]
    other = next(s for s in schools if s["sector_id"] != mine["sector_id"])
    teacher = next(
        r["teacher_id"]
        for r in sorted(sample["teacher_data"], key=lambda r: r["teacher_id"])
        if r["school_id"] == mine["school_id"]
    )
    return {
        "sector": mine["sector_id"],
        "school": mine["school_id"],
        "teacher": teacher,
        "other_sector": other["sector_id"],
        "other_school": other["school_id"],
    }


def _headers(role: str, places: dict[str, str]) -> dict[str, str]:
    scopes = {
        "admin": {},
        "sector": {"sector_id": places["sector"]},
        "school": {"school_id": places["school"]},
        "teacher": {"teacher_id": places["teacher"], "school_id": places["school"]},
    }
    return bearer(role, **scopes[role])


def _all_rows(client: FlaskClient, url: str, headers: dict[str, str]) -> Rows:
    """Every row of a paginated route, following next_page_token to the end."""
    rows: Rows = []
    token: str | None = None
    for _ in range(100):
        sep = "&" if "?" in url else "?"
        page_url = f"{url}{sep}page_token={token}" if token else url
        response = client.get(page_url, headers=headers)
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        rows += body["data"]
        token = body["next_page_token"]
        if token is None:
            return rows
    raise AssertionError(f"{url} did not end after 100 pages")


def _in_scope(row: dict[str, Any], role: str, places: dict[str, str]) -> bool:
    return {
        "admin": True,
        "sector": row.get("sector_id") == places["sector"],
        "school": row.get("school_id") == places["school"],
        "teacher": row.get("teacher_id", places["teacher"]) == places["teacher"]
        and ("teacher_id" in row or row.get("school_id") == places["school"]),
    }[role]


ROLES = ["admin", "sector", "school", "teacher"]


def test_healthz_and_openapi_need_no_token(client: FlaskClient) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}
    document = client.get("/api/openapi.json").get_json()
    assert document["openapi"] == "3.1.0"
    assert "/api/teacher-data" in document["paths"]


@pytest.mark.parametrize("role", ROLES)
def test_teacher_rows_are_exactly_the_callers_scope(
    client: FlaskClient, sample: dict[str, Rows], places: dict[str, str], role: str
) -> None:
    rows = _all_rows(client, "/api/teacher-data?page_size=500", _headers(role, places))
    expected = [r for r in sample["teacher_data"] if _in_scope(r, role, places)]
    assert len(rows) == len(expected) > 0
    assert all(_in_scope(r, role, places) for r in rows)
    keys = Counter((r["teacher_id"], r["week_start"]) for r in rows)
    assert max(keys.values()) == 1


@pytest.mark.parametrize("role", ROLES)
def test_school_rows_are_exactly_the_callers_scope(
    client: FlaskClient, sample: dict[str, Rows], places: dict[str, str], role: str
) -> None:
    rows = _all_rows(client, "/api/schools", _headers(role, places))
    expected = {
        r["school_id"]
        for r in sample["school_data"]
        if role in ("admin",)
        or (role == "sector" and r["sector_id"] == places["sector"])
        or (role in ("school", "teacher") and r["school_id"] == places["school"])
    }
    assert {r["school_id"] for r in rows} == expected


@pytest.mark.parametrize("role", ROLES)
def test_aggregates_follow_the_level_rules(
    client: FlaskClient, sample: dict[str, Rows], places: dict[str, str], role: str
) -> None:
    rows = _all_rows(
        client,
        "/api/aggregated-data?period=monthly&page_size=500",
        _headers(role, places),
    )
    levels = Counter(r["level"] for r in rows)
    monthly = [r for r in sample["aggregated_data"] if r["period"] == "monthly"]
    if role == "admin":
        assert len(rows) == len(monthly)
        assert levels["overall"] > 0
    elif role == "sector":
        assert set(levels) == {"sector", "school"}
        assert all(r["sector_id"] == places["sector"] for r in rows)
        expected = [r for r in monthly if r["sector_id"] == places["sector"]]
        assert len(rows) == len(expected)
    else:
        assert set(levels) == {"school"}
        assert all(r["school_id"] == places["school"] for r in rows)


@pytest.mark.parametrize("role", ROLES)
def test_filter_options_are_scoped_and_deduplicated(
    client: FlaskClient, sample: dict[str, Rows], places: dict[str, str], role: str
) -> None:
    response = client.get("/api/filter-options", headers=_headers(role, places))
    body = response.get_json()
    assert body["next_page_token"] is None
    pairs = [(o["kind"], o["value"]) for o in body["data"]]
    assert len(pairs) == len(set(pairs))
    expected = {
        (r["kind"], r["value"])
        for r in sample["filter_options"]
        if role == "admin"
        or (role == "sector" and r["sector_id"] == places["sector"])
        or (role in ("school", "teacher") and r["school_id"] == places["school"])
    }
    assert set(pairs) == expected
    if role in ("school", "teacher"):
        assert [v for k, v in pairs if k == "school"] == [places["school"]]


@pytest.mark.parametrize("role", ROLES)
def test_summary_stats_aggregate_the_scope_without_reading_rows(
    client: FlaskClient, sample: dict[str, Rows], places: dict[str, str], role: str
) -> None:
    url = "/api/summary-stats?date_from=2025-09-08&date_to=2025-10-27"
    body = client.get(url, headers=_headers(role, places)).get_json()
    rows = [
        r
        for r in sample["teacher_data"]
        if _in_scope(r, role, places)
        and "2025-09-08" <= r["week_start"].isoformat() <= "2025-10-27"
    ]
    stats = body["data"]
    assert stats["row_count"] == len(rows) > 0
    scores = [
        r["observation_score"] for r in rows if r["observation_score"] is not None
    ]
    assert stats["avg_observation_score"] == pytest.approx(sum(scores) / len(scores))
    plans = sum(r["lesson_plans_submitted"] or 0 for r in rows)
    assert stats["total_lesson_plans"] == plans
    assert body["meta"]["generation"] >= 1


WIDENING = [
    ("school", "/api/teacher-data?school_id={other_school}", 403),
    ("school", "/api/schools?school_id={other_school}", 403),
    ("school", "/api/aggregated-data?level=sector", 403),
    ("school", "/api/aggregated-data?level=overall", 403),
    ("sector", "/api/teacher-data?sector={other_sector}", 403),
    ("sector", "/api/teacher-data?school_id={other_school}", 403),
    ("sector", "/api/aggregated-data?level=overall", 403),
    ("teacher", "/api/teacher-data?teacher_id=T-99999", 403),
    ("teacher", "/api/teacher-data?school_id={other_school}", 403),
    ("teacher", "/api/aggregated-data?school_id={other_school}", 403),
    ("teacher", "/api/summary-stats?teacher_id=T-99999", 400),
    ("school", "/api/teacher-data?school_id={school}", 200),
    ("sector", "/api/teacher-data?school_id={school}", 200),
    ("sector", "/api/aggregated-data?level=sector&sector={sector}", 200),
    ("teacher", "/api/teacher-data?teacher_id={teacher}", 200),
    ("admin", "/api/aggregated-data?level=overall&period=weekly", 200),
]


@pytest.mark.parametrize(("role", "url", "status"), WIDENING)
def test_a_parameter_outside_the_scope_is_403_never_widened(
    client: FlaskClient, places: dict[str, str], role: str, url: str, status: int
) -> None:
    response = client.get(url.format(**places), headers=_headers(role, places))
    assert response.status_code == status, response.get_json()
    if status == 403:
        assert response.get_json()["error"]["code"] == "forbidden"
    elif status == 400:
        assert response.get_json()["error"]["parameter"] == "teacher_id"
    else:
        assert response.get_json()["data"]


def test_trigger_is_admin_only(client: FlaskClient, places: dict[str, str]) -> None:
    for role in ("sector", "school", "teacher"):
        response = client.post(
            "/api/data-sync/trigger", json={}, headers=_headers(role, places)
        )
        assert response.status_code == 403


def test_paging_through_a_whole_dataset_has_no_duplicates_or_gaps(
    client: FlaskClient, sample: dict[str, Rows]
) -> None:
    admin = bearer("admin")
    for url in (
        "/api/teacher-data?sort=observation_score&direction=desc&page_size=97",
        "/api/teacher-data?sort=teacher_name&page_size=333",
        "/api/teacher-data?page_size=250",
    ):
        rows = _all_rows(client, url, admin)
        keys = [(r["teacher_id"], r["week_start"]) for r in rows]
        assert len(keys) == len(set(keys)) == len(sample["teacher_data"]), url
    scores = [r["observation_score"] for r in _all_rows(client, url, admin)]
    assert scores  # default order: week_start then teacher_id
    ranged = _all_rows(
        client,
        "/api/teacher-data?date_from=2025-09-15&date_to=2025-10-06&subject=Art"
        "&page_size=7",
        admin,
    )
    expected = [
        r
        for r in sample["teacher_data"]
        if r["subject"] == "Art"
        and "2025-09-15" <= r["week_start"].isoformat() <= "2025-10-06"
    ]
    assert len(ranged) == len(expected) > 7
    order = [(r["week_start"], r["teacher_id"]) for r in ranged]
    assert order == sorted(order)


def test_descending_sort_is_ordered(client: FlaskClient) -> None:
    rows = _all_rows(
        client,
        "/api/schools?sort=avg_observation_score&direction=desc&page_size=3",
        bearer("admin"),
    )
    scores = [r["avg_observation_score"] for r in rows]
    assert scores == sorted(scores, reverse=True)


def test_etag_answers_304_and_repeat_reads_come_from_memory(
    client: FlaskClient, api: Api, places: dict[str, str]
) -> None:
    url = "/api/teacher-data?grade=3&page_size=5"
    first = client.get(url, headers=bearer("admin"))
    again = client.get(url, headers=bearer("admin"))
    assert first.status_code == again.status_code == 200
    assert again.headers["X-Cache"] == "hit"
    assert again.data == first.data
    etag = first.headers["ETag"]
    assert first.headers["Cache-Control"].startswith("private, max-age=")
    assert first.headers["X-Data-Synced-At"].endswith("Z")
    not_modified = client.get(url, headers={**bearer("admin"), "If-None-Match": etag})
    assert not_modified.status_code == 304
    assert not_modified.data == b""
    sector = client.get(url, headers=_headers("sector", places))
    assert sector.headers["ETag"] != etag  # scope is part of the ETag


def test_input_errors_are_json_400s_naming_the_parameter(client: FlaskClient) -> None:
    admin = bearer("admin")
    cases = {
        "/api/teacher-data?colour=red": "colour",
        "/api/teacher-data?page_size=9999": "page_size",
        "/api/teacher-data?date_from=2025-02-30": "date_from",
        "/api/teacher-data?sort=nope": "sort",
        "/api/teacher-data?page_token=bm90LWEtdG9rZW4": "page_token",
        "/api/aggregated-data?period=yearly": "period",
        "/api/data-sync/status?verbose=1": "verbose",
    }
    for url, parameter in cases.items():
        response = client.get(url, headers=admin)
        assert response.status_code == 400, url
        error = response.get_json()["error"]
        assert error["parameter"] == parameter
        assert "Traceback" not in response.get_data(as_text=True)


def test_a_token_from_another_query_is_a_400(client: FlaskClient) -> None:
    admin = bearer("admin")
    first = client.get("/api/teacher-data?grade=3&page_size=2", headers=admin)
    token = first.get_json()["next_page_token"]
    response = client.get(
        f"/api/teacher-data?grade=4&page_size=2&page_token={token}", headers=admin
    )
    assert response.status_code == 400
    assert "another query" in response.get_json()["error"]["message"]


def test_unknown_routes_and_methods_answer_json(client: FlaskClient) -> None:
    missing = client.get("/api/nothing-here", headers=bearer("admin"))
    assert missing.status_code == 404
    assert missing.get_json()["error"]["code"] == "not_found"
    wrong = client.delete("/api/teacher-data", headers=bearer("admin"))
    assert wrong.status_code == 405
    assert wrong.headers["Allow"] == "GET, HEAD, OPTIONS"
    get_trigger = client.get("/api/data-sync/trigger", headers=bearer("admin"))
    assert get_trigger.status_code == 405
    assert get_trigger.headers["Allow"] == "POST, OPTIONS"


def test_missing_token_is_401_with_a_challenge(client: FlaskClient) -> None:
    response = client.get("/api/teacher-data")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.get_json()["error"]["code"] == "unauthorized"


def test_cors_preflight_and_headers_for_configured_origins(client: FlaskClient) -> None:
    origin = "https://dashboard.example"
    preflight = client.options(
        "/api/teacher-data",
        headers={"Origin": origin, "Access-Control-Request-Method": "GET"},
    )
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == origin
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
    refused = client.options(
        "/api/teacher-data", headers={"Origin": "https://evil.example"}
    )
    assert refused.status_code == 403
    assert "Access-Control-Allow-Origin" not in refused.headers
    read = client.get("/api/schools", headers={**bearer("admin"), "Origin": origin})
    assert read.headers["Access-Control-Allow-Origin"] == origin
    assert "ETag" in read.headers["Access-Control-Expose-Headers"]


@pytest.fixture
def api_log() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.CloudJsonFormatter())
    logger = logs.get_logger("perfcache.api.app")
    logger.addHandler(handler)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)


def test_one_log_line_per_request_with_trace_and_no_token(
    client: FlaskClient, api_log: io.StringIO, places: dict[str, str]
) -> None:
    headers = {
        **_headers("school", places),
        "X-Cloud-Trace-Context": "0123456789abcdef0123456789abcdef/1;o=1",
    }
    client.get("/api/schools", headers=headers)
    lines = [json.loads(line) for line in api_log.getvalue().splitlines()]
    assert len(lines) == 1
    line = lines[0]
    assert line["method"] == "GET"
    assert line["path"] == "/api/schools"
    assert line["status"] == 200
    assert line["role"] == "school"
    assert line["cache"] in ("hit", "miss")
    assert line["latency_ms"] >= 0
    assert line["logging.googleapis.com/trace"].endswith(
        "/traces/0123456789abcdef0123456789abcdef"
    )
    assert headers["Authorization"].split()[1] not in api_log.getvalue()


def test_stale_data_is_flagged_and_logged(
    settings: Settings, sample: dict[str, Rows], api_log: io.StringIO
) -> None:
    stale_client = flask_app(Api(api_settings(settings, stale_after_s=0))).test_client()
    body = stale_client.get("/api/schools", headers=bearer("admin")).get_json()
    assert body["meta"]["stale"] is True
    warnings = [json.loads(line) for line in api_log.getvalue().splitlines()]
    stale = [w for w in warnings if w.get("event") == "data_stale"]
    assert stale
    assert stale[0]["severity"] == "WARNING"
    assert stale[0]["dataset"] == "school_data"


def test_status_reports_freshness_and_a_held_lease(
    client: FlaskClient, settings: Settings, sample: dict[str, Rows]
) -> None:
    body = client.get("/api/data-sync/status", headers=bearer("school", school_id="S"))
    data = body.get_json()["data"]
    teacher = data["datasets"]["teacher_data"]
    assert teacher["row_count"] == len(sample["teacher_data"])
    assert teacher["stale"] is False
    assert teacher["last_run"]["status"] == "succeeded"
    assert teacher["last_run"]["dataset"]["rows_read"] == len(sample["teacher_data"])
    assert data["latest_run"]["status"] == "succeeded"
    assert data["running"] is False

    firestore = clients.firestore_client(settings)
    lease = firestore.collection(store.STATE_COLLECTION).document(store.LEASE_DOC)
    lease.set(
        {
            "run_id": "r-held",
            "holder": "test",
            "acquired_at": datetime.now(UTC),
            "expires_at": datetime.now(UTC) + timedelta(minutes=5),
        }
    )
    try:
        data = client.get("/api/data-sync/status", headers=bearer("admin")).get_json()
        assert data["data"]["running"] is True
        conflict = client.post(
            "/api/data-sync/trigger", json={"data_type": "all"}, headers=bearer("admin")
        )
        assert conflict.status_code == 409
        assert conflict.get_json()["error"]["run_id"] == "r-held"
    finally:
        lease.delete()


def test_status_shows_dry_runs_and_failure_texts_to_admins_only(
    client: FlaskClient, settings: Settings, sample: dict[str, Rows]
) -> None:
    firestore = clients.firestore_client(settings)
    failed = firestore.collection(store.RUNS_COLLECTION).document("r-failed")
    failed.set(
        {
            "run_id": "r-failed",
            "status": "failed",
            "trigger": "cli",
            "dry_run": True,
            # The sync records its times as ISO strings.
            "started_at": (datetime.now(UTC) + timedelta(minutes=1)).isoformat(),
            "error": "Not found: Table secret_project:hr.salaries",
        }
    )
    try:
        school = client.get(
            "/api/data-sync/status", headers=bearer("school", school_id="S")
        ).get_json()["data"]
        admin = client.get("/api/data-sync/status", headers=bearer("admin"))
        admin_data = admin.get_json()["data"]
    finally:
        failed.delete()

    assert school["latest_run"]["status"] == "failed"
    assert school["latest_run"]["dry_run"] is True
    assert "salaries" not in json.dumps(school)
    assert admin_data["latest_run"]["error"].endswith("hr.salaries")


TRIGGER_ERRORS = [
    (b"{not json", "body"),
    (b"[1, 2]", "body"),
    (b'{"data_type": "everything"}', "data_type"),
    (b'{"data_type": "all", "force": "yes"}', "force"),
    (b'{"data_type": "all", "extra": 1}', "extra"),
]


@pytest.mark.parametrize(("body", "parameter"), TRIGGER_ERRORS)
def test_trigger_body_is_validated(
    client: FlaskClient, body: bytes, parameter: str
) -> None:
    response = client.post(
        "/api/data-sync/trigger",
        data=body,
        headers={**bearer("admin"), "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.get_json()["error"]["parameter"] == parameter


def test_schemathesis_finds_no_server_error(api: Api, settings: Settings) -> None:
    """Generated requests against the OpenAPI document never get a 5xx."""
    import schemathesis

    _ensure_topic(settings, api.settings.sync_topic)
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", flask_app(api))
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    for result in schema.get_all_operations():
        loaded: Any = result  # Ok(operation), or Err for a broken document
        failures += _fuzz(loaded.ok(), bearer("admin"), statuses)
    assert not failures, failures[:3]
    # Both valid and invalid requests were generated, and none failed the server.
    assert statuses[200] > 0, statuses
    assert statuses[400] > 0, statuses


def _fuzz(operation: Any, headers: dict[str, str], statuses: Counter[int]) -> list[str]:
    """Runs a bounded number of generated cases; returns the server errors seen."""
    from hypothesis import HealthCheck, Phase, given
    from hypothesis import settings as examples
    from schemathesis.checks import not_a_server_error

    failures: list[str] = []

    @examples(
        max_examples=12,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(case=operation.as_strategy())
    def run(case: Any) -> None:
        response = case.call(headers=headers)
        statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=[not_a_server_error])
        except AssertionError as error:
            failures.append(f"{operation.label}: {error}")

    run()
    return failures


def _ensure_topic(settings: Settings, topic: str) -> str:
    """The sync topic on the Pub/Sub emulator, so generated triggers can publish."""
    publisher = clients.publisher_client(settings)
    path = publisher.topic_path(settings.project, topic)
    try:
        publisher.create_topic(name=path)
    except Exception as error:
        if type(error).__name__ != "AlreadyExists":
            raise
    return str(path)


def test_deploy_entry_serves_through_functions_framework(
    sample: dict[str, Rows], monkeypatch: pytest.MonkeyPatch
) -> None:
    """functions/api/main.py as functions-framework loads it, settings from env."""
    import functions_framework

    from perfcache.api import app as app_module

    monkeypatch.setenv("PERFCACHE_JWT_SECRET", "entry-test-secret-of-at-least-32-bytes")
    monkeypatch.setattr(app_module, "_instance", None)
    create_app: Any = functions_framework.create_app  # untyped in the package
    entry = create_app(target="api", source="functions/api/main.py").test_client()
    token = jwt_for_entry("entry-test-secret-of-at-least-32-bytes")
    response = entry.get("/api/schools?page_size=2", headers=token)
    assert response.status_code == 200, response.get_json()
    assert len(response.get_json()["data"]) == 2
    assert entry.get("/nope").status_code == 404


def jwt_for_entry(secret: str) -> dict[str, str]:
    import jwt

    from tests.api_support import claims

    return {"Authorization": "Bearer " + jwt.encode(claims("admin"), secret, "HS256")}
