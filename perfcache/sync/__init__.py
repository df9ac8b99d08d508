"""The sync: copies the datasets' BigQuery results into Firestore.

One run claims a lease, then for each dataset checks freshness and whether its sources
changed, reads the query result page by page, diffs it against the slot nobody reads,
writes only what changed, and finally switches the pointer for every written dataset in
one transaction. ``engine.run_sync`` is the one entry; the CLI (``python -m
perfcache.sync``) and the Pub/Sub function (functions/sync/main.py) both call it.
"""

from perfcache.sync.engine import Services, SyncRequest, run_sync
from perfcache.sync.runlog import DatasetReport, RunReport

__all__ = ["DatasetReport", "RunReport", "Services", "SyncRequest", "run_sync"]
