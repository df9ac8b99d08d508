# Sync requests: Cloud Scheduler and the API's manual trigger publish to one topic,
# and the sync function's Eventarc trigger consumes it.

resource "google_pubsub_topic" "sync" {
  project = var.project_id
  name    = var.sync_topic_name

  # A request older than a day is superseded by the next scheduled one.
  message_retention_duration = "86400s"

  depends_on = [google_project_service.enabled]
}

# Requests the sync failed on dead_letter_max_delivery_attempts times land here, so one
# poison message cannot retry for the rest of the day.
resource "google_pubsub_topic" "sync_dead_letter" {
  project = var.project_id
  name    = "${var.sync_topic_name}-dead-letter"

  depends_on = [google_project_service.enabled]
}

# Keeps dead letters for a week so someone can read them.
resource "google_pubsub_subscription" "sync_dead_letter" {
  project = var.project_id
  name    = "${var.sync_topic_name}-dead-letter"
  topic   = google_pubsub_topic.sync_dead_letter.id

  message_retention_duration = "604800s"
  ack_deadline_seconds       = 60

  expiration_policy {
    ttl = ""
  }
}

# The schedule publishes through Pub/Sub's REST API as its own account, so the grant
# it needs is publisher on this one topic (a Pub/Sub target would publish as the
# project's Cloud Scheduler agent instead).
resource "google_cloud_scheduler_job" "sync" {
  project   = var.project_id
  region    = var.region
  name      = "perfcache-sync-all"
  schedule  = var.schedule.cron
  time_zone = var.schedule.time_zone

  description      = "Asks the sync to refresh every dataset."
  attempt_deadline = "30s"

  # One publish per tick and no retries: a retried publish would queue a second sync
  # behind the one it started. The sync's lease and its single instance cover the rest.
  retry_config {
    retry_count = 0
  }

  http_target {
    http_method = "POST"
    uri         = "https://pubsub.googleapis.com/v1/${google_pubsub_topic.sync.id}:publish"
    headers     = { "Content-Type" = "application/json" }
    body = base64encode(jsonencode({
      messages = [{ data = base64encode(jsonencode({ data_type = "all" })) }]
    }))

    oauth_token {
      service_account_email = google_service_account.scheduler.email
      scope                 = "https://www.googleapis.com/auth/pubsub"
    }
  }

  depends_on = [google_pubsub_topic_iam_member.scheduler_publishes_sync]
}
