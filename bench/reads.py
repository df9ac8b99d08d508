"""Read-side measures: latency of three paths, the API under load, cold import.

The latency paths run in this process on the same servers: (a) the equivalent BigQuery
query per request, the way the dashboard used to read; (b) the API on a new instance
(every cache empty, Firestore reads); (c) the API warm. The load measure talks HTTP to
a functions-framework server on 127.0.0.1, with a bounded client count and duration.
The scan measure shows what bounds path (b) here: the Firestore emulator's queries.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import os
import re
import statistics
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any

import flask
import jwt
from google.cloud import bigquery

from perfcache import clients, datasets, store
from perfcache.api.app import Api
from perfcache.api.reads import Reader
from perfcache.config import Settings
from tools import stack

REPO = stack.REPO
PYTHON = str(REPO / ".venv" / "bin" / "python")
BENCH_SECRET = "bench-only-secret-" + "0" * 32  # never leaves this process tree

# Targets from the product's promises (issue: `make bench`).
WARM_TARGET = 200.0  # a/c
COLD_TARGET = 5.0  # a/b
LOAD_ERRORS_TARGET = 0

# The fixed mix of typical dashboard requests, with the BigQuery query each replaced.
# (path, query string, SQL over the dataset's own SQL, its parameters)
_TEACHERS_SQL = (
    "SELECT * FROM ({teacher_data}) WHERE school_id = @school "
    "AND week_start BETWEEN @date_from AND @date_to "
    "ORDER BY week_start, teacher_id LIMIT 50"
)
_WEEKLY_SQL = (
    "SELECT * FROM ({aggregated_data}) WHERE period = 'weekly' AND level = 'school' "
    "AND sector_id = @sector ORDER BY period_start, scope_id LIMIT 50"
)
_SUMMARY_SQL = (
    "SELECT COUNT(*) AS rows, AVG(observation_score) AS avg_observation_score, "
    "AVG(attendance_rate) AS avg_attendance_rate, "
    "AVG(student_assessment_avg) AS avg_student_assessment, "
    "SUM(lesson_plans_submitted) AS total_lesson_plans FROM ({teacher_data}) "
    "WHERE week_start BETWEEN @date_from AND @date_to"
)
_OPTIONS_SQL = "SELECT DISTINCT kind, value, label FROM ({filter_options})"


@dataclasses.dataclass(frozen=True)
class Request:
    name: str
    path: str
    sql: str
    params: dict[str, str]


MIX = (
    Request(
        "one school's teachers for a month",
        "/api/teacher-data?school_id=SCH-0001&date_from=2025-10-01&date_to=2025-10-31",
        _TEACHERS_SQL,
        {"school": "SCH-0001", "date_from": "2025-10-01", "date_to": "2025-10-31"},
    ),
    Request(
        "a sector's weekly aggregates",
        "/api/aggregated-data?period=weekly&level=school&sector=SEC-01",
        _WEEKLY_SQL,
        {"sector": "SEC-01"},
    ),
    Request(
        "summary stats for a term",
        "/api/summary-stats?date_from=2025-09-01&date_to=2025-12-31",
        _SUMMARY_SQL,
        {"date_from": "2025-09-01", "date_to": "2025-12-31"},
    ),
    Request("filter options", "/api/filter-options", _OPTIONS_SQL, {}),
)


def admin_token(settings: Settings) -> str:
    now = int(time.time())
    claims = {
        "sub": "bench",
        "role": "admin",
        "aud": settings.jwt_audience,
        "iss": settings.jwt_issuer,
        "iat": now,
        "exp": now + 3600,
    }
    return jwt.encode(claims, BENCH_SECRET, algorithm="HS256")


def measure_latency(settings: Settings, samples: int) -> dict[str, Any]:
    """p50/p95/p99 of the three paths over ``samples`` rounds of the mix."""
    settings = dataclasses.replace(settings, jwt_secret=BENCH_SECRET)
    headers = {"Authorization": f"Bearer {admin_token(settings)}"}
    bq = clients.bigquery_client(settings)
    firestore = clients.firestore_client(settings)
    sql_of = {d.name: d.sql(settings.warehouse) for d in datasets.DATASETS}

    def old_way(request: Request) -> None:
        config = bigquery.QueryJobConfig(
            query_parameters=[
                bigquery.ScalarQueryParameter(name, _type(value), value)
                for name, value in request.params.items()
            ],
            use_query_cache=False,
        )
        list(bq.query(request.sql.format(**sql_of), job_config=config).result())

    warm_api = Api(settings, firestore=lambda: firestore)
    warm = _client(warm_api)
    for request in MIX:  # fill the warm instance's caches once
        _get(warm, request.path, headers)

    def cold(request: Request) -> None:
        # A new instance: empty pointer and response caches, a connected client.
        _get(_client(Api(settings, firestore=lambda: firestore)), request.path, headers)

    paths: dict[str, Callable[[Request], None]] = {
        "a_bigquery": old_way,
        "b_api_cold": cold,
        "c_api_warm": lambda request: _get(warm, request.path, headers),
    }
    timings: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(samples):
        # Interleaved, so a slow moment of the machine hits every path alike.
        for request in MIX:
            for name, run in paths.items():
                started = time.perf_counter()
                run(request)
                timings[name].append((time.perf_counter() - started) * 1000)

    summary = {name: _percentiles(values) for name, values in timings.items()}
    a, b, c = (summary[n]["p50_ms"] for n in ("a_bigquery", "b_api_cold", "c_api_warm"))
    return {
        "what": "p50/p95/p99 per request over the mix: "
        + "; ".join(r.name for r in MIX),
        "paths": summary,
        "samples_ms": {
            name: [round(v, 3) for v in values] for name, values in timings.items()
        },
        "ratio_a_c": round(a / c, 1),
        "ratio_a_b": round(a / b, 1),
        "target": f"a/c >= {WARM_TARGET:g}, a/b >= {COLD_TARGET:g}",
        "pass": a / c >= WARM_TARGET and a / b >= COLD_TARGET,
    }


def _type(value: str) -> str:
    return "DATE" if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) else "STRING"


def _client(api: Api) -> Any:
    app = flask.Flask("bench")

    @app.route("/<path:_path>", methods=["GET", "POST"])
    def handle(_path: str) -> flask.Response:
        return api(flask.request)

    return app.test_client()


def _get(client: Any, path: str, headers: dict[str, str]) -> None:
    response = client.get(path, headers=headers)
    if response.status_code != 200:
        raise RuntimeError(
            f"GET {path} answered {response.status_code}: "
            f"{response.get_data(as_text=True)[:300]}"
        )


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    cuts = statistics.quantiles(ordered, n=100, method="inclusive")
    return {
        "p50_ms": round(statistics.median(ordered), 3),
        "p95_ms": round(cuts[94], 3),
        "p99_ms": round(cuts[98], 3),
        "n": len(ordered),
    }


def measure_load(settings: Settings, clients_n: int, seconds: float) -> dict[str, Any]:
    """``clients_n`` concurrent keep-alive clients for ``seconds`` on one server."""
    settings = dataclasses.replace(settings, jwt_secret=BENCH_SECRET)
    port = stack.free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO), "PERFCACHE_JWT_SECRET": BENCH_SECRET}
    server = subprocess.Popen(
        [
            str(REPO / ".venv" / "bin" / "functions-framework"),
            "--source", str(REPO / "functions" / "api" / "main.py"),
            "--target", "api", "--host", "127.0.0.1", "--port", str(port),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_for(port)
        headers = {"Authorization": f"Bearer {admin_token(settings)}"}
        # The steady state: one request per path first, as a warm instance has had
        # (the cold path is measure read_latency's b).
        for request in MIX:
            warm = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            warm.request("GET", request.path, headers=headers)
            if warm.getresponse().status != 200:
                raise RuntimeError(f"GET {request.path} failed before the load")
            warm.close()
        latencies: list[float] = []
        errors = [0]
        lock = threading.Lock()
        deadline = time.monotonic() + seconds

        def client(offset: int) -> None:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            n = offset
            while time.monotonic() < deadline:
                path = MIX[n % len(MIX)].path
                n += 1
                started = time.perf_counter()
                try:
                    connection.request("GET", path, headers=headers)
                    response = connection.getresponse()
                    response.read()
                    ok = response.status == 200
                except (OSError, http.client.HTTPException):
                    ok = False
                    connection.close()
                    connection = http.client.HTTPConnection(
                        "127.0.0.1", port, timeout=30
                    )
                elapsed = (time.perf_counter() - started) * 1000
                with lock:
                    latencies.append(elapsed)
                    errors[0] += 0 if ok else 1
            connection.close()

        threads = [threading.Thread(target=client, args=(i,)) for i in range(clients_n)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=seconds + 60)
        elapsed = time.monotonic() - started
    finally:
        # A server still draining the load's backlog may outlast a polite stop.
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()

    summary = _percentiles(latencies) if len(latencies) > 1 else {}
    return {
        "what": f"{clients_n} concurrent clients for {seconds:g} s over HTTP on "
        "127.0.0.1 (one functions-framework server, warmed by one request per path; "
        "the clients share the machine)",
        "requests": len(latencies),
        "requests_per_s": round(len(latencies) / elapsed, 1),
        "latency": summary,
        "errors": errors[0],
        "target": f"errors = {LOAD_ERRORS_TARGET}",
        "pass": errors[0] == LOAD_ERRORS_TARGET and bool(latencies),
    }


def _wait_for(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the API server on port {port} did not answer /healthz")


def measure_emulator_scan(settings: Settings, samples: int = 5) -> dict[str, Any]:
    """The query of the mix's first request on the served teacher collection and on
    a copy holding only its school's rows: the same 50 rows from collections of very
    different sizes. With an index (as on Firestore) both would take about the same
    time; a time that grows with the collection is a scan of it."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    firestore = clients.firestore_client(settings)
    teacher = datasets.get("teacher_data")
    state = Reader(firestore).served().pointer.datasets[teacher.name]
    served = firestore.collection(store.row_collection(teacher, state.slot))
    probe = firestore.collection("bench_scan_probe")
    school = FieldFilter(f"{store.DATA_FIELD}.school_id", "==", "SCH-0001")

    batch, copied = firestore.batch(), 0
    for row in served.where(filter=school).stream():
        batch.set(probe.document(row.id), row.to_dict() or {})
        copied += 1
        if copied % 500 == 0:
            batch.commit()
            batch = firestore.batch()
    batch.commit()

    week = f"{store.DATA_FIELD}.week_start"
    timings: dict[str, list[float]] = {"served": [], "probe": []}
    found: dict[str, int] = {}
    for _ in range(samples):
        for name, collection in (("served", served), ("probe", probe)):
            query = (
                collection.where(filter=school)
                .where(filter=FieldFilter(week, ">=", "2025-10-01"))
                .where(filter=FieldFilter(week, "<=", "2025-10-31"))
                .order_by(week)
                .limit(50)
            )
            started = time.perf_counter()
            found[name] = len(list(query.stream()))
            timings[name].append((time.perf_counter() - started) * 1000)

    sizes = {"served": state.row_count, "probe": copied}
    medians = {name: statistics.median(values) for name, values in timings.items()}
    return {
        "what": "one query (a school's teachers for a month, 50 rows) on the served "
        "teacher collection and on a copy of only that school's rows",
        "collection_documents": sizes,
        "rows_returned": found,
        "p50_ms": {name: round(value, 1) for name, value in medians.items()},
        "samples_ms": {
            name: [round(v, 1) for v in values] for name, values in timings.items()
        },
        "size_ratio": round(sizes["served"] / max(sizes["probe"], 1), 1),
        "time_ratio": round(medians["served"] / max(medians["probe"], 1e-3), 1),
        "target": "reported (what bounds path b on the local server)",
        "pass": True,
    }


def measure_cold_import() -> dict[str, Any]:
    """Import time of the API entry module in a new interpreter (-X importtime)."""
    runs = []
    for _ in range(3):
        done = subprocess.run(
            [PYTHON, "-X", "importtime", "-c", "import main"],
            cwd=REPO / "functions" / "api",
            env={**os.environ, "PYTHONPATH": str(REPO)},
            capture_output=True,
            text=True,
            check=True,
        )
        # The last line of -X importtime is the top-level module, cumulative in us.
        last = [line for line in done.stderr.splitlines() if "import time:" in line][-1]
        runs.append(int(last.split("|")[1]) / 1000)
    return {
        "what": "cold import of functions/api/main.py (python -X importtime)",
        "samples_ms": runs,
        "import_ms": round(statistics.median(runs), 1),
        "target": "reported (a short cold start)",
        "pass": True,
    }


def describe(name: str, measure: dict[str, Any]) -> str:
    if name == "read_latency":
        a, b, c = (
            measure["paths"][path]["p50_ms"]
            for path in ("a_bigquery", "b_api_cold", "c_api_warm")
        )
        return (
            f"p50 a {a} ms, b {b} ms, c {c} ms; "
            f"a/c {measure['ratio_a_c']}, a/b {measure['ratio_a_b']}"
        )
    if name == "emulator_scan":
        p50 = measure["p50_ms"]
        docs = measure["collection_documents"]
        return (
            f"p50 {p50['served']} ms on {docs['served']} documents, "
            f"{p50['probe']} ms on {docs['probe']}, same rows "
            f"(time ratio {measure['time_ratio']}, size ratio {measure['size_ratio']})"
        )
    if name == "api_load":
        latency = measure["latency"]
        return (
            f"{measure['requests_per_s']} req/s, p99 {latency.get('p99_ms')} ms, "
            f"{measure['errors']} errors"
        )
    return json.dumps({k: v for k, v in measure.items() if k not in {"target", "pass"}})
