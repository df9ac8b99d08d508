"""Shared fixtures: real local servers for the session, isolated from `make run`.

The servers start on first use (pure unit tests never pay for them) in a temporary
folder of their own, and stop when the session ends. Firestore is emptied before each
test that asks for it; the seeded sample warehouse is shared and read-only, and a test
that changes warehouse data asks for ``fresh_warehouse`` instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from perfcache import clients
from perfcache.config import Settings
from sample.load import load
from tools import stack as local_stack

if TYPE_CHECKING:
    from google.cloud import bigquery as bq
    from google.cloud import firestore as fs

PROJECT = "test-perfcache"

# Variables that could point a test at real Google Cloud or at `make run`'s servers.
_LEAKY_ENV = (
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GOOGLE_CLOUD_PROJECT",
    "FIRESTORE_EMULATOR_HOST",
    "PUBSUB_EMULATOR_HOST",
    "BIGQUERY_EMULATOR_HOST",
    "BIGQUERY_STORAGE_EMULATOR_HOST",
    "PERFCACHE_WAREHOUSE",
    "PERFCACHE_JWT_SECRET",
)


def pytest_configure(config: pytest.Config) -> None:
    for name in _LEAKY_ENV:
        os.environ.pop(name, None)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The three servers, started for this session; yields their env settings.

    A missing emulator fails the test with the stack's message (what to install),
    never a skip.
    """
    state_dir: Path = tmp_path_factory.mktemp("stack")
    try:
        endpoints = local_stack.up(state_dir, PROJECT)
    except local_stack.StackError as error:
        pytest.fail(f"the local servers could not start: {error}", pytrace=False)
    env = endpoints.as_env()
    os.environ.update(env)
    try:
        yield env
    finally:
        local_stack.down(state_dir)
        for name in env:
            os.environ.pop(name, None)


@pytest.fixture(scope="session")
def settings(stack: dict[str, str]) -> Settings:
    """Settings for the session's servers, with the seeded warehouse dataset."""
    return Settings.from_env({**stack, "PERFCACHE_WAREHOUSE": f"{PROJECT}.school_perf"})


def clear_firestore(stack: dict[str, str]) -> None:
    local_stack.clear_firestore(stack["FIRESTORE_EMULATOR_HOST"], PROJECT)


@pytest.fixture
def firestore(stack: dict[str, str], settings: Settings) -> fs.Client:
    """A Firestore client on an emptied emulator."""
    clear_firestore(stack)
    return clients.firestore_client(settings)


@pytest.fixture(scope="session")
def bigquery(settings: Settings) -> bq.Client:
    return clients.bigquery_client(settings)


@pytest.fixture(scope="session")
def bq_read_client(settings: Settings) -> Any:
    """The Storage Read client bound to the local gRPC port (never Google's)."""
    return clients.bigquery_read_client(settings)


@pytest.fixture(scope="session")
def warehouse(settings: Settings, bigquery: bq.Client) -> str:
    """The small sample, loaded once per session; treat it as read-only."""
    load(bigquery, settings.warehouse, "small")
    return settings.warehouse


@pytest.fixture
def fresh_warehouse(
    stack: dict[str, str], bigquery: bq.Client
) -> Iterator[tuple[Settings, str]]:
    """A private copy of the small sample that a test may change.

    Yields settings pointing at it and its ``project.dataset`` id.
    """
    dataset = f"{PROJECT}.school_perf_{uuid.uuid4().hex[:8]}"
    load(bigquery, dataset, "small")
    try:
        yield Settings.from_env({**stack, "PERFCACHE_WAREHOUSE": dataset}), dataset
    finally:
        bigquery.delete_dataset(dataset, delete_contents=True, not_found_ok=True)
