"""Routing, error bodies, caching headers, CORS and the request log line.

``Api`` is built once per function instance (``instance()``) and called for every
request with the Flask request functions-framework hands over:

1. bind the trace from ``X-Cloud-Trace-Context`` so every line of the request joins;
2. find the route (404) and check the method (405 with ``Allow``), answer preflights;
3. verify the bearer token when the route needs one (401);
4. run the handler: parse parameters (400), apply scope (403), read (cache first);
5. turn any error into a JSON body, never a stack trace; add CORS headers;
6. log one line: method, path, status, latency, role, cache.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from perfcache import logs, values
from perfcache.api import params, scope
from perfcache.api.auth import Principal, Verifier
from perfcache.api.cache import Expiring, Lru, SingleFlight
from perfcache.api.errors import ApiError, bad_parameter, forbidden
from perfcache.api.reads import SUMMARY_DATASET, Reader, Served
from perfcache.config import Settings
from perfcache.datasets import BY_NAME, DATASETS, Dataset, Role
from perfcache.errors import ConfigError, is_transient
from perfcache.store import DatasetState

if TYPE_CHECKING:
    import flask
    from google.cloud.firestore import Client
    from google.cloud.pubsub_v1 import PublisherClient

log = logs.get_logger(__name__)

API = "/api"
JSON_TYPE = "application/json"
# Trigger bodies are two small fields; anything larger is not one.
MAX_BODY_BYTES = 4096
# One data_stale warning per dataset per instance per minute is enough for an alert.
STALE_LOG_INTERVAL_S = 60.0
# Publishing waits this long for the emulator or Pub/Sub to acknowledge.
PUBLISH_TIMEOUT_S = 30.0
CORS_ALLOW_HEADERS = "Authorization, Content-Type, If-None-Match"
CORS_EXPOSE_HEADERS = "ETag, X-Data-Synced-At, X-Cache"
CORS_MAX_AGE_S = 3600

Handler = Callable[["Call"], "Reply"]


@dataclass
class Call:
    """What a handler sees of a request."""

    method: str
    path: str
    args: dict[str, list[str]]
    headers: Mapping[str, str]  # lower-case names
    body: bytes
    principal: Principal | None = None


@dataclass
class Reply:
    status: int
    body: bytes | dict[str, Any] | None
    headers: dict[str, str] = field(default_factory=dict)
    cache: str = ""  # "hit", "miss" or "" when not cacheable


@dataclass(frozen=True)
class Route:
    methods: tuple[str, ...]
    handler: str  # name of an Api method
    auth: bool = True
    dataset: str = ""


def routes() -> dict[str, Route]:
    """Path -> route; the data routes come from the dataset declarations."""
    table = {
        "/healthz": Route(("GET",), "healthz", auth=False),
        f"{API}/openapi.json": Route(("GET",), "openapi", auth=False),
        f"{API}/summary-stats": Route(("GET",), "summary_stats"),
        f"{API}/data-sync/status": Route(("GET",), "sync_status"),
        f"{API}/data-sync/trigger": Route(("POST",), "sync_trigger"),
    }
    for dataset in DATASETS:
        handler = "filter_options" if dataset.name == "filter_options" else "rows"
        table[f"{API}/{dataset.route}"] = Route(("GET",), handler, dataset=dataset.name)
    return table


ROUTES = routes()


class Api:
    """The API of one function instance; clients and caches are built lazily."""

    def __init__(
        self,
        settings: Settings,
        firestore: Callable[[], Client] | None = None,
        publisher: Callable[[], PublisherClient] | None = None,
    ) -> None:
        self.settings = settings
        self._verifier: Verifier | None = None
        self._firestore_factory = firestore or self._default_firestore
        self._publisher_factory = publisher or self._default_publisher
        self._reader: Reader | None = None
        self._publisher: PublisherClient | None = None
        self._lock = threading.Lock()
        self._served = Expiring(self._load_served, settings.api_pointer_ttl_s)
        self.responses: Lru[bytes] = Lru(settings.api_cache_entries)
        self._builds: SingleFlight[bytes] = SingleFlight()
        self._small: Lru[Any] = Lru(max(64, settings.api_cache_entries))
        self._stale_logged: dict[str, float] = {}
        self._openapi: bytes | None = None

    # --- the request --------------------------------------------------------------

    def __call__(self, request: flask.Request) -> flask.Response:
        started = time.perf_counter()
        with logs.bind_trace(self._trace(request.headers.get("X-Cloud-Trace-Context"))):
            call = Call(
                method=request.method,
                path=request.path,
                args={k: request.args.getlist(k) for k in request.args},
                headers={k.lower(): v for k, v in request.headers.items()},
                body=request.get_data(cache=False)[: MAX_BODY_BYTES + 1],
            )
            reply = self.handle(call)
            self._cors(call, reply)
            response = _response(reply)
            self._log(call, reply, started)
        return response

    def handle(self, call: Call) -> Reply:
        """The reply to ``call``; errors become JSON bodies, never tracebacks."""
        try:
            route = _route(call)
            if call.method == "OPTIONS":
                return self._preflight(call, route)
            if route.auth:
                call.principal = self._verify(call)
            handler: Callable[[Call, Route], Reply] = getattr(self, route.handler)
            return handler(call, route)
        except ApiError as error:
            return Reply(error.status, error.body(), dict(error.headers))
        except ConfigError as error:
            log.error("the API is misconfigured: %s", error)  # noqa: TRY400
            return _error(503, "misconfigured", "the API is misconfigured; see logs")
        except Exception as error:
            if is_transient(error):
                log.warning("a backend call failed and may pass: %r", error)
                reply = _error(503, "unavailable", "a backend is busy; retry shortly")
                reply.headers["Retry-After"] = "2"
                return reply
            log.exception("request failed")
            return _error(500, "internal", "internal error; the server log has details")

    # --- handlers -------------------------------------------------------------------

    def healthz(self, call: Call, route: Route) -> Reply:
        return Reply(200, {"status": "ok"})

    def openapi(self, call: Call, route: Route) -> Reply:
        if self._openapi is None:
            from perfcache.api.openapi import document

            self._openapi = _dumps(document(self.settings))
        return Reply(200, self._openapi, {"Cache-Control": "public, max-age=300"})

    def rows(self, call: Call, route: Route) -> Reply:
        dataset = BY_NAME[route.dataset]
        request = params.parse(dataset, call.args)
        principal = _principal(call)
        equalities = self._scoped(principal, dataset, request.equalities)
        served, state = self._state(dataset)
        self._check_membership(principal, request.equalities, served)

        key = ("rows", state.generation, request.normalized(), equalities)

        def build() -> dict[str, Any]:
            fingerprint = params.fingerprint(request, equalities)
            order = params.order_columns(
                dataset, request.sort, (c for c, _ in equalities)
            )
            cursor = None
            if request.page_token:
                cursor = params.decode_token(
                    request.page_token, fingerprint, len(order)
                )
            page = self._reader_().page(
                state, served.read_time, request, equalities, cursor
            )
            token = None
            if page.next_cursor is not None:
                token = params.encode_token(page.next_cursor, fingerprint)
            return {"data": page.rows, "next_page_token": token}

        return self._cached(call, dataset, state, key, build)

    def filter_options(self, call: Call, route: Route) -> Reply:
        dataset = BY_NAME[route.dataset]
        request = params.parse(dataset, call.args, paginated=False)
        principal = _principal(call)
        equalities = self._scoped(principal, dataset, request.equalities)
        served, state = self._state(dataset)
        key = ("options", state.generation, equalities)

        def build() -> dict[str, Any]:
            options = self._reader_().filter_options(
                state, served.read_time, equalities
            )
            return {"data": options, "next_page_token": None}

        return self._cached(call, dataset, state, key, build)

    def summary_stats(self, call: Call, route: Route) -> Reply:
        dataset = SUMMARY_DATASET
        request = params.parse(dataset, call.args, paginated=False)
        principal = _principal(call)
        equalities = self._scoped(principal, dataset, request.equalities)
        served, state = self._state(dataset)
        self._check_membership(principal, request.equalities, served)
        key = ("summary", state.generation, request.normalized(), equalities)

        def build() -> dict[str, Any]:
            stats = self._reader_().summary(
                state, served.read_time, request, equalities
            )
            return {"data": stats, "next_page_token": None}

        return self._cached(call, dataset, state, key, build)

    def sync_status(self, call: Call, route: Route) -> Reply:
        params.parse(_NO_PARAMS, call.args, paginated=False)
        served = self._served.get()
        now = datetime.now(UTC)
        reader = self._reader_()
        body_datasets: dict[str, Any] = {}
        for dataset in DATASETS:
            state = served.pointer.datasets.get(dataset.name)
            body_datasets[dataset.name] = self._dataset_status(
                reader, dataset.name, state, now
            )
        lease = reader.lease()
        latest = reader.latest_run()
        # Failure texts name tables and queries: only admins see them.
        if _principal(call).role != Role.ADMIN:
            body_datasets = {
                name: _without_errors(status) for name, status in body_datasets.items()
            }
            latest = _without_errors(latest) if latest else latest
        return Reply(
            200,
            {
                "data": {
                    "running": _lease_held(lease, now),
                    "latest_run": _run_summary(
                        str((latest or {}).get("run_id", "")), latest or {}
                    )
                    if latest
                    else None,
                    "generation": served.pointer.generation,
                    "stale_after_s": self.settings.stale_after_s,
                    "datasets": body_datasets,
                },
            },
            {"Cache-Control": "no-store"},
        )

    def sync_trigger(self, call: Call, route: Route) -> Reply:
        principal = _principal(call)
        if principal.role is not Role.ADMIN:
            raise forbidden("only the admin role may trigger a sync")
        data_type, force = _trigger_body(call.body)
        lease = self._reader_().lease()
        if _lease_held(lease, datetime.now(UTC)):
            raise ApiError(
                409,
                "sync_running",
                "a sync is running; retry when GET /api/data-sync/status says "
                "running: false",
                run_id=str((lease or {}).get("run_id", "")),
            )
        message_id = self._publish(data_type, force)
        log.info(
            "sync trigger published",
            extra={"data_type": data_type, "force": force, "message_id": message_id},
        )
        return Reply(
            202,
            {
                "data": {
                    "message_id": message_id,
                    "data_type": data_type,
                    "force": force,
                }
            },
        )

    # --- steps ----------------------------------------------------------------------

    def _verify(self, call: Call) -> Principal:
        if self._verifier is None:
            self._verifier = Verifier(self.settings)
        return self._verifier.verify(call.headers.get("authorization"))

    def _scoped(
        self,
        principal: Principal,
        dataset: Dataset,
        filters: Sequence[tuple[str, str]],
    ) -> tuple[tuple[str, str], ...]:
        """Filters plus the caller's scope; 403 when a filter reaches outside it."""
        caller = scope.scope_for(principal, dataset)
        scope.check_filters(principal, dataset, dict(filters))
        merged = dict(filters)
        merged.update(dict(caller.equality()))
        return tuple(sorted(merged.items()))

    def _check_membership(
        self,
        principal: Principal,
        filters: Sequence[tuple[str, str]],
        served: Served,
    ) -> None:
        school_id = scope.needs_school_membership(principal, dict(filters))
        if not school_id:
            return
        sector_id = principal.claims["sector_id"]
        state = served.pointer.datasets.get("school_data")
        if state is None:
            raise _not_synced("school_data")
        key = ("member", state.generation, school_id, sector_id)
        member = self._small.get(key)
        if member is None:
            member = self._reader_().school_in_sector(
                state, served.read_time, school_id, sector_id
            )
            self._small.put(key, member)
        if not member:
            raise scope.school_outside_sector(school_id, principal)

    def _state(self, dataset: Dataset) -> tuple[Served, DatasetState]:
        served = self._served.get()
        state = served.pointer.datasets.get(dataset.name)
        if state is None:
            raise _not_synced(dataset.name)
        return served, state

    def _cached(
        self,
        call: Call,
        dataset: Dataset,
        state: DatasetState,
        key: tuple[Any, ...],
        build: Callable[[], dict[str, Any]],
    ) -> Reply:
        """A data reply: 304 on a matching ETag, the cached body, or a fresh one."""
        stale = self._is_stale(dataset, state)
        etag = '"' + hashlib.sha256(repr(key).encode()).hexdigest()[:32] + '"'
        synced_at = values.timestamp_json(state.synced_at)
        headers = {
            "ETag": etag,
            "Cache-Control": f"private, max-age={self.settings.api_max_age_s}",
            "Vary": "Authorization, Origin",
            "X-Data-Synced-At": synced_at,
        }
        if _matches(call.headers.get("if-none-match"), etag):
            return Reply(304, None, headers, cache="hit")
        body = self.responses.get(key)
        if body is not None:
            return Reply(200, body, headers, cache="hit")

        def fresh() -> bytes:
            built = build()
            built["meta"] = {
                "synced_at": synced_at,
                "generation": state.generation,
                "stale": stale,
            }
            body = _dumps(built)
            self.responses.put(key, body)
            return body

        body = self._builds.run(key, fresh)
        return Reply(200, body, headers, cache="miss")

    def _is_stale(self, dataset: Dataset, state: DatasetState) -> bool:
        age_s = (datetime.now(UTC) - state.synced_at).total_seconds()
        stale = age_s > self.settings.stale_after_s
        now = time.monotonic()
        last = self._stale_logged.get(dataset.name, float("-inf"))
        if stale and now - last >= STALE_LOG_INTERVAL_S:
            self._stale_logged[dataset.name] = now
            log.warning(
                "serving %s synced %.0f s ago, past the %.0f s threshold",
                dataset.name,
                age_s,
                self.settings.stale_after_s,
                extra={
                    "event": "data_stale",
                    "dataset": dataset.name,
                    "age_s": round(age_s),
                    "generation": state.generation,
                },
            )
        return stale

    def _dataset_status(
        self,
        reader: Reader,
        state_name: str,
        state: DatasetState | None,
        now: datetime,
    ) -> dict[str, Any]:
        if state is None:
            return {"synced": False, "stale": True}
        age_s = (now - state.synced_at).total_seconds()
        run = self._small.get(("run", state.run_id))
        if run is None:
            run = reader.run(state.run_id) or {}
            self._small.put(("run", state.run_id), run)
        return {
            "synced": True,
            "synced_at": values.timestamp_json(state.synced_at),
            "age_s": round(age_s, 3),
            "stale": age_s > self.settings.stale_after_s,
            "generation": state.generation,
            "row_count": state.row_count,
            "last_run": _run_summary(state.run_id, run, state_name),
        }

    def _publish(self, data_type: str, force: bool) -> str:
        publisher = self._publisher_()
        topic = publisher.topic_path(self.settings.project, self.settings.sync_topic)
        data = json.dumps({"data_type": data_type, "force": force}).encode()
        try:
            future = publisher.publish(topic, data, trigger="api")
            return str(future.result(timeout=PUBLISH_TIMEOUT_S))
        except Exception as error:
            if type(error).__name__ == "NotFound":
                log.error("sync topic %s does not exist", topic)  # noqa: TRY400
                raise ApiError(
                    503,
                    "sync_topic_missing",
                    f"the sync topic {self.settings.sync_topic!r} does not exist; "
                    "create it (infra/terraform) or set PERFCACHE_SYNC_TOPIC",
                ) from error
            raise

    def _preflight(self, call: Call, route: Route) -> Reply:
        listed = ", ".join((*route.methods, "OPTIONS"))
        origin = call.headers.get("origin")
        if origin is None:
            return Reply(204, None, {"Allow": listed})
        if not self._origin_allowed(origin):
            raise forbidden(
                f"origin {origin!r} may not call this API; "
                "add it to PERFCACHE_CORS_ORIGINS"
            )
        return Reply(
            204,
            None,
            {
                "Allow": listed,
                "Access-Control-Allow-Methods": listed,
                "Access-Control-Allow-Headers": CORS_ALLOW_HEADERS,
                "Access-Control-Max-Age": str(CORS_MAX_AGE_S),
            },
        )

    def _cors(self, call: Call, reply: Reply) -> None:
        origin = call.headers.get("origin")
        if origin is None or not self._origin_allowed(origin):
            return
        reply.headers["Access-Control-Allow-Origin"] = origin
        reply.headers["Access-Control-Expose-Headers"] = CORS_EXPOSE_HEADERS
        vary = reply.headers.get("Vary", "")
        if "Origin" not in vary:
            reply.headers["Vary"] = f"{vary}, Origin" if vary else "Origin"

    def _origin_allowed(self, origin: str) -> bool:
        allowed = self.settings.cors_origins
        return origin in allowed or "*" in allowed

    def _trace(self, header: str | None) -> str:
        trace_id = (header or "").split("/", 1)[0].strip()
        if not trace_id or not trace_id.isalnum():
            return ""
        return f"projects/{self.settings.project}/traces/{trace_id}"

    def _log(self, call: Call, reply: Reply, started: float) -> None:
        latency_s = time.perf_counter() - started
        principal = call.principal
        log.info(
            "%s %s %d",
            call.method,
            call.path,
            reply.status,
            extra={
                "httpRequest": {
                    "requestMethod": call.method,
                    "requestUrl": call.path,
                    "status": reply.status,
                    "latency": f"{latency_s:.6f}s",
                },
                "method": call.method,
                "path": call.path,
                "status": reply.status,
                "latency_ms": round(latency_s * 1000, 3),
                "role": principal.role.value if principal else "",
                "cache": reply.cache,
            },
        )

    # --- clients ----------------------------------------------------------------------

    def _reader_(self) -> Reader:
        with self._lock:
            if self._reader is None:
                self._reader = Reader(self._firestore_factory())
            return self._reader

    def _publisher_(self) -> PublisherClient:
        with self._lock:
            if self._publisher is None:
                self._publisher = self._publisher_factory()
            return self._publisher

    def _load_served(self) -> Served:
        return self._reader_().served()

    def _default_firestore(self) -> Client:
        from perfcache import clients

        return clients.firestore_client(self.settings)

    def _default_publisher(self) -> PublisherClient:
        from perfcache import clients

        return clients.publisher_client(self.settings)


# A dataset-shaped declaration with no filters, for routes that take no parameters.
_NO_PARAMS = Dataset(
    name="none", sql_file="", key=(), collection="", route="", sources=()
)

_instance: Api | None = None
_instance_lock = threading.Lock()


def instance() -> Api:
    """The instance's one Api, built from the environment on first use."""
    global _instance
    with _instance_lock:
        if _instance is None:
            _instance = Api(Settings.from_env())
        return _instance


def _route(call: Call) -> Route:
    """The route of ``call``: 404 for an unknown path, 405 for a wrong method."""
    route = ROUTES.get(call.path)
    if route is None:
        raise ApiError(
            404, "not_found", f"no route {call.path}; see {API}/openapi.json"
        )
    allowed = (*route.methods, *(("HEAD",) if "GET" in route.methods else ()))
    if call.method not in (*allowed, "OPTIONS"):
        listed = ", ".join((*allowed, "OPTIONS"))
        raise ApiError(
            405,
            "method_not_allowed",
            f"{call.method} is not allowed on {call.path}; use {listed}",
            headers={"Allow": listed},
        )
    return route


def serve(request: flask.Request) -> flask.Response:
    """The function entry: the instance's Api, or a JSON 503 if it cannot be built."""
    try:
        api = instance()
    except ConfigError as error:
        log.error("the API is misconfigured: %s", error)  # noqa: TRY400
        return _response(
            _error(503, "misconfigured", "the API is misconfigured; see logs")
        )
    return api(request)


def _principal(call: Call) -> Principal:
    if call.principal is None:
        raise ApiError(401, "unauthorized", "this route needs a bearer token")
    return call.principal


def _not_synced(name: str) -> ApiError:
    return ApiError(
        503,
        "not_synced",
        f"{name} has not been synced yet; run a sync (make sync) and retry",
        headers={"Retry-After": "30"},
        dataset=name,
    )


def _trigger_body(body: bytes) -> tuple[str, bool]:
    """data_type and force from the trigger body; a 400 naming the bad field."""
    if len(body) > MAX_BODY_BYTES:
        raise bad_parameter("body", f"the body must be at most {MAX_BODY_BYTES} bytes")
    parsed: Any = {}
    if body.strip():
        try:
            parsed = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise bad_parameter(
                "body",
                'the body must be JSON like {"data_type": "all", "force": false}',
            ) from None
    if not isinstance(parsed, dict):
        raise bad_parameter("body", "the body must be a JSON object")
    known = ("data_type", "force")
    for name in parsed:
        if name not in known:
            raise bad_parameter(
                name,
                f"unknown field {name!r}; allowed: data_type, force",
                allowed=list(known),
            )
    data_type = parsed.get("data_type", "all")
    choices = ["all", *BY_NAME]
    if data_type not in choices:
        raise bad_parameter(
            "data_type",
            f"data_type must be one of {', '.join(choices)}; found {data_type!r}",
            allowed=choices,
        )
    force = parsed.get("force", False)
    if not isinstance(force, bool):
        raise bad_parameter("force", f"force must be true or false; found {force!r}")
    return str(data_type), force


def _lease_held(lease: Mapping[str, Any] | None, now: datetime) -> bool:
    if not lease:
        return False
    expires_at = lease.get("expires_at")
    return isinstance(expires_at, datetime) and expires_at > now


def _run_summary(
    run_id: str, run: Mapping[str, Any], dataset: str = ""
) -> dict[str, Any]:
    """A run log's status, times and (for ``dataset``) counts, as strict JSON."""
    summary: dict[str, Any] = {"run_id": run_id}
    for name in ("status", "trigger", "dry_run", "started_at", "finished_at", "error"):
        if name in run:
            summary[name] = values.to_json(run[name])
    per_dataset = run.get("datasets")
    if dataset and isinstance(per_dataset, Mapping) and dataset in per_dataset:
        summary["dataset"] = values.to_json(per_dataset[dataset])
    return summary


def _without_errors(value: Any) -> Any:
    """``value`` without its ``error`` and ``reason`` texts, at any depth."""
    if isinstance(value, Mapping):
        return {
            key: _without_errors(item)
            for key, item in value.items()
            if key not in {"error", "reason"}
        }
    return value


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    candidates = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return etag in candidates or "*" in candidates


def _error(status: int, code: str, message: str) -> Reply:
    return Reply(status, {"error": {"code": code, "message": message}})


def _dumps(body: Mapping[str, Any]) -> bytes:
    # allow_nan=False: a strict JSON parser must accept every response.
    return json.dumps(
        body, ensure_ascii=False, allow_nan=False, separators=(",", ":")
    ).encode("utf-8")


def _response(reply: Reply) -> flask.Response:
    import flask

    body = reply.body
    if isinstance(body, dict):
        body = _dumps(body)
    headers = dict(reply.headers)
    if reply.cache:
        headers["X-Cache"] = reply.cache
    if body is None:
        return flask.Response(status=reply.status, headers=headers)
    return flask.Response(
        body, status=reply.status, headers=headers, mimetype=JSON_TYPE
    )
