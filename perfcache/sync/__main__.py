"""``python -m perfcache.sync``: see perfcache/sync/cli.py."""

import sys

from perfcache.sync.cli import main

sys.exit(main())
