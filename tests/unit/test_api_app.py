"""Routing and error bodies that need no data: 404, 405, preflight, misconfiguration."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from perfcache.api.app import ROUTES, Api
from perfcache.config import Settings
from perfcache.datasets import DATASETS
from tests.api_support import bearer, flask_app


@pytest.fixture
def unconfigured() -> FlaskClient:
    """An API with no token key configured and no server behind it."""
    return flask_app(Api(Settings())).test_client()


def test_every_dataset_has_a_route() -> None:
    for dataset in DATASETS:
        assert f"/api/{dataset.route}" in ROUTES


def test_no_token_key_is_a_json_503_not_a_crash(unconfigured: FlaskClient) -> None:
    response = unconfigured.get("/api/schools", headers=bearer("admin"))
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "misconfigured"
    assert unconfigured.get("/healthz").status_code == 200


def test_unknown_path_and_method_are_json(unconfigured: FlaskClient) -> None:
    missing = unconfigured.get("/api/teacher-data/")
    assert missing.status_code == 404
    assert missing.is_json
    wrong = unconfigured.put("/api/schools")
    assert wrong.status_code == 405
    assert wrong.headers["Allow"] == "GET, HEAD, OPTIONS"


def test_preflight_without_cors_origins_is_refused(unconfigured: FlaskClient) -> None:
    response = unconfigured.options(
        "/api/schools",
        headers={"Origin": "https://a.example", "Access-Control-Request-Method": "GET"},
    )
    assert response.status_code == 403
    plain = unconfigured.options("/api/data-sync/trigger")
    assert plain.status_code == 204
    assert plain.headers["Allow"] == "POST, OPTIONS"


def test_openapi_lists_every_route(unconfigured: FlaskClient) -> None:
    document = unconfigured.get("/api/openapi.json").get_json()
    assert set(document["paths"]) == set(ROUTES)


def test_pointer_is_reused_within_its_ttl_then_reloaded() -> None:
    from perfcache.api.cache import Expiring

    now = [100.0]
    loads: list[float] = []

    def load() -> float:
        loads.append(now[0])
        return now[0]

    pointer = Expiring(load, ttl_s=2, clock=lambda: now[0])
    assert pointer.get() == 100.0
    now[0] = 101.9
    assert pointer.get() == 100.0  # within 2 s: no read
    now[0] = 102.0
    assert pointer.get() == 102.0  # a new sync is seen within the TTL
    assert loads == [100.0, 102.0]


def test_response_cache_is_bounded_lru() -> None:
    from perfcache.api.cache import Lru

    cache: Lru[str] = Lru(2)
    cache.put("a", "1")
    cache.put("b", "2")
    assert cache.get("a") == "1"  # a is now the most recent
    cache.put("c", "3")
    assert cache.get("b") is None
    assert (cache.get("a"), cache.get("c"), len(cache)) == ("1", "3", 2)


def test_overlapping_builds_of_one_response_run_once_and_share_errors() -> None:
    import threading
    import time

    from perfcache.api.cache import SingleFlight

    shared: SingleFlight[str] = SingleFlight()
    gate = threading.Event()
    builds: list[str] = []

    def build() -> str:
        builds.append("built")
        gate.wait(timeout=10)
        return "body"

    results: list[str] = []
    threads = [
        threading.Thread(target=lambda: results.append(shared.run("k", build)))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    time.sleep(0.3)  # every caller is inside run, behind the first build
    gate.set()
    for thread in threads:
        thread.join(timeout=10)
    assert (builds, results) == (["built"], ["body"] * 8)

    def broken() -> str:
        raise RuntimeError("firestore said no")

    with pytest.raises(RuntimeError, match="firestore said no"):
        shared.run("k", broken)
    # A failed build is not remembered: the next caller builds again.
    assert shared.run("k", lambda: "again") == "again"
