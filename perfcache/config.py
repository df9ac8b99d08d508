"""Settings read once from the environment into a typed object.

Every field has a default that suits the local stack; a deployment sets the variables in
its function configuration (see infra/terraform). Tests build ``Settings`` directly.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from perfcache.errors import ConfigError

MiB = 1024 * 1024


@dataclass(frozen=True)
class Settings:
    """Configuration shared by the sync and the API.

    Attributes:
        project: Google Cloud project of Firestore, Pub/Sub and the BigQuery jobs.
        warehouse: ``project.dataset`` the dataset SQL reads (``{warehouse}``).
        bigquery_location: where BigQuery jobs run.
        sync_topic: Pub/Sub topic the API's trigger publishes to.
        freshness_window_s: a dataset synced more recently than this is skipped
            unless forced (the schedule runs every 2 h).
        freshness_slack_s: how much younger than the window a sync may be and still
            count as due, so a scheduled run that starts seconds early (Scheduler
            and Pub/Sub delivery jitter) is not skipped for a whole interval.
        stale_after_s: the API flags data older than this as stale (twice the
            schedule interval by default).
        maximum_bytes_billed: cap on each BigQuery query; BigQuery's minimum is
            10 MiB.
        bigquery_endpoint: REST endpoint override (the local server), else Google's.
        bigquery_storage_endpoint: gRPC ``host:port`` of a Storage Read server; empty
            means use Google's only when ``use_storage_api`` is true.
        use_storage_api: read large results through the Storage Read API.
        reject_share_limit: a dataset whose rejected rows pass this share of its rows
            fails and keeps serving its previous data.
        lease_ttl_s: a sync lease older than this belongs to a crashed run; it must
            exceed the function timeout (540 s).
        sync_page_rows: rows per page when the sync reads a result over REST.
        sync_buffer_rows: a result up to this many rows stays in memory between the
            diff and the writes; a larger one is read again for each write pass
            instead, so memory stays bounded whatever the row count.
        write_ramp_start_ops: Firestore writes per second the sync starts at; the
            rate grows by half every 5 minutes (Firestore's 500/50/5 rule).
        write_retry_deadline_s: how long one commit is retried on transient errors.
        bigquery_retry_deadline_s: how long one BigQuery call is retried on
            transient errors.
        level_grace_s: pause between the pointer switch and rewriting the slot
            readers just left, so a reader that read the old pointer finishes.
        jwt_secret: HS256 secret for the API (local runs; Secret Manager deployed).
        jwt_jwks_url: JWKS URL for RS256/ES256 ID tokens; when set, HS256 is off.
        jwt_audience / jwt_issuer: required ``aud`` and ``iss`` claims.
        cors_origins: origins allowed to call the API from a browser.
        jwt_leeway_s: clock skew tolerated on exp, nbf and iat.
        api_pointer_ttl_s: how long an API instance reuses the pointer it read; a
            new sync is served at most this long after its switch.
        api_cache_entries: responses each API instance keeps in memory (LRU).
        api_max_age_s: ``Cache-Control: private, max-age`` of data responses.
    """

    project: str = "demo-perfcache"
    warehouse: str = "demo-perfcache.school_perf"
    bigquery_location: str = "US"
    sync_topic: str = "perfcache-sync"
    freshness_window_s: float = 2 * 3600
    freshness_slack_s: float = 300
    stale_after_s: float = 4 * 3600
    maximum_bytes_billed: int = 10 * 1024 * MiB
    bigquery_endpoint: str = ""
    bigquery_storage_endpoint: str = ""
    use_storage_api: bool = True
    reject_share_limit: float = 0.01
    lease_ttl_s: float = 900
    sync_page_rows: int = 5_000
    sync_buffer_rows: int = 20_000
    write_ramp_start_ops: float = 500
    write_retry_deadline_s: float = 120
    bigquery_retry_deadline_s: float = 120
    level_grace_s: float = 5
    jwt_secret: str = ""
    jwt_jwks_url: str = ""
    jwt_audience: str = "perfcache-api"
    jwt_issuer: str = "perfcache-dev"
    cors_origins: tuple[str, ...] = field(default_factory=tuple)
    jwt_leeway_s: float = 30
    # Syncs run every 2 h: 10 s late to a switch is invisible, and 5x fewer reads
    # than 2 s for an instance under steady traffic.
    api_pointer_ttl_s: float = 10
    api_cache_entries: int = 512
    api_max_age_s: int = 30

    def __post_init__(self) -> None:
        if self.maximum_bytes_billed < 10 * MiB:
            raise ConfigError(
                "PERFCACHE_MAXIMUM_BYTES_BILLED must be at least 10485760 (10 MiB, "
                f"BigQuery's minimum); found {self.maximum_bytes_billed}."
            )
        if not 0 <= self.reject_share_limit <= 1:
            raise ConfigError(
                "PERFCACHE_REJECT_SHARE_LIMIT must be a share between 0 and 1; "
                f"found {self.reject_share_limit}."
            )
        if self.sync_page_rows < 1 or self.write_ramp_start_ops <= 0:
            raise ConfigError(
                "PERFCACHE_SYNC_PAGE_ROWS and PERFCACHE_WRITE_RAMP_START_OPS must be "
                f"positive; found {self.sync_page_rows} and "
                f"{self.write_ramp_start_ops}."
            )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Settings from ``PERFCACHE_*`` variables and the emulator host variables."""
        env = os.environ if env is None else env
        project = (
            env.get("GOOGLE_CLOUD_PROJECT")
            or env.get("PERFCACHE_PROJECT")
            or (cls.project)
        )
        defaults = cls()
        return cls(
            project=project,
            warehouse=env.get("PERFCACHE_WAREHOUSE", f"{project}.school_perf"),
            bigquery_location=env.get("PERFCACHE_BIGQUERY_LOCATION", "US"),
            sync_topic=env.get("PERFCACHE_SYNC_TOPIC", defaults.sync_topic),
            freshness_window_s=_float(
                env, "PERFCACHE_FRESHNESS_WINDOW_S", defaults.freshness_window_s
            ),
            freshness_slack_s=_float(
                env, "PERFCACHE_FRESHNESS_SLACK_S", defaults.freshness_slack_s
            ),
            stale_after_s=_float(
                env, "PERFCACHE_STALE_AFTER_S", defaults.stale_after_s
            ),
            maximum_bytes_billed=int(
                _float(
                    env, "PERFCACHE_MAXIMUM_BYTES_BILLED", defaults.maximum_bytes_billed
                )
            ),
            bigquery_endpoint=env.get("BIGQUERY_EMULATOR_HOST", ""),
            bigquery_storage_endpoint=env.get("BIGQUERY_STORAGE_EMULATOR_HOST", ""),
            use_storage_api=_bool(env, "PERFCACHE_USE_STORAGE_API", True),
            reject_share_limit=_float(
                env, "PERFCACHE_REJECT_SHARE_LIMIT", defaults.reject_share_limit
            ),
            lease_ttl_s=_float(env, "PERFCACHE_LEASE_TTL_S", defaults.lease_ttl_s),
            sync_page_rows=int(
                _float(env, "PERFCACHE_SYNC_PAGE_ROWS", defaults.sync_page_rows)
            ),
            sync_buffer_rows=int(
                _float(env, "PERFCACHE_SYNC_BUFFER_ROWS", defaults.sync_buffer_rows)
            ),
            write_ramp_start_ops=_float(
                env, "PERFCACHE_WRITE_RAMP_START_OPS", defaults.write_ramp_start_ops
            ),
            write_retry_deadline_s=_float(
                env, "PERFCACHE_WRITE_RETRY_DEADLINE_S", defaults.write_retry_deadline_s
            ),
            bigquery_retry_deadline_s=_float(
                env,
                "PERFCACHE_BIGQUERY_RETRY_DEADLINE_S",
                defaults.bigquery_retry_deadline_s,
            ),
            level_grace_s=_float(
                env, "PERFCACHE_LEVEL_GRACE_S", defaults.level_grace_s
            ),
            jwt_secret=env.get("PERFCACHE_JWT_SECRET", ""),
            jwt_jwks_url=env.get("PERFCACHE_JWT_JWKS_URL", ""),
            jwt_audience=env.get("PERFCACHE_JWT_AUDIENCE", defaults.jwt_audience),
            jwt_issuer=env.get("PERFCACHE_JWT_ISSUER", defaults.jwt_issuer),
            cors_origins=tuple(
                origin.strip()
                for origin in env.get("PERFCACHE_CORS_ORIGINS", "").split(",")
                if origin.strip()
            ),
            jwt_leeway_s=_float(env, "PERFCACHE_JWT_LEEWAY_S", defaults.jwt_leeway_s),
            api_pointer_ttl_s=_float(
                env, "PERFCACHE_API_POINTER_TTL_S", defaults.api_pointer_ttl_s
            ),
            api_cache_entries=int(
                _float(env, "PERFCACHE_API_CACHE_ENTRIES", defaults.api_cache_entries)
            ),
            api_max_age_s=int(
                _float(env, "PERFCACHE_API_MAX_AGE_S", defaults.api_max_age_s)
            ),
        )


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number; found {raw!r}.") from None


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be true or false; found {raw!r}.")
