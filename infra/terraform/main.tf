# The perfcache stack: a scheduled sync copies BigQuery results into Firestore and an
# HTTP API serves them. Files by concern:
#   main.tf        shared values, APIs, the three service accounts
#   iam.tf         every grant, each at the narrowest resource that works
#   messaging.tf   the sync topic, its dead-letter topic, the schedule
#   functions.tf   the bundle bucket, the bundles and the two gen2 functions
#   firestore.tf   the database (optional) and the composite indexes
#   secrets.tf     the JWT secret (its value never passes through Terraform)
#   monitoring.tf  log-based metrics and alert policies

locals {
  warehouse_project = coalesce(var.warehouse.project_id, var.project_id)
  # PERFCACHE_WAREHOUSE: the `project.dataset` the dataset SQL reads.
  warehouse = "${local.warehouse_project}.${var.warehouse.dataset_id}"

  bundle_dir = startswith(var.bundle_dir, "/") ? var.bundle_dir : "${path.module}/${var.bundle_dir}"
  bundles = {
    sync = "${local.bundle_dir}/sync.zip"
    api  = "${local.bundle_dir}/api.zip"
  }

  sync_function_name = "perfcache-sync"
  api_function_name  = "perfcache-api"

  services = toset([
    "artifactregistry.googleapis.com",
    "bigquery.googleapis.com",
    "bigquerystorage.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudscheduler.googleapis.com",
    "eventarc.googleapis.com",
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
  ])
}

data "google_project" "this" {
  project_id = var.project_id
}

resource "google_project_service" "enabled" {
  for_each = local.services

  project = var.project_id
  service = each.value

  # Other stacks in the project may rely on the same APIs.
  disable_on_destroy = false
}

resource "google_service_account" "sync" {
  project      = var.project_id
  account_id   = "perfcache-sync"
  display_name = "perfcache sync function"
  description  = "Runs the sync: reads the warehouse dataset, writes the Firestore cache."
}

resource "google_service_account" "api" {
  project      = var.project_id
  account_id   = "perfcache-api"
  display_name = "perfcache API function"
  description  = "Serves the cache: reads Firestore, publishes sync requests, reads the JWT key."
}

resource "google_service_account" "scheduler" {
  project      = var.project_id
  account_id   = "perfcache-scheduler"
  display_name = "perfcache sync schedule"
  description  = "Publishes the scheduled sync request to the sync topic."
}
