# The API's HS256 key. Terraform creates the secret only: a version written here would
# keep the key in the state file, so versions are added with gcloud (docs/deploy.md).
resource "google_secret_manager_secret" "jwt" {
  project   = var.project_id
  secret_id = var.jwt_secret_id

  replication {
    auto {}
  }

  depends_on = [google_project_service.enabled]
}
