# Every grant of the stack. Only `_iam_member` resources: each adds one member to one
# role and leaves grants made elsewhere alone (an `_iam_binding` or `_iam_policy` would
# replace them). tests/infra/test_stack.py holds the allowlist these must match.

# --- sync -----------------------------------------------------------------------------

# Reads only the warehouse dataset, not the whole warehouse project.
resource "google_bigquery_dataset_iam_member" "sync_reads_warehouse" {
  project    = local.warehouse_project
  dataset_id = var.warehouse.dataset_id
  role       = "roles/bigquery.dataViewer"
  member     = google_service_account.sync.member
}

# Runs the dataset queries as jobs billed to this project (no data access by itself).
resource "google_project_iam_member" "sync_runs_queries" {
  project = var.project_id
  role    = "roles/bigquery.jobUser"
  member  = google_service_account.sync.member
}

# Reads large query results over the Storage Read API (PERFCACHE_USE_STORAGE_API);
# which tables it may read is still decided by the dataset grant above.
resource "google_project_iam_member" "sync_reads_results" {
  project = var.project_id
  role    = "roles/bigquery.readSessionUser"
  member  = google_service_account.sync.member
}

# Writes the row collections, the pointer, the lease and sync_runs.
resource "google_project_iam_member" "sync_writes_firestore" {
  project = var.project_id
  role    = "roles/datastore.user"
  member  = google_service_account.sync.member
}

# The Eventarc trigger delivers sync requests as this account; it may invoke the sync
# function's service and nothing else.
resource "google_cloud_run_v2_service_iam_member" "sync_trigger_invokes_sync" {
  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.sync.service_config[0].service
  role     = "roles/run.invoker"
  member   = google_service_account.sync.member
}

# --- api ------------------------------------------------------------------------------

resource "google_project_iam_member" "api_reads_firestore" {
  project = var.project_id
  role    = "roles/datastore.viewer"
  member  = google_service_account.api.member
}

resource "google_pubsub_topic_iam_member" "api_publishes_sync" {
  project = var.project_id
  topic   = google_pubsub_topic.sync.name
  role    = "roles/pubsub.publisher"
  member  = google_service_account.api.member
}

resource "google_secret_manager_secret_iam_member" "api_reads_jwt_secret" {
  project   = var.project_id
  secret_id = google_secret_manager_secret.jwt.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.api.member
}

# Who may call the API over HTTPS. The API checks its own JWTs, so opening it to
# everyone is a choice (api_function.public), never the default.
resource "google_cloud_run_v2_service_iam_member" "api_public" {
  count = var.api_function.public ? 1 : 0

  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.api.service_config[0].service
  role     = "roles/run.invoker"
  member   = "allUsers"
}

resource "google_cloud_run_v2_service_iam_member" "api_invokers" {
  for_each = toset(var.api_function.invokers)

  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.api.service_config[0].service
  role     = "roles/run.invoker"
  member   = each.value
}

# --- scheduler ------------------------------------------------------------------------

resource "google_pubsub_topic_iam_member" "scheduler_publishes_sync" {
  project = var.project_id
  topic   = google_pubsub_topic.sync.name
  role    = "roles/pubsub.publisher"
  member  = google_service_account.scheduler.member
}

# --- Pub/Sub's own service agent ------------------------------------------------------

# Moves a request that failed dead_letter_max_delivery_attempts times to the
# dead-letter topic (make deploy attaches the policy to the trigger's subscription).
resource "google_pubsub_topic_iam_member" "pubsub_agent_dead_letters" {
  project = var.project_id
  topic   = google_pubsub_topic.sync_dead_letter.name
  role    = "roles/pubsub.publisher"
  member  = local.pubsub_agent
}

locals {
  pubsub_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}
