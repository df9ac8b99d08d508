"""Extract the argument schema of the Google resources we use from a cdktf ``.jsii``.

``terraform validate`` needs the google provider plugin, which no registry reachable
here serves. The npm package ``@cdktf/provider-google`` describes the same provider in
its ``.jsii`` file: every resource's arguments, nested blocks, which of them are
required, and the attributes a reference may read. This tool keeps the part for the
resource and data source types our Terraform uses, so the tests can check the files
offline against a small committed JSON file.

    python -m tools.iac_schema --jsii package/.jsii --tf-dir infra/terraform \\
        --out tests/infra/data/google-provider-schema.json

Output shape, sorted so a regeneration shows a readable diff:

    {"provider": ..., "provider_config": BLOCK,
     "resources": {"google_x": BLOCK}, "data_sources": {"google_y": BLOCK}}
    BLOCK = {"arguments": {name: {"required": bool}},
             "attributes": [names readable in a reference],
             "blocks": {name: {"required": bool, "max_items": 1 | null,
                               "block": BLOCK}}}
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

PROVIDER_VERSION = "6.50.0"
PACKAGE = "@cdktf/provider-google"
PACKAGE_VERSION = "16.12.1"

# "...docs/resources/cloudfunctions2_function#service_config Cloud..." -> the name.
_ANCHOR = re.compile(r"/docs(?:/(?:resources|data-sources)/[a-z0-9_]+)?#([a-z0-9_]+)")
_PROVIDER_CONFIG = f"{PACKAGE}.provider.GoogleProviderConfig"
_KIND = re.compile(r"/docs/(resources|data-sources)/([a-z0-9_]+) (google_[a-z0-9_]+)")
_TF_TYPE = re.compile(r'^\s*(resource|data)\s+"(google_[a-z0-9_]+)"', re.MULTILINE)


class SchemaError(RuntimeError):
    """The ``.jsii`` file does not describe what this tool expects."""


def snake(name: str) -> str:
    """``serviceConfig`` -> ``service_config``; digits stay with their word."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def used_types(tf_dir: Path) -> dict[str, set[str]]:
    """The resource and data source types declared in the ``.tf`` files of a folder."""
    used: dict[str, set[str]] = {"resource": set(), "data": set()}
    for path in sorted(tf_dir.glob("*.tf")):
        for kind, type_name in _TF_TYPE.findall(path.read_text(encoding="utf-8")):
            used[kind].add(type_name)
    return used


class Extractor:
    """Walks the jsii type graph of one assembly."""

    def __init__(self, assembly: dict[str, Any]) -> None:
        self.types: dict[str, dict[str, Any]] = assembly["types"]

    def classes(self) -> dict[tuple[str, str], dict[str, Any]]:
        """(``resources`` | ``data-sources``, ``google_x``) -> the class type."""
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for jtype in self.types.values():
            if jtype.get("kind") != "class" or "initializer" not in jtype:
                continue
            match = _KIND.search(jtype.get("docs", {}).get("summary", ""))
            if match:
                found[(match.group(1), match.group(3))] = jtype
        return found

    def block(self, config_fqn: str, reader_fqn: str | None) -> dict[str, Any]:
        """Arguments and nested blocks of a config interface, attributes of a class."""
        config = self.types.get(config_fqn)
        if config is None:
            raise SchemaError(f"expected type {config_fqn!r} in the .jsii; not found")
        arguments: dict[str, dict[str, bool]] = {}
        blocks: dict[str, dict[str, Any]] = {}
        for prop in config.get("properties", []):
            name = self._tf_name(prop)
            required = not prop.get("optional", False)
            nested, many = self._nested(prop["type"])
            if nested is None:
                arguments[name] = {"required": required}
                continue
            blocks[name] = {
                "required": required,
                "max_items": None if many else 1,
                "block": self.block(nested, self._reader_of(nested, many)),
            }
        attributes = sorted(set(arguments) | set(blocks) | self._attributes(reader_fqn))
        return {
            "arguments": dict(sorted(arguments.items())),
            "attributes": attributes,
            "blocks": dict(sorted(blocks.items())),
        }

    def _tf_name(self, prop: dict[str, Any]) -> str:
        match = _ANCHOR.search(prop.get("docs", {}).get("remarks", ""))
        return match.group(1) if match else snake(prop["name"])

    def _nested(self, jtype: dict[str, Any]) -> tuple[str | None, bool]:
        """(fqn of a nested block's config, whether it may repeat) or (None, False)."""
        if "union" in jtype:
            for member in jtype["union"]["types"]:
                fqn, many = self._nested(member)
                if fqn is not None:
                    return fqn, many
            return None, False
        if "collection" in jtype:
            fqn, _ = self._nested(jtype["collection"]["elementtype"])
            return fqn, fqn is not None
        fqn = jtype.get("fqn")
        if isinstance(fqn, str) and fqn.startswith(PACKAGE + "."):
            return fqn, False
        return None, False

    def _reader_of(self, config_fqn: str, many: bool) -> str | None:
        reader = config_fqn + "OutputReference"
        return reader if reader in self.types else None

    def _attributes(self, reader_fqn: str | None) -> set[str]:
        if reader_fqn is None:
            return set()
        names: set[str] = set()
        for prop in self.types[reader_fqn].get("properties", []):
            name = prop["name"]
            if prop.get("static") or name.endswith("Input") or name == "internalValue":
                continue
            names.add(snake(name))
        return names


def extract(assembly: dict[str, Any], used: dict[str, set[str]]) -> dict[str, Any]:
    """The schema subset for the ``used`` types; raises when one is unknown."""
    extractor = Extractor(assembly)
    classes = extractor.classes()
    out: dict[str, Any] = {
        "provider": f"hashicorp/google {PROVIDER_VERSION}",
        "source": f"npm {PACKAGE} {PACKAGE_VERSION} (.jsii)",
        "provider_config": extractor.block(_PROVIDER_CONFIG, None),
        "resources": {},
        "data_sources": {},
    }
    for kind, section, tf_kind in (
        ("resource", "resources", "resources"),
        ("data", "data_sources", "data-sources"),
    ):
        for type_name in sorted(used[kind]):
            jtype = classes.get((tf_kind, type_name))
            if jtype is None:
                raise SchemaError(
                    f"{kind} type {type_name!r} is not in {PACKAGE} {PACKAGE_VERSION}; "
                    "check its spelling against the provider documentation"
                )
            config_fqn = jtype["initializer"]["parameters"][-1]["type"]["fqn"]
            out[section][type_name] = extractor.block(config_fqn, jtype["fqn"])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jsii", type=Path, required=True, help="the package's .jsii")
    parser.add_argument("--tf-dir", type=Path, required=True, help="the .tf folder")
    parser.add_argument("--out", type=Path, required=True, help="JSON file to write")
    args = parser.parse_args(argv)

    assembly = json.loads(args.jsii.read_text(encoding="utf-8"))
    found = f"{assembly.get('name')} {assembly.get('version')}"
    if found != f"{PACKAGE} {PACKAGE_VERSION}":
        print(
            f"error: expected the .jsii of {PACKAGE} {PACKAGE_VERSION}; found {found}. "
            f"Run `npm pack {PACKAGE}@{PACKAGE_VERSION}` and pass its package/.jsii.",
            file=sys.stderr,
        )
        return 2
    try:
        schema = extract(assembly, used_types(args.tf_dir))
    except SchemaError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(schema, indent=1, sort_keys=True) + "\n"
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out} ({len(schema['resources'])} resources)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
