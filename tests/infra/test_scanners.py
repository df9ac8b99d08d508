"""checkov and trivy pass, except for the findings infra/terraform/scan-exceptions.toml
accepts; an accepted finding that no longer occurs must leave that file too.

Both run offline from .venv-iac (make setup): no update checks, no downloads.
"""

from __future__ import annotations

import json
import os
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest

from .terraform import REPO, TF_DIR

IAC_BIN = REPO / ".venv-iac" / "bin"
EXCEPTIONS = TF_DIR / "scan-exceptions.toml"
SCAN_TIMEOUT_S = 180


def accepted(scanner: str) -> set[tuple[str, str]]:
    table = tomllib.loads(EXCEPTIONS.read_text(encoding="utf-8"))[scanner]
    pairs = set()
    for check, entry in table.items():
        assert len(entry["reason"]) > 40, f"{scanner} {check}: give the reason"
        pairs |= {(check, resource) for resource in entry["resources"]}
    return pairs


def tool(name: str) -> Path:
    path = IAC_BIN / name
    if not path.exists():
        pytest.fail(
            f"expected {path}; it is missing. Run make setup to build .venv-iac."
        )
    return path


def run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=SCAN_TIMEOUT_S,
        cwd=REPO,
        env={**os.environ, **env},
        check=False,
    )


def compare(scanner: str, found: set[tuple[str, str]]) -> None:
    allowed = accepted(scanner)
    new = sorted(found - allowed)
    stale = sorted(allowed - found)
    assert new == [], (
        f"{scanner} reports findings that {EXCEPTIONS.name} does not accept: {new}. "
        "Fix the Terraform, or add each with its reason."
    )
    assert stale == [], (
        f"{EXCEPTIONS.name} accepts {scanner} findings that no longer occur: {stale}. "
        "Remove them."
    )


def test_checkov(tmp_path: Path) -> None:
    result = run(
        [
            str(tool("checkov")),
            "-d", str(TF_DIR),
            "--framework", "terraform", "secrets",
            "--skip-download", "--compact", "--quiet",
            "--output", "json",
        ],
        {"CKV_SKIP_PACKAGE_UPDATE_CHECK": "true", "HOME": str(tmp_path)},
    )  # fmt: skip
    assert result.returncode in (0, 1), f"checkov failed to run:\n{result.stderr}"
    reports: Any = json.loads(result.stdout)
    if isinstance(reports, dict):
        reports = [reports]
    found = set()
    for report in reports:
        if "results" not in report:
            continue
        assert report["summary"]["parsing_errors"] == 0, "checkov could not parse"
        for check in report["results"]["failed_checks"]:
            found.add((check["check_id"], check["resource"]))
    compare("checkov", found)


def test_trivy(tmp_path: Path) -> None:
    result = run(
        [
            str(tool("trivy")), "config", "-q",
            "--skip-check-update", "--skip-version-check",
            "--misconfig-scanners", "terraform",
            "--format", "json",
            str(TF_DIR),
        ],
        {"TRIVY_CACHE_DIR": str(tmp_path / "cache"), "HOME": str(tmp_path)},
    )  # fmt: skip
    assert result.returncode == 0, f"trivy failed to run:\n{result.stderr}"
    report = json.loads(result.stdout)
    found = set()
    for target in report.get("Results") or []:
        for finding in target.get("Misconfigurations") or []:
            if finding["Status"] == "FAIL":
                resource = finding.get("CauseMetadata", {}).get("Resource", "")
                found.add((finding["ID"], resource))
    compare("trivy", found)
