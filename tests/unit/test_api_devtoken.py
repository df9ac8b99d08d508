"""tools/devtoken: development tokens the API accepts, and only with their scope."""

from __future__ import annotations

import pytest

from perfcache.api.auth import Verifier
from perfcache.config import Settings
from perfcache.datasets import Role
from tools import devtoken


@pytest.fixture
def verifier() -> Verifier:
    return Verifier(Settings(jwt_secret=devtoken.DEV_SECRET))


@pytest.mark.parametrize(
    ("argv", "role", "scope"),
    [
        (["--role", "admin"], Role.ADMIN, {}),
        (
            ["--role", "sector", "--scope", "SEC-01"],
            Role.SECTOR,
            {"sector_id": "SEC-01"},
        ),
        (
            ["--role", "school", "--scope", "SCH-0002"],
            Role.SCHOOL,
            {"school_id": "SCH-0002"},
        ),
        (
            ["--role", "teacher", "--scope", "T-00001", "--school", "SCH-0003"],
            Role.TEACHER,
            {"teacher_id": "T-00001", "school_id": "SCH-0003"},
        ),
    ],
)
def test_printed_token_is_only_the_jwt_and_verifies(
    capsys: pytest.CaptureFixture[str],
    verifier: Verifier,
    argv: list[str],
    role: Role,
    scope: dict[str, str],
) -> None:
    assert devtoken.main(argv) == 0
    printed = capsys.readouterr().out
    assert printed.count("\n") == 1
    assert printed.count(".") == 2
    principal = verifier.verify(f"Bearer {printed.strip()}")
    assert (principal.role, dict(principal.claims)) == (role, scope)


@pytest.mark.parametrize(
    "argv",
    [["--role", "sector"], ["--role", "teacher", "--scope", "T-00001"]],
)
def test_a_missing_scope_is_refused_with_the_fix(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    assert devtoken.main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "needs --" in captured.err
    assert "make token ROLE=" in captured.err


def test_print_secret_prints_the_local_secret(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert devtoken.main(["--print-secret"]) == 0
    assert capsys.readouterr().out.strip() == devtoken.DEV_SECRET


def test_the_api_entry_imports_no_google_client_before_a_request() -> None:
    """Cold start: the entry module loads the Firestore/Pub/Sub clients lazily."""
    import subprocess
    import sys

    probe = (
        "import sys, functions.api.main; "
        "print(sorted(m for m in sys.modules if m.startswith('google.cloud.')))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "[]"
