"""``python -m perfcache.sync``: one sync run from a shell, summary on stdout.

    python -m perfcache.sync [--data-type all|<dataset>] [--force] [--dry-run]

Prints exactly one JSON object (the run summary, see perfcache/sync/runlog.py) on
stdout; log lines go to stderr. Exits 0 when the run succeeded or had nothing to do
(skipped, already running, duplicate), 1 when it failed, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import json
import sys

from perfcache import logs
from perfcache.config import Settings
from perfcache.datasets import DATASETS
from perfcache.errors import ConfigError
from perfcache.sync.engine import SyncRequest, run_sync

log = logs.get_logger(__name__)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m perfcache.sync",
        description="Copy the datasets' BigQuery results into Firestore.",
    )
    parser.add_argument(
        "--data-type",
        default="all",
        choices=["all", *(dataset.name for dataset in DATASETS)],
        help="one dataset, or all of them (default)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="sync even when fresh or when the sources look unchanged",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="report what would change; write nothing but the run log",
    )
    args = parser.parse_args(argv)

    try:
        settings = Settings.from_env()
    except ConfigError as error:
        log.error("bad configuration", extra={"error": str(error)})  # noqa: TRY400
        return 2
    request = SyncRequest(
        data_type=args.data_type, force=args.force, dry_run=args.dry_run, trigger="cli"
    )
    report = run_sync(settings, request)
    print(json.dumps(report.to_dict(), ensure_ascii=False))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
