# The two gen2 functions and the bucket their source bundles are uploaded to.

resource "google_storage_bucket" "bundles" {
  project  = var.project_id
  name     = "${var.project_id}-perfcache-bundles"
  location = var.region

  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  # Old bundles stay readable for a rollback; a bundle's name holds its content hash.
  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      num_newer_versions = 5
      with_state         = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.enabled]
}

resource "google_storage_bucket_object" "bundle" {
  for_each = local.bundles

  bucket = google_storage_bucket.bundles.name
  # The content hash in the name makes a new bundle a new object, which redeploys the
  # function; the same bundle (make package is reproducible) changes nothing.
  name   = "${each.key}-${filemd5(each.value)}.zip"
  source = each.value
}

locals {
  # Names the functions read in perfcache/config.py (Settings.from_env).
  sync_environment = {
    PERFCACHE_PROJECT              = var.project_id
    PERFCACHE_WAREHOUSE            = local.warehouse
    PERFCACHE_BIGQUERY_LOCATION    = var.warehouse.location
    PERFCACHE_SYNC_TOPIC           = var.sync_topic_name
    PERFCACHE_FRESHNESS_WINDOW_S   = tostring(var.sync_function.freshness_window_s)
    PERFCACHE_MAXIMUM_BYTES_BILLED = tostring(var.sync_function.maximum_bytes_billed)
    PERFCACHE_USE_STORAGE_API      = tostring(var.sync_function.use_storage_api)
    PERFCACHE_REJECT_SHARE_LIMIT   = tostring(var.sync_function.reject_share_limit)
    PERFCACHE_LEASE_TTL_S          = tostring(var.sync_function.lease_ttl_s)
  }

  api_environment = {
    PERFCACHE_PROJECT       = var.project_id
    PERFCACHE_SYNC_TOPIC    = var.sync_topic_name
    PERFCACHE_STALE_AFTER_S = tostring(var.stale_after_s)
    PERFCACHE_JWT_AUDIENCE  = var.api_function.jwt_audience
    PERFCACHE_JWT_ISSUER    = var.api_function.jwt_issuer
    PERFCACHE_JWT_JWKS_URL  = var.api_function.jwt_jwks_url
    PERFCACHE_CORS_ORIGINS  = join(",", var.api_function.cors_origins)
  }
}

resource "google_cloudfunctions2_function" "sync" {
  project     = var.project_id
  location    = var.region
  name        = local.sync_function_name
  description = "Copies the warehouse datasets into the Firestore cache."

  build_config {
    runtime     = "python312"
    entry_point = "sync"

    source {
      storage_source {
        bucket = google_storage_bucket.bundles.name
        object = google_storage_bucket_object.bundle["sync"].name
      }
    }
  }

  service_config {
    available_memory      = "${var.sync_function.memory_mb}M"
    available_cpu         = var.sync_function.cpu
    timeout_seconds       = var.sync_function.timeout_s
    service_account_email = google_service_account.sync.email
    ingress_settings      = "ALLOW_INTERNAL_ONLY"
    environment_variables = local.sync_environment

    # One run at a time: one instance taking one request. A request that arrives while
    # a run is going is refused and redelivered later; the Firestore lease guards the
    # rest (it lives longer than timeout_seconds, see var.sync_function).
    min_instance_count               = 0
    max_instance_count               = 1
    max_instance_request_concurrency = 1
    all_traffic_on_latest_revision   = true
  }

  event_trigger {
    trigger_region        = var.region
    event_type            = "google.cloud.pubsub.topic.v1.messagePublished"
    pubsub_topic          = google_pubsub_topic.sync.id
    retry_policy          = "RETRY_POLICY_RETRY"
    service_account_email = google_service_account.sync.email
  }

  depends_on = [
    google_project_service.enabled,
    google_bigquery_dataset_iam_member.sync_reads_warehouse,
    google_project_iam_member.sync_writes_firestore,
  ]
}

resource "google_cloudfunctions2_function" "api" {
  project     = var.project_id
  location    = var.region
  name        = local.api_function_name
  description = "Serves the cached datasets over HTTPS behind JWT auth."

  build_config {
    runtime     = "python312"
    entry_point = "api"

    source {
      storage_source {
        bucket = google_storage_bucket.bundles.name
        object = google_storage_bucket_object.bundle["api"].name
      }
    }
  }

  service_config {
    available_memory      = "${var.api_function.memory_mb}M"
    timeout_seconds       = var.api_function.timeout_s
    min_instance_count    = var.api_function.min_instances
    max_instance_count    = var.api_function.max_instances
    ingress_settings      = var.api_function.ingress
    service_account_email = google_service_account.api.email
    environment_variables = local.api_environment

    all_traffic_on_latest_revision = true

    # The HS256 key comes from Secret Manager at start-up; Terraform never sees it.
    secret_environment_variables {
      key        = "PERFCACHE_JWT_SECRET"
      project_id = var.project_id
      secret     = google_secret_manager_secret.jwt.secret_id
      version    = var.api_function.secret_version
    }
  }

  depends_on = [
    google_project_service.enabled,
    google_secret_manager_secret_iam_member.api_reads_jwt_secret,
    google_project_iam_member.api_reads_firestore,
  ]
}
