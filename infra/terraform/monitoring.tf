# Alerts on the sync's log lines. The sync writes one structured line per run,
# jsonPayload.event = "sync_run_finished" with jsonPayload.status; the API writes
# jsonPayload.event = "data_stale" when it serves data older than stale_after_s.
#
# Stale data is caught two ways, in one policy: no sync finished without failing for
# stale_after_s (fires with no API traffic at all), or the API served stale data.

locals {
  sync_log_filter = join(" AND ", [
    "resource.type=\"cloud_run_revision\"",
    "resource.labels.service_name=\"${local.sync_function_name}\"",
    "jsonPayload.event=\"sync_run_finished\"",
  ])
  api_log_filter = join(" AND ", [
    "resource.type=\"cloud_run_revision\"",
    "resource.labels.service_name=\"${local.api_function_name}\"",
  ])
}

resource "google_logging_metric" "sync_failed" {
  project     = var.project_id
  name        = "perfcache/sync_failed"
  description = "Sync runs that finished with status failed."
  filter      = "${local.sync_log_filter} AND jsonPayload.status=\"failed\""

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "perfcache failed syncs"
  }

  depends_on = [google_project_service.enabled]
}

resource "google_logging_metric" "sync_finished_ok" {
  project     = var.project_id
  name        = "perfcache/sync_finished_ok"
  description = "Sync runs that finished without failing (including runs that found nothing new)."
  filter      = "${local.sync_log_filter} AND jsonPayload.status!=\"failed\""

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "perfcache successful syncs"
  }

  depends_on = [google_project_service.enabled]
}

resource "google_logging_metric" "api_data_stale" {
  project     = var.project_id
  name        = "perfcache/api_data_stale"
  description = "API responses that served data older than PERFCACHE_STALE_AFTER_S."
  filter      = "${local.api_log_filter} AND jsonPayload.event=\"data_stale\""

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "perfcache stale responses"
  }

  depends_on = [google_project_service.enabled]
}

resource "google_monitoring_alert_policy" "sync_failed" {
  project               = var.project_id
  display_name          = "perfcache: a sync failed"
  combiner              = "OR"
  notification_channels = var.alert_notification_channels

  conditions {
    display_name = "sync_run_finished with status failed"

    condition_threshold {
      filter          = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.sync_failed.name}\" AND resource.type=\"cloud_run_revision\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"

      aggregations {
        alignment_period   = "300s"
        per_series_aligner = "ALIGN_SUM"
      }
    }
  }

  alert_strategy {
    auto_close = "86400s"
  }

  documentation {
    mime_type = "text/markdown"
    content   = "A perfcache sync failed; the API keeps serving the previous data. Read the run's log lines (jsonPayload.run_id) and the sync_runs collection, fix the cause, then start a sync (see docs/deploy.md)."
  }
}

resource "google_monitoring_alert_policy" "data_stale" {
  project               = var.project_id
  display_name          = "perfcache: data is stale"
  combiner              = "OR"
  notification_channels = var.alert_notification_channels

  conditions {
    display_name = "no sync finished well for stale_after_s"

    condition_absent {
      filter   = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.sync_finished_ok.name}\" AND resource.type=\"cloud_run_revision\""
      duration = "${var.stale_after_s}s"

      aggregations {
        alignment_period   = "600s"
        per_series_aligner = "ALIGN_SUM"
      }
    }
  }

  conditions {
    display_name = "the API served stale data"

    condition_threshold {
      filter          = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.api_data_stale.name}\" AND resource.type=\"cloud_run_revision\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"

      aggregations {
        alignment_period   = "600s"
        per_series_aligner = "ALIGN_SUM"
      }
    }
  }

  alert_strategy {
    auto_close = "86400s"
  }

  documentation {
    mime_type = "text/markdown"
    content   = "The perfcache dashboard is serving data older than its freshness limit. Check the scheduler job, the sync's recent runs and the dead-letter subscription (docs/deploy.md)."
  }
}
