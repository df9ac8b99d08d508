"""The OpenAPI 3.1 document of the API, built from the routes and declarations.

Parameters of each data route are its dataset's filters plus the paging parameters,
exactly what params.parse accepts, so a test can hold the two together.
"""

from __future__ import annotations

from typing import Any

from perfcache.api import params
from perfcache.api.reads import SUMMARY_DATASET, SUMMARY_METRICS
from perfcache.config import Settings
from perfcache.datasets import BY_NAME, DATASETS, Dataset, FilterKind

_ERROR = {"$ref": "#/components/schemas/Error"}
_META = {"$ref": "#/components/schemas/Meta"}


def document(settings: Settings) -> dict[str, Any]:
    paths: dict[str, Any] = {
        "/healthz": {"get": _plain("Liveness", {"200": _json_response("Ok")})},
        "/api/openapi.json": {
            "get": _plain("This document", {"200": _json_response("OpenAPI")})
        },
    }
    for dataset in DATASETS:
        if dataset.name == "filter_options":
            continue
        paths[f"/api/{dataset.route}"] = {"get": _rows_operation(dataset)}
    paths["/api/filter-options"] = {"get": _options_operation()}
    paths["/api/summary-stats"] = {"get": _summary_operation()}
    paths["/api/data-sync/status"] = {"get": _status_operation()}
    paths["/api/data-sync/trigger"] = {"post": _trigger_operation()}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "perfcache API",
            "version": "1",
            "description": (
                "Role-scoped reads of the teacher-performance cache. Tokens: "
                f"aud={settings.jwt_audience!r}, iss={settings.jwt_issuer!r}."
            ),
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
            "schemas": _schemas(),
        },
    }


def parameters(dataset: Dataset, paginated: bool = True) -> list[dict[str, Any]]:
    """The query parameters the API accepts for ``dataset``, as OpenAPI objects."""
    found = [_filter_parameter(dataset, f.param, f.kind) for f in dataset.filters]
    if paginated:
        found += [
            _query("sort", {"type": "string", "enum": list(dataset.sortable)})
            if dataset.sortable
            else _query("sort", {"type": "string", "enum": []}),
            _query("direction", {"type": "string", "enum": ["asc", "desc"]}),
            _query(
                "page_size",
                {"type": "integer", "minimum": 1, "maximum": params.PAGE_SIZE_MAX},
            ),
            _query(
                "page_token",
                {"type": "string", "minLength": 1, "maxLength": params.MAX_TOKEN_CHARS},
            ),
        ]
    return found


def _filter_parameter(dataset: Dataset, param: str, kind: FilterKind) -> dict[str, Any]:
    if kind is not FilterKind.EQUAL:
        return _query(param, {"type": "string", "format": "date"})
    choices = params.CHOICES.get((dataset.name, param))
    if choices:
        return _query(param, {"type": "string", "enum": list(choices)})
    schema = {"type": "string", "minLength": 1, "maxLength": params.MAX_VALUE_CHARS}
    return _query(param, schema)


def _query(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema}


def _rows_operation(dataset: Dataset) -> dict[str, Any]:
    return _secured(
        f"{dataset.name} rows in the caller's scope",
        parameters(dataset),
        {"200": _json_response("Page", _page_schema({"type": "object"}))},
        dataset,
        cached=True,
    )


def _options_operation() -> dict[str, Any]:
    option = {
        "type": "object",
        "properties": {
            "kind": {"type": "string"},
            "value": {"type": "string"},
            "label": {"type": "string"},
        },
    }
    return _secured(
        "Filter values the caller may use",
        [],
        {"200": _json_response("Options", _page_schema(option))},
        BY_NAME["filter_options"],
        cached=True,
    )


def _summary_operation() -> dict[str, Any]:
    metric = {"type": ["number", "string", "null"]}
    stats = {
        "type": "object",
        "properties": {
            "row_count": {"type": ["integer", "string"]},
            **{alias: metric for _, _, alias in SUMMARY_METRICS},
        },
    }
    body = {
        "type": "object",
        "required": ["data", "meta"],
        "properties": {
            "data": stats,
            "next_page_token": {"type": "null"},
            "meta": _META,
        },
    }
    return _secured(
        "Totals and averages over teacher_data in the caller's scope",
        parameters(SUMMARY_DATASET, paginated=False),
        {"200": _json_response("Summary", body)},
        SUMMARY_DATASET,
        cached=True,
    )


def _status_operation() -> dict[str, Any]:
    return _secured(
        "Freshness of each dataset and whether a sync is running",
        [],
        {"200": _json_response("Status", {"type": "object"})},
    )


def _trigger_operation() -> dict[str, Any]:
    operation = _secured(
        "Ask for a sync (admin only): publishes to the sync topic",
        [],
        {
            "202": _json_response("Published", {"type": "object"}),
            "409": _json_response("A sync is running", _ERROR),
        },
    )
    operation["requestBody"] = {
        "required": False,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "data_type": {"type": "string", "enum": ["all", *BY_NAME]},
                        "force": {"type": "boolean"},
                    },
                }
            }
        },
    }
    return operation


def _secured(
    summary: str,
    parameters_: list[dict[str, Any]],
    responses: dict[str, Any],
    dataset: Dataset | None = None,
    cached: bool = False,
) -> dict[str, Any]:
    errors = {
        "400": _json_response("Bad parameter", _ERROR),
        "401": _json_response("Missing or invalid token", _ERROR),
        "403": _json_response("Outside the caller's scope", _ERROR),
        "503": _json_response("Not synced yet or a backend is busy", _ERROR),
    }
    if cached:
        errors["304"] = {"description": "Not modified (If-None-Match)"}
    operation: dict[str, Any] = {
        "summary": summary,
        "security": [{"bearer": []}],
        "parameters": parameters_,
        "responses": {**responses, **errors},
    }
    if dataset is not None:
        operation["x-dataset"] = dataset.name
    return operation


def _plain(summary: str, responses: dict[str, Any]) -> dict[str, Any]:
    return {"summary": summary, "security": [], "responses": responses}


def _json_response(description: str, schema: dict[str, Any] | None = None) -> Any:
    return {
        "description": description,
        "content": {"application/json": {"schema": schema or {"type": "object"}}},
    }


def _page_schema(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["data", "next_page_token", "meta"],
        "properties": {
            "data": {"type": "array", "items": item},
            "next_page_token": {"type": ["string", "null"]},
            "meta": _META,
        },
    }


def _schemas() -> dict[str, Any]:
    return {
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {
                        "code": {"type": "string"},
                        "message": {"type": "string"},
                        "parameter": {"type": "string"},
                        "allowed": {"type": "array", "items": {"type": "string"}},
                    },
                }
            },
        },
        "Meta": {
            "type": "object",
            "required": ["synced_at", "generation", "stale"],
            "properties": {
                "synced_at": {"type": "string"},
                "generation": {"type": "integer"},
                "stale": {"type": "boolean"},
            },
        },
    }
