"""Start and stop the three local protocol servers the product runs against.

The Firestore and Pub/Sub emulators come with the machine's gcloud packages and run as
plain JVMs (never through gcloud's wrapper scripts, which leave the JVM behind when
killed). BigQuery is local-bigquery in its own Python 3.13 venv. Every server binds
to 127.0.0.1 on a free port; the settings land in ``<dir>/env`` as shell assignments
and the PIDs in ``<dir>/pids`` so ``down`` stops exactly what ``up`` started.

    python -m tools.stack up --dir .local --project demo-perfcache
    python -m tools.stack down --dir .local
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

HOST = "127.0.0.1"
REPO = Path(__file__).resolve().parent.parent
BQ_VENV = REPO / ".venv-bqemu"
DEFAULT_PROJECT = "demo-perfcache"

# A cold JVM on a shared 2-core machine takes 5-15 s; leave room for a loaded CI box.
START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 15.0
START_ATTEMPTS = 2


# Servers started by this process, kept so they are reaped when stopped (a dropped
# Popen of a live child is a leak Python warns about).
_children: dict[int, subprocess.Popen[bytes]] = {}


class StackError(RuntimeError):
    """A server is missing, would not start, or would not answer."""


@dataclass
class Server:
    """One server process: its name, command line and readiness probe."""

    name: str
    argv: list[str]
    ready: Callable[[], bool]
    env: dict[str, str] = field(default_factory=dict)


# Settings every local run shares. Firestore's 500/50/5 write ramp protects a real
# database while it splits its storage for new traffic; the emulator has nothing to
# split, so pacing there would only slow local syncs, tests and benchmarks.
LOCAL_SETTINGS = {"PERFCACHE_WRITE_RAMP_START_OPS": "1000000"}

# What Terraform creates in the cloud and the local run needs too: the topic the API's
# trigger publishes to, and a subscription `tools.worker` pulls to run the sync.
SYNC_TOPIC = "perfcache-sync"
SYNC_SUBSCRIPTION = "perfcache-sync-local"


@dataclass
class Endpoints:
    """Where the started servers listen; written to the env file."""

    project: str
    firestore: str
    pubsub: str
    bigquery_rest: str
    bigquery_grpc: str

    def as_env(self) -> dict[str, str]:
        return {
            "GOOGLE_CLOUD_PROJECT": self.project,
            "FIRESTORE_EMULATOR_HOST": self.firestore,
            "PUBSUB_EMULATOR_HOST": self.pubsub,
            "BIGQUERY_EMULATOR_HOST": f"http://{self.bigquery_rest}",
            "BIGQUERY_STORAGE_EMULATOR_HOST": self.bigquery_grpc,
            **LOCAL_SETTINGS,
        }


def free_port() -> int:
    """A port nothing listens on right now (the server binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def gcloud_root() -> Path:
    """The gcloud SDK root, where the emulator jars live."""
    override = os.environ.get("GCLOUD_SDK_ROOT")
    if override:
        return Path(override)
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        raise StackError(
            "gcloud is not on PATH, so the Firestore and Pub/Sub emulators cannot be "
            "found. Install the Debian packages google-cloud-cli, "
            "google-cloud-cli-firestore-emulator and google-cloud-cli-pubsub-emulator, "
            "or set GCLOUD_SDK_ROOT to an SDK that has them."
        )
    found = subprocess.run(
        [gcloud, "info", "--format=value(installation.sdk_root)"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if found.returncode != 0 or not found.stdout.strip():
        raise StackError(
            f"`gcloud info` could not name the SDK root (exit {found.returncode}): "
            f"{found.stderr.strip()!r}. Set GCLOUD_SDK_ROOT to the SDK folder."
        )
    return Path(found.stdout.strip())


def require_java() -> str:
    java = shutil.which("java")
    if java is None:
        raise StackError(
            "java is not on PATH; the Firestore and Pub/Sub emulators need Java 17. "
            "Install it with `apt-get install openjdk-17-jre-headless`."
        )
    return java


def emulator_jars() -> tuple[Path, Path]:
    """The Firestore and Pub/Sub emulator jars, or a StackError naming the package."""
    platform = gcloud_root() / "platform"
    firestore = platform / "cloud-firestore-emulator" / "cloud-firestore-emulator.jar"
    if not firestore.is_file():
        raise StackError(
            f"the Firestore emulator jar is missing (expected {firestore}). "
            "Install the Debian package google-cloud-cli-firestore-emulator."
        )
    pubsub = sorted(
        (platform / "pubsub-emulator" / "lib").glob("cloud-pubsub-emulator-*.jar")
    )
    if not pubsub:
        raise StackError(
            f"the Pub/Sub emulator jar is missing (expected "
            f"{platform / 'pubsub-emulator' / 'lib'}/cloud-pubsub-emulator-*.jar). "
            "Install the Debian package google-cloud-cli-pubsub-emulator."
        )
    return firestore, pubsub[-1]


def local_bigquery() -> Path:
    binary = BQ_VENV / "bin" / "local-bigquery"
    if not binary.is_file():
        raise StackError(
            f"local-bigquery is not installed (expected {binary}). Run `make setup`."
        )
    return binary


def http_ok(url: str, method: str = "GET") -> bool:
    """True when the URL answers 2xx; any connection error means not yet."""
    request = urllib.request.Request(url, method=method)  # noqa: S310 (loopback URL)
    try:
        with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310
            return 200 <= int(response.status) < 300
    except (urllib.error.URLError, OSError):
        return False


def firestore_ready(host: str, project: str) -> Callable[[], bool]:
    def probe() -> bool:
        if not http_ok(f"http://{host}/"):
            return False
        # The root answering is not enough: a real client call proves the API is up.
        return http_ok(
            f"http://{host}/v1/projects/{project}/databases/(default)/documents/"
            "_stack_probe"
        )

    return probe


def pubsub_ready(host: str, project: str) -> Callable[[], bool]:
    return lambda: http_ok(f"http://{host}/v1/projects/{project}/topics")


def bigquery_ready(host: str, project: str) -> Callable[[], bool]:
    return lambda: http_ok(f"http://{host}/bigquery/v2/projects/{project}/datasets")


def firestore_heap() -> list[str]:
    """The Firestore emulator's JVM heap flag, from FIRESTORE_EMULATOR_HEAP (``8g``).

    The emulator keeps every document in its heap. The JVM's default (a quarter of
    the machine's memory) holds the medium sample; the large sample's two slots hold
    about 3.4 million documents and need more, or commits stall in garbage collection.
    """
    heap = os.environ.get("FIRESTORE_EMULATOR_HEAP", "").strip()
    if not heap:
        return []
    if not re.fullmatch(r"[1-9][0-9]*[mMgG]", heap):
        raise StackError(
            f"FIRESTORE_EMULATOR_HEAP must be a JVM heap size such as 8g or 6144m; "
            f"found {heap!r}. Fix or unset it."
        )
    return [f"-Xmx{heap}"]


def plan(state_dir: Path, project: str) -> tuple[Endpoints, list[Server]]:
    """The three servers to start, each on its own free loopback port."""
    java = require_java()
    firestore_jar, pubsub_jar = emulator_jars()
    bq_binary = local_bigquery()

    ports = {name: free_port() for name in ("fs", "fs_ws", "ps", "bq", "bq_grpc")}
    endpoints = Endpoints(
        project=project,
        firestore=f"{HOST}:{ports['fs']}",
        pubsub=f"{HOST}:{ports['ps']}",
        bigquery_rest=f"{HOST}:{ports['bq']}",
        bigquery_grpc=f"{HOST}:{ports['bq_grpc']}",
    )
    bq_data = state_dir / "bigquery-data"
    servers = [
        Server(
            name="firestore",
            argv=[
                java,
                *firestore_heap(),
                "-Duser.language=en",
                "-cp",
                str(firestore_jar),
                "com.google.cloud.datastore.emulator.firestore.CloudFirestore",
                f"--host={HOST}",
                f"--port={ports['fs']}",
                f"--websocket_port={ports['fs_ws']}",
            ],
            ready=firestore_ready(endpoints.firestore, project),
        ),
        Server(
            name="pubsub",
            argv=[
                java,
                "-jar",
                str(pubsub_jar),
                f"--host={HOST}",
                f"--port={ports['ps']}",
            ],
            ready=pubsub_ready(endpoints.pubsub, project),
        ),
        Server(
            name="bigquery",
            argv=[
                str(bq_binary),
                "serve",
                "--host",
                HOST,
                "--port",
                str(ports["bq"]),
                "--grpc-port",
                str(ports["bq_grpc"]),
                "--project",
                project,
                "--data-dir",
                str(bq_data),
            ],
            ready=bigquery_ready(endpoints.bigquery_rest, project),
        ),
    ]
    return endpoints, servers


def _pid_dir(state_dir: Path) -> Path:
    return state_dir / "pids"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def up(state_dir: Path, project: str = DEFAULT_PROJECT) -> Endpoints:
    """Start all three servers; return once each answers, or stop them and raise."""
    state_dir = state_dir.resolve()
    if any(_running(state_dir)):
        raise StackError(
            f"servers from {state_dir} are already running; run `make down` first."
        )
    logs = state_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    _pid_dir(state_dir).mkdir(parents=True, exist_ok=True)

    # A free port is only free when it is picked: another process may bind it before
    # the server does. One more attempt, on new ports, rides out that race.
    for attempt in range(START_ATTEMPTS):
        try:
            endpoints = _start_all(state_dir, project)
            break
        except StackError:
            if attempt + 1 == START_ATTEMPTS:
                raise

    _create_sync_topic(endpoints)
    env_file = state_dir / "env"
    env_file.write_text(
        "".join(f"{key}={value}\n" for key, value in endpoints.as_env().items())
    )
    return endpoints


def clear_firestore(firestore_host: str, project: str, timeout_s: float = 120) -> None:
    """Deletes every document of ``project`` on the Firestore emulator at the host."""
    url = (
        f"http://{firestore_host}/emulator/v1/projects/{project}"
        "/databases/(default)/documents"
    )
    request = urllib.request.Request(url, method="DELETE")
    with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310
        if response.status != 200:
            raise StackError(f"clearing Firestore answered {response.status}")


def _create_sync_topic(endpoints: Endpoints) -> None:
    base = f"http://{endpoints.pubsub}/v1/projects/{endpoints.project}"
    topic = f"projects/{endpoints.project}/topics/{SYNC_TOPIC}"
    for url, body in (
        (f"{base}/topics/{SYNC_TOPIC}", {}),
        (f"{base}/subscriptions/{SYNC_SUBSCRIPTION}", {"topic": topic}),
    ):
        request = urllib.request.Request(  # noqa: S310 (loopback URL)
            url,
            data=json.dumps(body).encode(),
            method="PUT",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310
            pass


def _start_all(state_dir: Path, project: str) -> Endpoints:
    bq_data = state_dir / "bigquery-data"
    shutil.rmtree(bq_data, ignore_errors=True)
    bq_data.mkdir(parents=True)

    endpoints, servers = plan(state_dir, project)
    try:
        for server in servers:
            _start(server, state_dir)
        deadline = time.monotonic() + START_TIMEOUT_S
        for server in servers:
            _wait_ready(server, state_dir, deadline)
    except BaseException:
        down(state_dir)
        raise
    return endpoints


def _start(server: Server, state_dir: Path) -> None:
    log = (state_dir / "logs" / f"{server.name}.log").open("ab")
    # Same HOME as the DuckDB extension import in `make setup`, so no download happens.
    env = {**os.environ, **server.env}
    process = subprocess.Popen(
        server.argv,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )
    log.close()
    _children[process.pid] = process
    (_pid_dir(state_dir) / f"{server.name}.pid").write_text(f"{process.pid}\n")


def _wait_ready(server: Server, state_dir: Path, deadline: float) -> None:
    pid = int((_pid_dir(state_dir) / f"{server.name}.pid").read_text())
    log = state_dir / "logs" / f"{server.name}.log"
    while time.monotonic() < deadline:
        if server.ready():
            return
        if not _alive(pid) or _zombie(pid):
            raise StackError(
                f"the {server.name} server exited during start-up; see {log}:\n"
                + _tail(log)
            )
        time.sleep(0.2)
    raise StackError(
        f"the {server.name} server did not answer within {START_TIMEOUT_S:.0f} s; "
        f"see {log}:\n" + _tail(log)
    )


def _zombie(pid: int) -> bool:
    child = _children.get(pid)
    if child is not None:
        if child.poll() is None:
            return False
        del _children[pid]
        return True
    with contextlib.suppress(ChildProcessError):
        finished, _ = os.waitpid(pid, os.WNOHANG)
        return finished == pid
    return False


def _tail(log: Path, lines: int = 15) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _running(state_dir: Path) -> Iterator[tuple[str, int]]:
    pid_dir = _pid_dir(state_dir)
    if not pid_dir.is_dir():
        return
    for pid_file in sorted(pid_dir.glob("*.pid")):
        try:
            pid = int(pid_file.read_text())
        except (OSError, ValueError):
            continue
        if _alive(pid):
            yield pid_file.stem, pid


def down(state_dir: Path) -> list[str]:
    """Stop what ``up`` started from this folder (each server's whole process group)."""
    state_dir = state_dir.resolve()
    stopped = []
    for name, pid in list(_running(state_dir)):
        _stop_group(pid)
        stopped.append(name)
    pid_dir = _pid_dir(state_dir)
    if pid_dir.is_dir():
        for pid_file in pid_dir.glob("*.pid"):
            pid_file.unlink()
    return stopped


def _stop_group(pid: int) -> None:
    # Each server leads its own session (start_new_session), so its group id is its pid.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline:
        if _zombie(pid) or not _alive(pid):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    child = _children.pop(pid, None)
    if child is not None:
        child.wait(timeout=STOP_TIMEOUT_S)


def read_env(state_dir: Path) -> dict[str, str]:
    """The settings ``up`` wrote, or a StackError saying to run ``make up``."""
    env_file = state_dir / "env"
    if not env_file.is_file() or not any(_running(state_dir.resolve())):
        raise StackError(
            f"the local servers are not running (no live {state_dir}/pids); "
            "run `make up` first."
        )
    pairs = (line.split("=", 1) for line in env_file.read_text().splitlines() if line)
    return {key: value for key, value in pairs}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.stack", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status", "require"])
    parser.add_argument("--dir", type=Path, default=REPO / ".local")
    parser.add_argument("--project", default=DEFAULT_PROJECT)
    args = parser.parse_args(argv)

    try:
        if args.command == "up":
            endpoints = up(args.dir, args.project)
            for key, value in endpoints.as_env().items():
                print(f"{key}={value}")
            print(
                "The servers start empty: `make seed` loads the sample warehouse, "
                "then `make sync` fills Firestore and `make serve` serves the API.",
                file=sys.stderr,
            )
        elif args.command == "require":
            read_env(args.dir)
        elif args.command == "down":
            stopped = down(args.dir)
            print("stopped: " + (", ".join(stopped) if stopped else "nothing running"))
        else:
            running = dict(_running(args.dir.resolve()))
            for name in ("firestore", "pubsub", "bigquery"):
                state = f"pid {running[name]}" if name in running else "stopped"
                print(f"{name}: {state}")
    except StackError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
