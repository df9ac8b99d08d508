"""A reader in a process of its own, polling what the API would serve during a sync.

    python -m tests.sync_reader

Prints one JSON line per poll, ``{"generation": n, "datasets": {name: [generation,
complete]}}``, until it is terminated. Settings come from the environment (the test
passes the session's servers).
"""

from __future__ import annotations

import json
import signal
import sys
import time
from types import FrameType

from perfcache import clients
from perfcache.config import Settings
from tests.sync_support import served

POLL_PAUSE_S = 0.5
_stop = False


def _on_term(signum: int, frame: FrameType | None) -> None:
    global _stop
    _stop = True


def main() -> int:
    signal.signal(signal.SIGTERM, _on_term)
    client = clients.firestore_client(Settings.from_env())
    while not _stop:
        generation, seen = served(client)
        line = {
            "generation": generation,
            "datasets": {
                name: [state.generation, state.complete] for name, state in seen.items()
            },
        }
        print(json.dumps(line), flush=True)
        # Poll often enough to catch every switch, not so often as to starve the sync.
        time.sleep(POLL_PAUSE_S)
    return 0


if __name__ == "__main__":
    sys.exit(main())
