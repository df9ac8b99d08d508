"""Loads the sample warehouse into BigQuery (the local server, or a real project).

    python -m sample.load --scale small [--seed N] [--dataset school_perf] [--if-empty]

Each table is replaced whole through load jobs of newline-delimited JSON, in chunks so
the large sample never sits in memory as one request.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from collections.abc import Sequence

from google.api_core.exceptions import NotFound
from google.cloud import bigquery

from perfcache import clients, logs
from perfcache.config import Settings
from sample.warehouse import DEFAULT_SEED, SCALES, TABLES, Row, generate

log = logs.get_logger("perfcache.sample")

# Rows per load job: about 40 MB of JSON for observations, well under request limits.
CHUNK_ROWS = 200_000


def load(
    client: bigquery.Client,
    dataset_id: str,
    scale: str,
    seed: int = DEFAULT_SEED,
) -> dict[str, int]:
    """Replaces every sample table in ``dataset_id``; returns rows loaded per table."""
    started = time.monotonic()
    warehouse = generate(SCALES[scale], seed)
    client.create_dataset(dataset_id, exists_ok=True)

    counts = {}
    for name, rows in warehouse.tables().items():
        table_id = f"{dataset_id}.{name}"
        client.delete_table(table_id, not_found_ok=True)
        client.create_table(bigquery.Table(table_id, schema=TABLES[name]))
        for start in range(0, len(rows), CHUNK_ROWS):
            _load_chunk(client, table_id, rows[start : start + CHUNK_ROWS])
        counts[name] = len(rows)

    log.info(
        "sample warehouse loaded",
        extra={
            "dataset": dataset_id,
            "scale": scale,
            "seed": seed,
            "rows": counts,
            "duration_s": round(time.monotonic() - started, 2),
        },
    )
    return counts


def _load_chunk(client: bigquery.Client, table_id: str, rows: Sequence[Row]) -> None:
    payload = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    config = bigquery.LoadJobConfig(
        source_format=bigquery.SourceFormat.NEWLINE_DELIMITED_JSON,
        schema=TABLES[table_id.rsplit(".", 1)[1]],
        write_disposition=bigquery.WriteDisposition.WRITE_APPEND,
    )
    job = client.load_table_from_file(
        io.BytesIO(payload.encode("utf-8")), table_id, job_config=config
    )
    job.result()


def is_empty(client: bigquery.Client, dataset_id: str) -> bool:
    """True when the observations table is missing or holds no rows."""
    try:
        table = client.get_table(f"{dataset_id}.weekly_observations")
    except NotFound:
        return True
    return not table.num_rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sample.load", description=__doc__)
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument(
        "--if-empty", action="store_true", help="do nothing when data is there"
    )
    args = parser.parse_args(argv)

    settings = Settings.from_env()
    client = clients.bigquery_client(settings)
    if args.if_empty and not is_empty(client, settings.warehouse):
        print(f"{settings.warehouse} already holds sample data; not reloading.")
        return 0
    counts = load(client, settings.warehouse, args.scale, args.seed)
    summary = ", ".join(f"{name} {count}" for name, count in counts.items())
    print(f"loaded {args.scale} sample into {settings.warehouse}: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
