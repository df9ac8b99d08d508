"""The benchmark's memory launcher reports the command's peak, not its parent's."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench import peak

ALLOCATE = "x = bytearray({mb} * 2**20); x[::4096] = b'1' * len(x[::4096])"


def _peak(tmp_path: Path, code: str) -> tuple[int, float]:
    out = tmp_path / "peak.json"
    status = subprocess.run(
        [sys.executable, "-m", "bench.peak", str(out), sys.executable, "-c", code],
        check=False,
    ).returncode
    return status, float(json.loads(out.read_text())["peak_rss_mb"])


def test_a_big_parent_does_not_count_in_a_small_command(tmp_path: Path) -> None:
    # This process holds 400 MB while starting the launcher, as the benchmark does.
    held = bytearray(400 * 2**20)
    held[::4096] = b"1" * len(held[::4096])

    status, small = _peak(tmp_path, "pass")

    assert status == 0
    assert small < 100
    del held


def test_the_command_peak_and_exit_code_come_back(tmp_path: Path) -> None:
    status, big = _peak(tmp_path, ALLOCATE.format(mb=300) + "; raise SystemExit(3)")

    assert status == 3
    assert 300 <= big < 400


def test_a_call_without_a_command_says_how_to_use_it() -> None:
    assert peak.main(["only-an-output-file"]) == 2


def test_a_stop_sent_to_the_launcher_reaches_the_command(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    code = (
        "import pathlib, signal, sys, time\n"
        "signal.signal(signal.SIGTERM, lambda *_: sys.exit(7))\n"
        f"pathlib.Path({str(ready)!r}).touch()\n"
        "time.sleep(60)\n"
    )
    out = tmp_path / "peak.json"
    launcher = subprocess.Popen(
        [sys.executable, "-m", "bench.peak", str(out), sys.executable, "-c", code]
    )
    deadline = time.monotonic() + 30
    while not ready.exists() and time.monotonic() < deadline:
        time.sleep(0.05)

    launcher.send_signal(signal.SIGTERM)

    assert launcher.wait(timeout=30) == 7
    assert json.loads(out.read_text())["peak_rss_mb"] > 0
