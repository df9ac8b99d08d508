"""What the stack guarantees: schedule, functions, least privilege, secrets, alerts."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from perfcache import datasets
from perfcache.config import Settings

from .terraform import REPO, TF_DIR, load_stack, references, unwrap

# Every grant the stack may make: (resource type, name) -> (role, member reference).
ALLOWED_GRANTS = {
    ("google_bigquery_dataset_iam_member", "sync_reads_warehouse"): (
        "roles/bigquery.dataViewer",
        "google_service_account.sync",
    ),
    ("google_project_iam_member", "sync_runs_queries"): (
        "roles/bigquery.jobUser",
        "google_service_account.sync",
    ),
    ("google_project_iam_member", "sync_reads_results"): (
        "roles/bigquery.readSessionUser",
        "google_service_account.sync",
    ),
    ("google_project_iam_member", "sync_writes_firestore"): (
        "roles/datastore.user",
        "google_service_account.sync",
    ),
    ("google_cloud_run_v2_service_iam_member", "sync_trigger_invokes_sync"): (
        "roles/run.invoker",
        "google_service_account.sync",
    ),
    ("google_project_iam_member", "api_reads_firestore"): (
        "roles/datastore.viewer",
        "google_service_account.api",
    ),
    ("google_pubsub_topic_iam_member", "api_publishes_sync"): (
        "roles/pubsub.publisher",
        "google_service_account.api",
    ),
    ("google_secret_manager_secret_iam_member", "api_reads_jwt_secret"): (
        "roles/secretmanager.secretAccessor",
        "google_service_account.api",
    ),
    ("google_cloud_run_v2_service_iam_member", "api_public"): (
        "roles/run.invoker",
        "allUsers",
    ),
    ("google_cloud_run_v2_service_iam_member", "api_invokers"): (
        "roles/run.invoker",
        "each.value",
    ),
    ("google_pubsub_topic_iam_member", "scheduler_publishes_sync"): (
        "roles/pubsub.publisher",
        "google_service_account.scheduler",
    ),
    ("google_pubsub_topic_iam_member", "pubsub_agent_dead_letters"): (
        "roles/pubsub.publisher",
        "local.pubsub_agent",
    ),
}

# Where each grant may apply: the reference its scoping argument must hold.
GRANT_SCOPES = {
    "api_publishes_sync": ("topic", "google_pubsub_topic.sync"),
    "scheduler_publishes_sync": ("topic", "google_pubsub_topic.sync"),
    "pubsub_agent_dead_letters": ("topic", "google_pubsub_topic.sync_dead_letter"),
    "api_reads_jwt_secret": ("secret_id", "google_secret_manager_secret.jwt"),
    "sync_reads_warehouse": ("dataset_id", "var.warehouse"),
    "sync_trigger_invokes_sync": ("name", "google_cloudfunctions2_function.sync"),
    "api_public": ("name", "google_cloudfunctions2_function.api"),
    "api_invokers": ("name", "google_cloudfunctions2_function.api"),
}


def member_of(body: dict[str, Any]) -> str:
    refs = [ref.address for ref in references(body["member"])]
    if refs:
        return refs[0]
    text = unwrap(body["member"])
    return "each.value" if text == "each.value" else str(text)


def only(values: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(values) == 1, f"expected one block; found {len(values)}"
    return values[0]


def test_grants_are_exactly_the_allowlist() -> None:
    stack = load_stack()
    found = {}
    for address, body in stack.resources.items():
        type_name, name = address.split(".")
        if "_iam_" in type_name:
            found[(type_name, name)] = (body["role"], member_of(body))
    assert found == ALLOWED_GRANTS, (
        "expected the grants in ALLOWED_GRANTS and no others; to change a grant, "
        "change both the .tf file and this allowlist, and say why in iam.tf"
    )


def test_no_grant_can_replace_others() -> None:
    wide = [
        address
        for address in load_stack().resources
        if re.search(r"_iam_(policy|binding)\.", address)
    ]
    assert wide == [], f"expected only _iam_member grants; found {wide}"


def test_no_primitive_or_admin_roles() -> None:
    roles = {role for role, _ in ALLOWED_GRANTS.values()}
    assert not roles & {"roles/owner", "roles/editor", "roles/viewer"}
    assert [role for role in roles if role.endswith(("admin", "Admin"))] == []


@pytest.mark.parametrize(("name", "scope"), sorted(GRANT_SCOPES.items()))
def test_grant_applies_to_one_resource_only(name: str, scope: tuple[str, str]) -> None:
    argument, target = scope
    (body,) = [
        body
        for address, body in load_stack().resources.items()
        if address.endswith(f".{name}")
    ]
    addresses = {ref.address for ref in references(body[argument])}
    assert addresses == {target}, (
        f"{name}: expected {argument} to name {target}; found {sorted(addresses)}"
    )


def test_public_invoker_only_when_asked() -> None:
    stack = load_stack()
    public = stack.resources["google_cloud_run_v2_service_iam_member.api_public"]
    assert unwrap(public["count"]) == "var.api_function.public ? 1 : 0"
    assert "public = optional(bool, false)" in unwrap(
        stack.variables["api_function"]["type"]
    )
    allusers = [
        address
        for address, body in stack.resources.items()
        if "allUsers" in json.dumps(body) or "allAuthenticatedUsers" in json.dumps(body)
    ]
    assert allusers == ["google_cloud_run_v2_service_iam_member.api_public"]


def test_three_service_accounts_one_per_caller() -> None:
    assert sorted(load_stack().of_type("google_service_account")) == [
        "api",
        "scheduler",
        "sync",
    ]


def test_two_gen2_functions_with_their_own_accounts() -> None:
    functions = load_stack().of_type("google_cloudfunctions2_function")
    assert sorted(functions) == ["api", "sync"]
    for name, body in functions.items():
        build = only(body["build_config"])
        service = only(body["service_config"])
        assert build["runtime"] == "python312"
        assert build["entry_point"] == name
        (account,) = {
            ref.address for ref in references(service["service_account_email"])
        }
        assert account == f"google_service_account.{name}"


def test_sync_runs_alone_and_is_retried() -> None:
    stack = load_stack()
    sync = stack.resources["google_cloudfunctions2_function.sync"]
    service = only(sync["service_config"])
    trigger = only(sync["event_trigger"])
    assert service["max_instance_count"] == 1
    assert service["max_instance_request_concurrency"] == 1
    assert trigger["retry_policy"] == "RETRY_POLICY_RETRY"
    assert trigger["event_type"] == "google.cloud.pubsub.topic.v1.messagePublished"
    assert {r.address for r in references(trigger["pubsub_topic"])} == {
        "google_pubsub_topic.sync"
    }
    assert unwrap(service["timeout_seconds"]) == "var.sync_function.timeout_s"


def test_lease_outlives_the_sync_timeout() -> None:
    type_text = unwrap(load_stack().variables["sync_function"]["type"])
    timeout_s = float(
        re.findall(r"timeout_s\s*=\s*optional\(number, (\d+)\)", type_text)[0]
    )
    lease_s = float(
        re.findall(r"lease_ttl_s\s*=\s*optional\(number, (\d+)\)", type_text)[0]
    )
    assert timeout_s == 540
    assert lease_s == Settings().lease_ttl_s, "keep the default lease TTL in one value"
    assert lease_s > timeout_s


def test_schedule_asks_for_every_dataset_once_per_tick() -> None:
    stack = load_stack()
    job = stack.resources["google_cloud_scheduler_job.sync"]
    cron = re.search(
        r'cron\s*=\s*optional\(string, "([^"]+)"\)',
        str(stack.variables["schedule"]["type"]),
    )
    assert cron is not None
    assert cron.group(1) == "0 */2 * * *"
    assert unwrap(job["time_zone"]) == "var.schedule.time_zone"
    assert only(job["retry_config"])["retry_count"] == 0
    target = only(job["http_target"])
    assert re.search(r"jsonencode\(\{\s*data_type\s*=\s*\"all\"\s*\}\)", target["body"])
    token = only(target["oauth_token"])
    assert {r.address for r in references(token["service_account_email"])} == {
        "google_service_account.scheduler"
    }


def test_sync_topic_has_a_dead_letter_topic() -> None:
    stack = load_stack()
    topics = stack.of_type("google_pubsub_topic")
    assert sorted(topics) == ["sync", "sync_dead_letter"]
    assert stack.default("sync_topic_name") == Settings().sync_topic


def settings_names() -> set[str]:
    source = (REPO / "perfcache" / "config.py").read_text(encoding="utf-8")
    return set(re.findall(r'"(PERFCACHE_[A-Z0-9_]+)"', source))


@pytest.mark.parametrize("local", ["sync_environment", "api_environment"])
def test_function_environment_uses_names_the_settings_read(local: str) -> None:
    names = set(load_stack().locals[local])
    unknown = names - settings_names()
    assert unknown == set(), (
        f"{local}: perfcache/config.py reads none of {sorted(unknown)}; "
        "fix the name or add the setting"
    )
    assert "PERFCACHE_PROJECT" in names


def test_jwt_secret_comes_from_secret_manager_only() -> None:
    stack = load_stack()
    assert stack.of_type("google_secret_manager_secret_version") == {}
    text = "".join(path.read_text(encoding="utf-8") for path in TF_DIR.glob("*.tf"))
    assert "secret_data" not in text
    api = only(stack.resources["google_cloudfunctions2_function.api"]["service_config"])
    secret = only(api["secret_environment_variables"])
    assert secret["key"] == "PERFCACHE_JWT_SECRET"
    assert {r.address for r in references(secret["secret"])} == {
        "google_secret_manager_secret.jwt"
    }
    assert "PERFCACHE_JWT_SECRET" not in load_stack().locals["api_environment"]


def test_bundle_bucket_is_private_and_versioned() -> None:
    bucket = load_stack().resources["google_storage_bucket.bundles"]
    assert bucket["uniform_bucket_level_access"] is True
    assert bucket["public_access_prevention"] == "enforced"
    assert only(bucket["versioning"])["enabled"] is True


def test_alerts_watch_failed_syncs_and_stale_data() -> None:
    stack = load_stack()
    metrics = stack.of_type("google_logging_metric")
    failed = metrics["sync_failed"]["filter"]
    assert (
        'jsonPayload.event=\\"sync_run_finished\\"' in stack.locals["sync_log_filter"]
    )
    assert "local.sync_log_filter" in failed
    assert 'jsonPayload.status="failed"' in failed
    policies = stack.of_type("google_monitoring_alert_policy")
    assert sorted(policies) == ["data_stale", "sync_failed"]
    stale = policies["data_stale"]["conditions"]
    assert any("condition_absent" in condition for condition in stale)


def index_file() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(
        (TF_DIR / "firestore.indexes.json").read_text(encoding="utf-8")
    )
    return loaded


def test_indexes_come_from_the_generated_file() -> None:
    index = load_stack().resources["google_firestore_index.cache"]
    assert unwrap(index["for_each"]) == "local.firestore_indexes_by_key"
    source = unwrap(load_stack().locals["firestore_indexes"])
    assert 'jsondecode(file("${path.module}/firestore.indexes.json"))' in source


def test_index_file_has_the_firebase_format() -> None:
    loaded = index_file()
    assert set(loaded) <= {"indexes", "fieldOverrides"}
    for entry in loaded["indexes"]:
        assert entry.get("queryScope", "COLLECTION") in {
            "COLLECTION",
            "COLLECTION_GROUP",
        }
        assert len(entry["fields"]) >= 2, f"a single-field index is automatic: {entry}"
        for spec in entry["fields"]:
            assert (spec.get("order") in {"ASCENDING", "DESCENDING"}) != (
                spec.get("arrayConfig") == "CONTAINS"
            ), f"expected order or arrayConfig; found {spec}"


def index_keys() -> list[str]:
    return [
        entry["collectionGroup"]
        + ":"
        + ",".join(
            f"{spec['fieldPath']}:{spec.get('order', spec.get('arrayConfig'))}"
            for spec in entry["fields"]
        )
        for entry in index_file()["indexes"]
    ]


def test_every_index_gets_its_own_resource() -> None:
    keys = index_keys()
    assert len(keys) == len(set(keys)), "two entries would share one for_each key"


def test_indexes_cover_both_slots_of_real_collections() -> None:
    by_collection: dict[str, set[str]] = {}
    for key in index_keys():
        group, fields = key.split(":", 1)
        by_collection.setdefault(group, set()).add(fields)
    collections = {dataset.collection: dataset for dataset in datasets.DATASETS}
    for group, shapes in by_collection.items():
        base, _, slot = group.rpartition("_")
        expected = f"index on {group!r}: expected <dataset collection>_a or _b"
        assert base in collections, expected
        assert slot in {"a", "b"}, expected
        other = f"{base}_{'b' if slot == 'a' else 'a'}"
        assert by_collection.get(other) == shapes, (
            f"{group} and {other} need the same indexes: readers switch between them"
        )
