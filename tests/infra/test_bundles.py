"""The bundles `make package` builds: complete, reproducible, and runnable as deployed.

The last two tests do what the Cloud Functions builder does: unpack a bundle into an
empty folder, install its requirements.txt into a fresh venv (pinned versions only,
no dependency resolution), import it and answer one request through
functions-framework on 127.0.0.1. Every Google client in them is pointed at a closed
loopback port, so nothing can reach Google or a metadata server.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from perfcache import datasets
from tools import package

from .terraform import REPO

HOST = "127.0.0.1"
INSTALL_TIMEOUT_S = 300
START_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("function", package.FUNCTIONS)
def test_requirements_are_pinned_from_the_lock(function: str) -> None:
    path = REPO / "functions" / function / "requirements.txt"
    assert path.read_text(encoding="utf-8") == package.requirements_text(function), (
        f"{path.relative_to(REPO)} is out of date with requirements/runtime.in and "
        "dev.lock; run make pin-requirements"
    )


@pytest.fixture
def fake_repo(tmp_path: Path) -> Path:
    """A checkout with the real shared package and a placeholder function."""
    root = tmp_path / "repo"
    shutil.copytree(REPO / "perfcache", root / "perfcache")
    (root / "perfcache" / "__pycache__").mkdir(exist_ok=True)
    (root / "perfcache" / "__pycache__" / "x.pyc").write_bytes(b"\0")
    source = root / "functions" / "demo"
    source.mkdir(parents=True)
    (source / "main.py").write_text("def demo() -> None: ...\n", encoding="utf-8")
    (source / "requirements.txt").write_text("six==1.17.0\n", encoding="utf-8")
    return root


def test_bundle_holds_main_requirements_package_and_sql(fake_repo: Path) -> None:
    names = set(package.bundle_files("demo", fake_repo))
    assert {"main.py", "requirements.txt", "perfcache/__init__.py"} <= names
    for dataset in datasets.DATASETS:
        assert f"perfcache/sql/{dataset.sql_file}" in names
    assert not [name for name in names if "__pycache__" in name]


def test_bundle_is_reproducible(fake_repo: Path, tmp_path: Path) -> None:
    files = package.bundle_files("demo", fake_repo)
    first = package.write_bundle(files, tmp_path / "one" / "demo.zip")
    os.utime(fake_repo / "functions" / "demo" / "main.py", (1e9, 1e9))
    second = package.write_bundle(files, tmp_path / "two" / "demo.zip")
    assert first == second, "the same sources gave different zip bytes"


def test_missing_entry_file_says_what_to_do(fake_repo: Path) -> None:
    (fake_repo / "functions" / "demo" / "main.py").unlink()
    with pytest.raises(package.PackageError, match=r"functions/demo/main\.py"):
        package.bundle_files("demo", fake_repo)


# --- the real bundles -----------------------------------------------------------------


def runtime_python() -> list[str]:
    """The function runtime's Python (3.12) when installed, else this one."""
    candidates = [["python3.12"]]
    pyenv = shutil.which("pyenv")
    if pyenv:
        listed = subprocess.run(
            [pyenv, "versions", "--bare"], capture_output=True, text=True, check=False
        ).stdout.split()
        candidates += [
            ["env", f"PYENV_VERSION={v}", "python3.12"]
            for v in listed
            if v.startswith("3.12")
        ]
    for argv in candidates:
        probe = subprocess.run(
            [*argv, "--version"], capture_output=True, text=True, check=False
        )
        if probe.returncode == 0:
            return argv
    return [sys.executable]


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``make package``'s zips, built into a temporary folder."""
    out = tmp_path_factory.mktemp("build")
    result = subprocess.run(
        [sys.executable, "-m", "tools.package", "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert result.returncode == 0, f"make package failed:\n{result.stderr}"
    return {function: out / f"{function}.zip" for function in package.FUNCTIONS}


@pytest.fixture(scope="module")
def runtime_venvs(
    bundles: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """One fresh venv per distinct requirements.txt (shared when they are equal)."""
    venvs: dict[str, Path] = {}
    by_text: dict[bytes, Path] = {}
    for function, bundle in bundles.items():
        with zipfile.ZipFile(bundle) as archive:
            requirements = archive.read("requirements.txt")
        if requirements not in by_text:
            venv = tmp_path_factory.mktemp(f"venv-{function}")
            listed = venv.parent / f"{venv.name}-requirements.txt"
            listed.write_bytes(requirements)
            subprocess.run([*runtime_python(), "-m", "venv", str(venv)], check=True)
            install = subprocess.run(
                [
                    str(venv / "bin" / "pip"), "install", "-q",
                    "--no-deps", "--only-binary=:all:", "-r", str(listed),
                ],
                capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, check=False,
            )  # fmt: skip
            assert install.returncode == 0, f"pip install failed:\n{install.stderr}"
            check = subprocess.run(
                [str(venv / "bin" / "pip"), "check"],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            assert check.returncode == 0, (
                "the pins miss a dependency (run make pin-requirements):\n"
                + check.stdout
            )
            by_text[requirements] = venv
        venvs[function] = by_text[requirements]
    return venvs


def unpack(bundle: Path, target: Path) -> Path:
    target.mkdir()
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(target)
    return target


@pytest.fixture
def isolated_env(tmp_path: Path) -> dict[str, str]:
    """Settings for a bundle: Google clients aimed at a closed port on 127.0.0.1."""
    closed = f"{HOST}:{free_port()}"
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "GOOGLE_CLOUD_PROJECT": "test-perfcache",
        "PERFCACHE_PROJECT": "test-perfcache",
        "FIRESTORE_EMULATOR_HOST": closed,
        "PUBSUB_EMULATOR_HOST": closed,
        "BIGQUERY_EMULATOR_HOST": f"http://{closed}",
        "BIGQUERY_STORAGE_EMULATOR_HOST": closed,
        "GCE_METADATA_HOST": closed,
        "GCE_METADATA_IP": closed,
        "NO_GCE_CHECK": "True",
        "PERFCACHE_JWT_SECRET": "bundle-test-secret-" + "x" * 32,
    }


def test_sync_bundle_imports_its_entry_point(
    bundles: dict[str, Path],
    runtime_venvs: dict[str, Path],
    isolated_env: dict[str, str],
    tmp_path: Path,
) -> None:
    folder = unpack(bundles["sync"], tmp_path / "sync")
    result = subprocess.run(
        [
            str(runtime_venvs["sync"] / "bin" / "python"), "-c",
            "import main; assert callable(main.sync), 'main.sync is not callable'",
        ],
        cwd=folder, env=isolated_env, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, f"the sync bundle does not import:\n{result.stderr}"


@pytest.fixture
def api_server(
    bundles: dict[str, Path],
    runtime_venvs: dict[str, Path],
    isolated_env: dict[str, str],
    tmp_path: Path,
) -> Iterator[str]:
    """The api bundle served by functions-framework; yields its base URL."""
    folder = unpack(bundles["api"], tmp_path / "api")
    port = free_port()
    log = (tmp_path / "api.log").open("w+", encoding="utf-8")
    process = subprocess.Popen(
        [
            str(runtime_venvs["api"] / "bin" / "functions-framework"),
            "--source", "main.py", "--target", "api",
            "--host", HOST, "--port", str(port),
        ],
        cwd=folder, env=isolated_env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        yield f"http://{HOST}:{port}"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.seek(0)
        print(log.read())
        log.close()


def test_api_bundle_answers_healthz(api_server: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    last = ""
    while time.monotonic() < deadline:
        try:
            url = f"{api_server}/healthz"  # always http://127.0.0.1:<port>
            with urllib.request.urlopen(url, timeout=5) as reply:  # noqa: S310
                assert reply.status == 200
                return
        except urllib.error.HTTPError as error:
            pytest.fail(f"expected 200 from /healthz; found {error.code}")
        except OSError as error:
            last = str(error)
            time.sleep(0.5)
    pytest.fail(f"the api bundle did not answer within {START_TIMEOUT_S} s: {last}")
