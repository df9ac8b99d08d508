"""Every reference in the stack resolves to a declaration, and nothing is unused."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .terraform import (
    Reference,
    Stack,
    load_stack,
    object_attributes,
    provider_schema,
    references,
    unwrap,
)


def all_references(stack: Stack) -> Iterator[tuple[str, Reference]]:
    """(where, reference) for every reference in every declaration."""
    for address, body in stack.resources.items():
        for ref in references(body):
            yield address, ref
    for address, body in stack.data.items():
        for ref in references(body):
            yield address, ref
    for name, value in stack.locals.items():
        for ref in references(value):
            yield f"local.{name}", ref
    for name, body in stack.outputs.items():
        for ref in references(body):
            yield f"output.{name}", ref
    for name, body in stack.variables.items():
        for ref in references(body.get("validation", [])):
            yield f"var.{name}", ref
    for name, body in stack.providers.items():
        for ref in references(body):
            yield f"provider.{name}", ref


def attribute_problem(schema: dict[str, Any], names: tuple[str, ...]) -> str | None:
    """Why reading ``names`` from a resource of ``schema`` fails, or None."""
    for index, name in enumerate(names):
        if name not in schema["attributes"]:
            return (
                f"{name!r} is not an attribute; expected one of {schema['attributes']}"
            )
        nested = schema["blocks"].get(name)
        if nested is None or index + 1 == len(names):
            return None
        schema = nested["block"]
    return None


def resolve(stack: Stack, ref: Reference) -> str | None:
    """Why ``ref`` does not resolve, or None when it does."""
    schema = provider_schema()
    if ref.root == "var":
        name, *rest = ref.names
        if name not in stack.variables:
            return f"no variable {name!r} is declared"
        type_text = unwrap(stack.variables[name]["type"])
        if (
            rest
            and type_text.startswith("object(")
            and rest[0] not in object_attributes(type_text)
        ):
            return f"variable {name!r} has no attribute {rest[0]!r}"
        return None
    if ref.root == "local":
        return None if ref.names[0] in stack.locals else "no such local value"
    if ref.root.startswith("data."):
        address = f"{ref.root}.{ref.names[0]}"
        if address not in stack.data:
            return f"no data source {address} is declared"
        data_schema = schema["data_sources"][ref.root.removeprefix("data.")]
        return attribute_problem(data_schema, ref.names[1:])
    address = f"{ref.root}.{ref.names[0]}"
    if address not in stack.resources:
        return f"no resource {address} is declared"
    return attribute_problem(schema["resources"][ref.root], ref.names[1:])


def test_every_reference_resolves() -> None:
    stack = load_stack()
    unresolved = [
        f"{where}: {ref.text}: {problem}"
        for where, ref in all_references(stack)
        if (problem := resolve(stack, ref)) is not None
    ]
    assert unresolved == [], "expected every reference to resolve:\n" + "\n".join(
        unresolved
    )


@pytest.mark.parametrize(
    "expression",
    [
        "${google_service_account.syncc.email}",
        "${google_service_account.sync.emial}",
        "${var.sync_function.timeout_seconds}",
        "${local.nope}",
        "${google_cloudfunctions2_function.api.service_config[0].urll}",
        "${data.google_project.this.numbr}",
    ],
)
def test_a_broken_reference_is_caught(expression: str) -> None:
    stack = load_stack()
    (ref,) = references(expression)
    assert resolve(stack, ref) is not None, f"expected {expression} to be refused"


def test_every_variable_and_local_is_used() -> None:
    stack = load_stack()
    used = {ref.address for _, ref in all_references(stack)}
    unused = [f"var.{name}" for name in stack.variables if f"var.{name}" not in used]
    unused += [f"local.{name}" for name in stack.locals if f"local.{name}" not in used]
    assert unused == [], f"expected every declaration to be used; unused: {unused}"
