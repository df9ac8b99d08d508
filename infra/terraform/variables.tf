variable "project_id" {
  description = "Google Cloud project that runs the functions, Firestore and Pub/Sub."
  type        = string
  default     = null

  validation {
    condition     = var.project_id != null && can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a project id such as \"school-perf-prod\" (6-30 lowercase letters, digits or hyphens); set it with -var project_id=... or in terraform.tfvars."
  }
}

variable "region" {
  description = "Region of the functions, the bundle bucket and the scheduler job."
  type        = string
  default     = "us-central1"
}

variable "labels" {
  description = "Labels added to every resource that takes labels."
  type        = map(string)
  default     = {}
}

variable "warehouse" {
  description = "The BigQuery dataset the sync reads (PERFCACHE_WAREHOUSE = project.dataset); project_id null means this project."
  type = object({
    project_id = optional(string)
    dataset_id = optional(string, "school_perf")
    location   = optional(string, "US")
  })
  default = {}

  validation {
    condition     = can(regex("^[A-Za-z0-9_]{1,1024}$", var.warehouse.dataset_id))
    error_message = "warehouse.dataset_id must be a BigQuery dataset id (letters, digits, underscores), such as \"school_perf\"."
  }
}

variable "sync_topic_name" {
  description = "Pub/Sub topic that starts a sync (PERFCACHE_SYNC_TOPIC); its dead-letter topic adds a \"-dead-letter\" suffix."
  type        = string
  default     = "perfcache-sync"

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9._~%+-]{2,200}$", var.sync_topic_name))
    error_message = "sync_topic_name must start with a letter and hold 3-201 letters, digits or ._~%+- characters, such as \"perfcache-sync\"."
  }
}

variable "dead_letter_max_delivery_attempts" {
  description = "Deliveries of one sync request before it moves to the dead-letter topic."
  type        = number
  default     = 5

  validation {
    condition     = var.dead_letter_max_delivery_attempts >= 5 && var.dead_letter_max_delivery_attempts <= 100
    error_message = "dead_letter_max_delivery_attempts must be between 5 and 100 (Pub/Sub's limits)."
  }
}

variable "schedule" {
  description = "When Cloud Scheduler asks for a sync of every dataset: a cron expression and its IANA time zone."
  type = object({
    cron      = optional(string, "0 */2 * * *")
    time_zone = optional(string, "Etc/UTC")
  })
  default = {}

  validation {
    condition     = length(split(" ", trimspace(var.schedule.cron))) == 5
    error_message = "schedule.cron must have five fields (minute hour day month weekday), such as \"0 */2 * * *\"."
  }
}

variable "sync_function" {
  description = "Sizing and behaviour of the sync function; timeout_s must stay below lease_ttl_s so a lease outlives the run that holds it."
  type = object({
    timeout_s            = optional(number, 540)
    memory_mb            = optional(number, 1024)
    cpu                  = optional(string, "1")
    lease_ttl_s          = optional(number, 900)
    freshness_window_s   = optional(number, 7200)
    maximum_bytes_billed = optional(number, 10737418240)
    use_storage_api      = optional(bool, true)
    reject_share_limit   = optional(number, 0.01)
  })
  default = {}

  validation {
    condition     = var.sync_function.timeout_s >= 60 && var.sync_function.timeout_s <= 540
    error_message = "sync_function.timeout_s must be between 60 and 540 seconds (the limit for event-triggered functions)."
  }

  validation {
    condition     = var.sync_function.lease_ttl_s > var.sync_function.timeout_s + 60
    error_message = "sync_function.lease_ttl_s must exceed timeout_s by more than 60 s, or a second sync could take the lease of a run still writing; raise lease_ttl_s or lower timeout_s."
  }

  validation {
    condition     = var.sync_function.maximum_bytes_billed >= 10485760
    error_message = "sync_function.maximum_bytes_billed must be at least 10485760 (10 MiB, BigQuery's minimum)."
  }
}

variable "api_function" {
  description = "Sizing and exposure of the API function; public = true lets anyone reach it (the API still checks JWTs)."
  type = object({
    ingress        = optional(string, "ALLOW_ALL")
    min_instances  = optional(number, 0)
    max_instances  = optional(number, 10)
    memory_mb      = optional(number, 512)
    timeout_s      = optional(number, 60)
    public         = optional(bool, false)
    invokers       = optional(list(string), [])
    jwt_audience   = optional(string, "perfcache-api")
    jwt_issuer     = optional(string, "perfcache-dev")
    jwt_jwks_url   = optional(string, "")
    cors_origins   = optional(list(string), [])
    secret_version = optional(string, "latest")
  })
  default = {}

  validation {
    condition     = contains(["ALLOW_ALL", "ALLOW_INTERNAL_ONLY", "ALLOW_INTERNAL_AND_GCLB"], var.api_function.ingress)
    error_message = "api_function.ingress must be ALLOW_ALL, ALLOW_INTERNAL_ONLY or ALLOW_INTERNAL_AND_GCLB."
  }

  validation {
    condition     = var.api_function.min_instances >= 0 && var.api_function.min_instances <= var.api_function.max_instances
    error_message = "api_function.min_instances must be between 0 and max_instances."
  }

  validation {
    condition     = alltrue([for member in var.api_function.invokers : can(regex("^(user|group|serviceAccount|domain):", member))])
    error_message = "api_function.invokers holds IAM members such as \"group:dashboard@example.org\"; use public = true instead of allUsers."
  }
}

variable "jwt_secret_id" {
  description = "Secret Manager secret holding the API's HS256 key; add its versions outside Terraform (see docs/deploy.md)."
  type        = string
  default     = "perfcache-jwt-secret"
}

variable "firestore" {
  description = "Firestore database of the cache; create = false when the project already has one."
  type = object({
    create      = optional(bool, false)
    database    = optional(string, "(default)")
    location_id = optional(string, "nam5")
  })
  default = {}
}

variable "bundle_dir" {
  description = "Folder holding sync.zip and api.zip from `make package`; relative paths start at this folder."
  type        = string
  default     = "../../build"
}

variable "stale_after_s" {
  description = "Data older than this is stale: the API flags it (PERFCACHE_STALE_AFTER_S) and an alert fires when no sync has finished well for this long."
  type        = number
  default     = 14400

  validation {
    condition     = var.stale_after_s >= 3600 && var.stale_after_s <= 82800
    error_message = "stale_after_s must be between 3600 and 82800 seconds (1 h to 23 h, Cloud Monitoring's longest absence window)."
  }
}

variable "alert_notification_channels" {
  description = "Monitoring notification channel ids (projects/<p>/notificationChannels/<id>) that receive the alerts."
  type        = list(string)
  default     = []
}
