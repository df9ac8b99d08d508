"""`make run`: the whole product locally, from empty servers to a serving API.

Steps: start the servers (or reuse the ones `make up` started), load the small sample if
the warehouse is empty, run one sync, then serve the API in the foreground and print how
to call it. Ctrl-C stops the API and every server this command started.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import IO

from tools import stack

REPO = stack.REPO
VENV_BIN = REPO / ".venv" / "bin"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.run", description=__doc__)
    parser.add_argument("--dir", type=Path, default=REPO / ".local")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)

    if _port_taken(args.port):
        print(
            f"error: port {args.port} on 127.0.0.1 is already in use. Stop what "
            f"listens there or pick another: `make run PORT=8081`.",
            file=sys.stderr,
        )
        return 1

    # A terminal's Ctrl-C is SIGINT; `timeout`, `kill` and a closed terminal send
    # SIGTERM or SIGHUP. All of them must reach the clean-up below.
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)

    started_here = False
    try:
        env_vars = stack.read_env(args.dir)
        print("Reusing the servers `make up` started.", file=sys.stderr)
    except stack.StackError:
        print(
            "Starting Firestore, BigQuery and Pub/Sub on 127.0.0.1 ...", file=sys.stderr
        )
        try:
            env_vars = stack.up(args.dir).as_env()
        except stack.StackError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        started_here = True

    env = {**os.environ, **env_vars, "PYTHONPATH": str(REPO)}
    try:
        return _seed_sync_serve(env, args.port, args.dir.resolve() / "logs")
    except KeyboardInterrupt:
        return 0
    finally:
        if started_here:
            stopped = stack.down(args.dir)
            print(f"Stopped: {', '.join(stopped) or 'nothing'}.", file=sys.stderr)


def _seed_sync_serve(env: dict[str, str], port: int, logs: Path) -> int:
    python = str(VENV_BIN / "python")

    seeded = subprocess.run(
        [python, "-m", "sample.load", "--scale", "small", "--if-empty"],
        env=env,
        stderr=_log_file(logs, "seed"),
    )
    if seeded.returncode != 0:
        print(f"error: loading the sample failed; see {logs}/seed.log", file=sys.stderr)
        return seeded.returncode

    print("Syncing BigQuery into Firestore ...", file=sys.stderr)
    synced = subprocess.run(
        [python, "-m", "perfcache.sync"], env=env, stderr=_log_file(logs, "sync")
    )
    if synced.returncode != 0:
        print(
            f"error: the sync failed; its summary is above, its log {logs}/sync.log",
            file=sys.stderr,
        )
        return synced.returncode

    secret = subprocess.run(
        [python, "-m", "tools.devtoken", "--print-secret"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    env = {**env, "PERFCACHE_JWT_SECRET": env.get("PERFCACHE_JWT_SECRET") or secret}
    token = subprocess.run(
        [python, "-m", "tools.devtoken", "--role", "admin"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()

    # The worker delivers the trigger route's messages to the sync, as Eventarc does.
    worker = subprocess.Popen(
        [python, "-m", "tools.worker"], env=env, stderr=_log_file(logs, "worker")
    )
    server = subprocess.Popen(
        [
            str(VENV_BIN / "functions-framework"),
            "--source",
            str(REPO / "functions" / "api" / "main.py"),
            "--target",
            "api",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        stdout=_log_file(logs, "api"),
        stderr=subprocess.STDOUT,
    )

    url = f"http://127.0.0.1:{port}"
    auth = '-H "Authorization: Bearer $TOKEN"'
    print(
        f"\nThe API is serving on {url}\n\n"
        "An admin token (signed with the local development secret, valid 1 h; "
        "`make token` gives a new one):\n"
        f"  export TOKEN={token}\n\n"
        "Try:\n"
        f'  curl {auth} "{url}/api/teacher-data?page_size=2"\n'
        f"  curl {auth} {url}/api/data-sync/status\n"
        f"  curl {auth} -X POST -d '{{\"force\": true}}' "
        f"{url}/api/data-sync/trigger\n\n"
        "Tokens for other roles: make token ROLE=school SCOPE=SCH-0001\n"
        f"Logs (Cloud Logging JSON): {logs}/api.log, worker.log, sync.log\n"
        "Ctrl-C stops the API and the servers this command started.\n",
        flush=True,
    )
    try:
        return server.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        for process in (server, worker):
            _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _log_file(logs: Path, name: str) -> IO[bytes]:
    logs.mkdir(parents=True, exist_ok=True)
    return (logs / f"{name}.log").open("ab")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _port_taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


if __name__ == "__main__":
    sys.exit(main())
