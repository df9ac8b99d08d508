output "api_url" {
  description = "HTTPS URL of the API function."
  value       = google_cloudfunctions2_function.api.url
}

output "sync_function" {
  description = "Name of the sync function."
  value       = google_cloudfunctions2_function.sync.name
}

output "sync_trigger" {
  description = "Eventarc trigger that delivers sync requests; make deploy attaches the dead-letter topic to its subscription."
  value       = google_cloudfunctions2_function.sync.event_trigger[0].trigger
}

output "sync_topic" {
  description = "Pub/Sub topic that starts a sync."
  value       = google_pubsub_topic.sync.name
}

output "sync_dead_letter_topic" {
  description = "Pub/Sub topic holding sync requests that failed too often."
  value       = google_pubsub_topic.sync_dead_letter.name
}

output "dead_letter_max_delivery_attempts" {
  description = "Deliveries of one sync request before it is dead-lettered."
  value       = var.dead_letter_max_delivery_attempts
}

output "pubsub_service_agent" {
  description = "Pub/Sub's service agent, which moves messages to the dead-letter topic."
  value       = local.pubsub_agent
}

output "jwt_secret_id" {
  description = "Secret Manager secret to add the API's HS256 key to."
  value       = google_secret_manager_secret.jwt.secret_id
}

output "bundle_bucket" {
  description = "Bucket holding the function bundles."
  value       = google_storage_bucket.bundles.name
}

output "service_accounts" {
  description = "Email of each function's and the schedule's service account."
  value = {
    sync      = google_service_account.sync.email
    api       = google_service_account.api.email
    scheduler = google_service_account.scheduler.email
  }
}
