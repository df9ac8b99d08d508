"""Every argument and block of every google_* resource exists in the provider schema.

``terraform validate`` needs the provider plugin, which cannot be downloaded here; the
committed schema subset (make iac-schema) stands in for it.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from .terraform import (
    BLOCK,
    META_ARGUMENTS,
    body_items,
    is_block,
    load_stack,
    provider_schema,
)


def problems(body: dict[str, Any], schema: dict[str, Any], where: str) -> list[str]:
    """What in ``body`` the ``schema`` does not allow, or requires and misses."""
    found: list[str] = []
    present: set[str] = set()
    for key, value in body_items(body):
        if key == "dynamic":
            for entry in value:
                for name, dynamic in entry.items():
                    present.add(name)
                    found += _block_problems(
                        name, dynamic.get("content", []), schema, where, dynamic=True
                    )
            continue
        present.add(key)
        if key in schema["blocks"] and is_block(value):
            found += _block_problems(key, value, schema, where)
        elif key in schema["blocks"]:
            found.append(f"{where}: {key} is a block; found it written as an argument")
        elif key not in schema["arguments"]:
            known = sorted([*schema["arguments"], *schema["blocks"]])
            found.append(f"{where}: unknown argument {key!r}; expected one of {known}")
        elif is_block(value) and value:
            found.append(f"{where}: {key} is an argument; found it written as a block")
    for name, spec in [*schema["arguments"].items(), *schema["blocks"].items()]:
        if spec["required"] and name not in present:
            found.append(f"{where}: required {name!r} is missing")
    return found


def _block_problems(
    name: str,
    bodies: list[dict[str, Any]],
    schema: dict[str, Any],
    where: str,
    dynamic: bool = False,
) -> list[str]:
    spec = schema["blocks"].get(name)
    if spec is None:
        return [f"{where}: unknown block {name!r}; expected one of {sorted(schema)}"]
    found: list[str] = []
    if spec["max_items"] == 1 and (len(bodies) > 1 or dynamic):
        found.append(f"{where}: block {name!r} may appear once; found more")
    for body in bodies:
        found += problems(body, spec["block"], f"{where}.{name}")
    return found


@pytest.mark.parametrize("address", sorted(load_stack().resources))
def test_resource_matches_the_provider_schema(address: str) -> None:
    type_name = address.split(".")[0]
    schemas = provider_schema()["resources"]
    assert type_name in schemas, (
        f"{address}: type {type_name!r} is not in the committed schema; check its "
        "spelling, then run make iac-schema if it is a new type"
    )
    body = {
        key: value
        for key, value in load_stack().resources[address].items()
        if key not in META_ARGUMENTS
    }
    assert problems(body, schemas[type_name], address) == []


@pytest.mark.parametrize("address", sorted(load_stack().data))
def test_data_source_matches_the_provider_schema(address: str) -> None:
    type_name = address.split(".")[1]
    body = load_stack().data[address]
    schema = provider_schema()["data_sources"][type_name]
    assert problems(body, schema, address) == []


def test_provider_block_matches_the_provider_schema() -> None:
    body = load_stack().providers["google"]
    assert problems(body, provider_schema()["provider_config"], "provider.google") == []


def test_a_misspelt_argument_is_caught() -> None:
    body = copy.deepcopy(load_stack().resources["google_cloudfunctions2_function.sync"])
    body["service_config"][0]["max_instances_count"] = 1
    schema = provider_schema()["resources"]["google_cloudfunctions2_function"]
    assert any("max_instances_count" in p for p in problems(body, schema, "f"))


def test_a_missing_required_argument_is_caught() -> None:
    body = copy.deepcopy(
        load_stack().resources["google_pubsub_topic_iam_member.api_publishes_sync"]
    )
    del body["role"]
    schema = provider_schema()["resources"]["google_pubsub_topic_iam_member"]
    assert problems(body, schema, "m") == ["m: required 'role' is missing"]


def test_an_unknown_nested_block_is_caught() -> None:
    body = copy.deepcopy(load_stack().resources["google_storage_bucket.bundles"])
    body["versionning"] = [{"enabled": True, BLOCK: True}]
    schema = provider_schema()["resources"]["google_storage_bucket"]
    assert any("versionning" in p for p in problems(body, schema, "b"))
