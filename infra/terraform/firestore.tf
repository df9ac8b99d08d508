# The cache's database and the composite indexes the API's queries need.

resource "google_firestore_database" "cache" {
  count = var.firestore.create ? 1 : 0

  project     = var.project_id
  name        = var.firestore.database
  location_id = var.firestore.location_id
  type        = "FIRESTORE_NATIVE"

  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"
  delete_protection_state           = "DELETE_PROTECTION_ENABLED"
  # `terraform destroy` leaves the data in place; delete it deliberately if ever.
  deletion_policy = "ABANDON"

  depends_on = [google_project_service.enabled]
}

locals {
  # Generated from the dataset declarations (perfcache/datasets.py); one entry per
  # query shape, in the firestore.indexes.json format the Firebase CLI uses.
  firestore_indexes = jsondecode(file("${path.module}/firestore.indexes.json")).indexes

  # A stable key per index: its collection group and its fields in order.
  firestore_indexes_by_key = {
    for index in local.firestore_indexes :
    "${index.collectionGroup}:${join(",", [
      for field in index.fields :
      "${field.fieldPath}:${try(field.order, field.arrayConfig)}"
    ])}" => index
  }
}

resource "google_firestore_index" "cache" {
  for_each = local.firestore_indexes_by_key

  project     = var.project_id
  database    = var.firestore.database
  collection  = each.value.collectionGroup
  query_scope = try(each.value.queryScope, "COLLECTION")

  dynamic "fields" {
    for_each = each.value.fields
    content {
      field_path   = fields.value.fieldPath
      order        = try(fields.value.order, null)
      array_config = try(fields.value.arrayConfig, null)
    }
  }

  depends_on = [google_firestore_database.cache]
}
