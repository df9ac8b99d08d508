"""The Terraform stack read into plain Python, for the offline checks.

python-hcl2 turns each ``.tf`` file into dicts: a block is a dict marked with
``__is_block__`` (nested blocks come as lists of them), an attribute is a plain value,
and an expression is its source text wrapped in ``${...}``. ``Stack`` indexes the
declarations; ``references`` finds what an expression refers to.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import hcl2

REPO = Path(__file__).resolve().parents[2]
TF_DIR = REPO / "infra" / "terraform"
SCHEMA_FILE = Path(__file__).resolve().parent / "data" / "google-provider-schema.json"

BLOCK = "__is_block__"
# Arguments every resource takes from Terraform itself, not from the provider.
META_ARGUMENTS = frozenset(
    {"count", "for_each", "depends_on", "lifecycle", "provider", "provisioner"}
)

# `var.x`, `local.x`, `data.t.n`, `google_t.n`, then attribute steps and indexes.
_REFERENCE = re.compile(
    r"(?<![\w.\-/])(var|local|data\.google_[a-z0-9_]+|google_[a-z0-9_]+)"
    r"((?:\.[A-Za-z_][\w-]*|\[[^\]]*\])+)"
)
_STEP = re.compile(r"\.([A-Za-z_][\w-]*)|\[[^\]]*\]")


@dataclass(frozen=True)
class Reference:
    """One reference in an expression: its root and the names after it."""

    root: str  # "var", "local", "data.google_x" or "google_x"
    names: tuple[str, ...]  # attribute steps, indexes dropped
    text: str

    @property
    def address(self) -> str:
        return f"{self.root}.{self.names[0]}" if self.names else self.root


def references(value: Any) -> Iterator[Reference]:
    """Every reference in an attribute value (strings, lists and dicts, nested)."""
    if isinstance(value, str):
        if "${" not in value:
            return
        for match in _REFERENCE.finditer(value):
            names = tuple(step for step in _STEP.findall(match.group(2)) if step)
            yield Reference(match.group(1), names, match.group(0))
    elif isinstance(value, dict):
        for item in value.values():
            yield from references(item)
    elif isinstance(value, list):
        for item in value:
            yield from references(item)


def unwrap(value: Any) -> Any:
    """``${expr}`` -> ``expr``; other values unchanged."""
    if isinstance(value, str) and value.startswith("${") and value.endswith("}"):
        return value[2:-1]
    return value


def is_block(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(item, dict) and item.get(BLOCK) for item in value
    )


def body_items(body: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """A block's entries without the parser's markers."""
    for key, value in body.items():
        if not key.startswith("__"):
            yield key, value


@dataclass
class Stack:
    """Every declaration of the Terraform folder, by kind and name."""

    files: dict[str, dict[str, Any]]
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    resource_files: dict[str, str] = field(default_factory=dict)
    data: dict[str, dict[str, Any]] = field(default_factory=dict)
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    providers: dict[str, dict[str, Any]] = field(default_factory=dict)
    terraform: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        for file_name, parsed in self.files.items():
            for entry in parsed.get("resource", []):
                for type_name, named in entry.items():
                    for name, body in named.items():
                        address = f"{type_name}.{name}"
                        self.resources[address] = body
                        self.resource_files[address] = file_name
            for entry in parsed.get("data", []):
                for type_name, named in entry.items():
                    for name, body in named.items():
                        self.data[f"data.{type_name}.{name}"] = body
            for entry in parsed.get("variable", []):
                self.variables.update(entry)
            for entry in parsed.get("locals", []):
                self.locals.update(dict(body_items(entry)))
            for entry in parsed.get("output", []):
                self.outputs.update(entry)
            for entry in parsed.get("provider", []):
                self.providers.update(entry)
            self.terraform.extend(parsed.get("terraform", []))

    def of_type(self, type_name: str) -> dict[str, dict[str, Any]]:
        """``name -> body`` of every resource of one type."""
        prefix = type_name + "."
        return {
            address.removeprefix(prefix): body
            for address, body in self.resources.items()
            if address.startswith(prefix)
        }

    def default(self, variable: str) -> Any:
        return self.variables[variable].get("default")


_OPTIONS = hcl2.SerializationOptions(strip_string_quotes=True, with_comments=False)


def parse_file(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        parsed: dict[str, Any] = hcl2.load(handle, serialization_options=_OPTIONS)
    return parsed


@cache
def load_stack(tf_dir: Path = TF_DIR) -> Stack:
    """The parsed stack; raises with the file's name when one does not parse."""
    files: dict[str, dict[str, Any]] = {}
    for path in sorted(tf_dir.glob("*.tf")):
        try:
            files[path.name] = parse_file(path)
        except Exception as error:
            raise AssertionError(
                f"expected {path.name} to parse as HCL; python-hcl2 failed: {error}"
            ) from error
    return Stack(files)


@cache
def provider_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    return schema


def object_attributes(type_expression: str) -> set[str]:
    """Attribute names of an ``object({...})`` type expression."""
    return set(
        re.findall(
            r"(\w+)\s*=\s*(?:optional|string|number|bool|list|map)", type_expression
        )
    )
