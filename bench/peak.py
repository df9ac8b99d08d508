"""Runs a command and writes the peak resident memory of that command alone.

    python -m bench.peak <out.json> <command> [args...]

Linux counts in a child's ``ru_maxrss`` the memory of the process it was forked from,
up to its ``exec``: a sync started straight from the benchmark, which holds a loaded
sample of hundreds of MB, reports the benchmark's memory, not its own. Started from this
small launcher instead, the command's peak is its own (or the launcher's few MB, when
that is more). The exit code is the command's; SIGTERM and SIGINT are passed on to it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(
            "usage: python -m bench.peak <out.json> <command> [args...]",
            file=sys.stderr,
        )
        return 2
    out, command = Path(argv[0]), argv[1:]
    process = subprocess.Popen(command)
    for stop in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop, lambda number, _: process.send_signal(number))
    _, status, usage = os.wait4(process.pid, 0)
    # ru_maxrss is in KiB on Linux.
    out.write_text(json.dumps({"peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}))
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
