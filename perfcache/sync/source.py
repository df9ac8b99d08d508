"""The BigQuery side: has a dataset's source changed, and its result, page by page.

The change check costs no query by default: each source table's metadata (``modified``
and ``num_rows``, from ``get_table``) joins a hash of the dataset's SQL in the source
key, so a new deploy of the SQL re-queries too. A dataset may declare
``refresh_key_sql`` instead: one cheap query whose single value stands for its sources
(useful where table metadata does not move, like the local BigQuery server's
``modified``, which changes only on metadata patches).

The result is read one page at a time: through the Storage Read API when a read client
is given (Arrow record batches), else through REST pages. The BigQuery client is never
allowed to build a Storage client of its own.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from perfcache import logs
from perfcache.config import Settings
from perfcache.datasets import WAREHOUSE_PLACEHOLDER, Dataset

if TYPE_CHECKING:
    from google.cloud import bigquery as bq

log = logs.get_logger(__name__)

# Job label keys; values must be lower case, at most 63 characters.
LABEL_DATASET = "perfcache_dataset"
LABEL_RUN = "perfcache_run"
LABEL_PURPOSE = "perfcache_purpose"


def retry(settings: Settings) -> Any:
    """The client's default retry, bounded by our deadline."""
    from google.cloud import bigquery

    return bigquery.DEFAULT_RETRY.with_deadline(settings.bigquery_retry_deadline_s)


def source_key(
    client: bq.Client, settings: Settings, dataset: Dataset, run_id: str
) -> str:
    """A text that changes whenever the dataset's result may have changed."""
    sql = dataset.sql(settings.warehouse)
    parts = [f"sql={hashlib.sha256(sql.encode('utf-8')).hexdigest()[:16]}"]
    if dataset.refresh_key_sql:
        parts.append(f"refresh={_refresh_value(client, settings, dataset, run_id)}")
        return ";".join(parts)
    for table_name in dataset.sources:
        table = client.get_table(
            f"{settings.warehouse}.{table_name}", retry=retry(settings)
        )
        modified = table.modified.isoformat() if table.modified else "-"
        parts.append(f"{table_name}@{modified}#{table.num_rows}")
    return ";".join(parts)


def _refresh_value(
    client: bq.Client, settings: Settings, dataset: Dataset, run_id: str
) -> str:
    from google.cloud import bigquery

    assert dataset.refresh_key_sql is not None
    sql = dataset.refresh_key_sql.replace(WAREHOUSE_PLACEHOLDER, settings.warehouse)
    config = bigquery.QueryJobConfig(
        labels=_labels(dataset, run_id, "refresh_key"),
        maximum_bytes_billed=settings.maximum_bytes_billed,
    )
    job = client.query(sql, job_config=config, retry=retry(settings))
    rows = list(job.result(retry=retry(settings)))
    if len(rows) != 1 or len(rows[0]) != 1:
        from perfcache.errors import FatalError

        raise FatalError(
            f"dataset {dataset.name!r}: refresh_key_sql must return one row with one "
            f"column; it returned {len(rows)} rows. Fix the declaration."
        )
    value = rows[0][0]
    return value.isoformat() if hasattr(value, "isoformat") else repr(value)


@dataclass
class Result:
    """A finished query whose rows can be read (again) page by page."""

    job: Any
    schema: list[Any]
    total_rows: int
    bytes_processed: int
    # True when rows come as Arrow batches (their JSON cells stay text).
    arrow: bool


def run_query(
    client: bq.Client,
    settings: Settings,
    dataset: Dataset,
    run_id: str,
    read_client: Any | None,
) -> Result:
    """Runs the dataset's query (labelled, capped) and waits for it to finish."""
    from google.cloud import bigquery

    config = bigquery.QueryJobConfig(
        labels=_labels(dataset, run_id, "sync"),
        maximum_bytes_billed=settings.maximum_bytes_billed,
    )
    job = client.query(
        dataset.sql(settings.warehouse),
        job_config=config,
        job_id_prefix=f"perfcache_{dataset.name}_",
        retry=retry(settings),
    )
    rows = job.result(page_size=settings.sync_page_rows, retry=retry(settings))
    return Result(
        job=job,
        schema=list(rows.schema),
        total_rows=int(rows.total_rows or 0),
        bytes_processed=int(job.total_bytes_processed or 0),
        arrow=read_client is not None,
    )


def pages(
    result: Result, settings: Settings, read_client: Any | None
) -> Iterator[list[dict[str, Any]]]:
    """The result's rows, one page (or Arrow batch) at a time."""
    rows = result.job.result(page_size=settings.sync_page_rows, retry=retry(settings))
    if read_client is not None:
        page_rows = settings.sync_page_rows
        for batch in rows.to_arrow_iterable(bqstorage_client=read_client):
            # A server may send one batch of any size (the local one sends the whole
            # result at once): convert it to Python rows a page at a time.
            for offset in range(0, batch.num_rows, page_rows):
                yield batch.slice(offset, page_rows).to_pylist()
        return
    for page in rows.pages:
        yield [dict(row.items()) for row in page]


def _labels(dataset: Dataset, run_id: str, purpose: str) -> dict[str, str]:
    return {
        LABEL_DATASET: _label_value(dataset.name),
        LABEL_RUN: _label_value(run_id),
        LABEL_PURPOSE: purpose,
    }


def _label_value(text: str) -> str:
    allowed = "abcdefghijklmnopqrstuvwxyz0123456789_-"
    return "".join(c if c in allowed else "_" for c in text.lower())[:63]
