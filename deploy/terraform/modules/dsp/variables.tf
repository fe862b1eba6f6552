variable "namespace" {
  type        = string
  description = "Kubernetes namespace the platform is installed into."
  default     = "dsp"
}

variable "create_namespace" {
  type        = bool
  description = "Create the namespace (with Pod Security Admission labels) instead of using an existing one."
  default     = true
}

variable "namespace_labels" {
  type        = map(string)
  description = "Extra labels for a created namespace, merged over the Pod Security Admission defaults."
  default     = {}
}

variable "pod_security_level" {
  type        = string
  description = "Pod Security Admission level enforced on a created namespace (privileged, baseline or restricted)."
  default     = "restricted"

  validation {
    condition     = contains(["privileged", "baseline", "restricted"], var.pod_security_level)
    error_message = "pod_security_level must be privileged, baseline or restricted."
  }
}

variable "release_name" {
  type        = string
  description = "Helm release name."
  default     = "dsp"
}

variable "chart_path" {
  type        = string
  description = "Path or repository URL of the dsp chart; null uses the chart in this repository (deploy/helm/dsp)."
  default     = null
}

variable "chart_version" {
  type        = string
  description = "Chart version to install when chart_path names a chart repository; null for a local chart."
  default     = null
}

variable "image_repository" {
  type        = string
  description = "Registry prefix of the service images: images are <image_repository>/<service>:<image_tag>."
  default     = "dsp"
}

variable "image_tag" {
  type        = string
  description = "Image tag of every service; empty uses the chart's appVersion."
  default     = ""
}

variable "environment" {
  type        = string
  description = "DSP_ENVIRONMENT of every service; production refuses placeholder secrets."
  default     = "production"

  validation {
    condition     = contains(["development", "production"], var.environment)
    error_message = "environment must be development or production."
  }
}

variable "log_level" {
  type        = string
  description = "DSP_LOG_LEVEL of every service."
  default     = "INFO"
}

variable "services" {
  type        = set(string)
  description = "Services to deploy; any subset of gateway, ingest, profile, etl, ml, dashboard."
  default     = ["gateway", "ingest", "profile", "etl", "ml", "dashboard"]

  validation {
    condition     = length(setsubtract(var.services, ["gateway", "ingest", "profile", "etl", "ml", "dashboard"])) == 0
    error_message = "services may only contain gateway, ingest, profile, etl, ml and dashboard."
  }
}

variable "artifact_url" {
  type        = string
  description = "Artifact store URL: s3://bucket/prefix, or file:///var/lib/dsp/artifacts with artifact_claim_name."
  default     = "s3://dsp-artifacts/artifacts"
}

variable "artifact_claim_name" {
  type        = string
  description = "Existing ReadWriteMany PersistentVolumeClaim mounted at /var/lib/dsp/artifacts for a file:// artifact store; null for S3."
  default     = null
}

variable "s3_endpoint_url" {
  type        = string
  description = "S3-compatible endpoint (MinIO, Ceph); empty for AWS S3."
  default     = ""
}

variable "aws_region" {
  type        = string
  description = "AWS_DEFAULT_REGION of the S3 client; empty leaves it to the SDK."
  default     = ""
}

variable "otel_exporter_otlp_endpoint" {
  type        = string
  description = "OTLP endpoint for traces; empty disables export."
  default     = ""
}

variable "database" {
  type = object({
    host    = string
    port    = optional(number, 5432)
    name    = optional(string, "dsp")
    sslmode = optional(string, "require")
  })
  description = "PostgreSQL server the services connect to; each service uses its own role dsp_<service>."
}

variable "amqp_url" {
  type        = string
  description = "RabbitMQ URL with the user and password in it (amqps scheme, port 5671)."
  sensitive   = true
}

variable "redis_url" {
  type        = string
  description = "Redis URL with credentials, e.g. rediss://:password@redis:6380/0."
  sensitive   = true
}

variable "admin_database_url" {
  type        = string
  description = "PostgreSQL superuser URL used only by the migrate Jobs to create schemas and roles."
  sensitive   = true
}

variable "db_passwords" {
  type        = map(string)
  description = "URL-safe password per service (keys: service names) that migrate sets for the service role."
  sensitive   = true

  validation {
    condition     = alltrue([for password in values(var.db_passwords) : can(regex("^[A-Za-z0-9._~-]{12,}$", password))])
    error_message = "Each db password must be at least 12 URL-safe characters (letters, digits, . _ ~ -)."
  }
}

variable "amqp_urls" {
  type        = map(string)
  description = "RabbitMQ URL per service (keys: service names), each with the service's own broker user dsp_<service>; services left out use amqp_url."
  default     = {}
  sensitive   = true
}

variable "service_token" {
  type        = string
  description = "Shared token that ml's internal predict route requires from the gateway (24+ characters)."
  sensitive   = true

  validation {
    condition     = length(var.service_token) >= 24
    error_message = "service_token must be at least 24 characters."
  }
}

variable "jwt_secret" {
  type        = string
  description = "The gateway's JWT signing key (32+ characters)."
  sensitive   = true

  validation {
    condition     = length(var.jwt_secret) >= 32
    error_message = "jwt_secret must be at least 32 characters."
  }
}

variable "bootstrap_admin" {
  type = object({
    email    = optional(string, "")
    password = optional(string, "")
  })
  description = "The first admin, created at gateway start when missing; empty email: none."
  default     = {}
  sensitive   = true
}

variable "aws_access_key_id" {
  type        = string
  description = "Access key for the S3 artifact store; empty to use the pod's workload identity."
  default     = ""
  sensitive   = true
}

variable "aws_secret_access_key" {
  type        = string
  description = "Secret key for the S3 artifact store; empty to use the pod's workload identity."
  default     = ""
  sensitive   = true
}

variable "service_account_annotations" {
  type        = map(string)
  description = "Annotations on the services' ServiceAccount, e.g. eks.amazonaws.com/role-arn for S3 access."
  default     = {}
}

variable "gateway_ingress" {
  type = object({
    enabled     = optional(bool, false)
    host        = optional(string, "")
    class_name  = optional(string, "")
    annotations = optional(map(string), {})
    tls_secret  = optional(string, "")
  })
  description = "Ingress in front of the gateway; tls_secret names an existing TLS Secret for the host."
  default     = {}
}

variable "network_policy" {
  type = object({
    enabled           = optional(bool, true)
    metrics_namespace = optional(string, "monitoring")
    ingress_namespace = optional(string, "ingress-nginx")
  })
  description = "NetworkPolicies (on by default, ingress and egress): the gateway accepts traffic only from ingress_namespace (empty: any source), ml only from the gateway, metrics ports only from metrics_namespace."
  default     = {}
}

variable "service_monitor_enabled" {
  type        = bool
  description = "Create Prometheus Operator ServiceMonitors (needs the monitoring.coreos.com CRDs)."
  default     = false
}

variable "grafana_dashboard_enabled" {
  type        = bool
  description = "Create the ConfigMap carrying the operator dashboard, labelled for the Grafana sidecar."
  default     = false
}

variable "extra_values" {
  type        = list(string)
  description = "Additional YAML values documents passed to the chart after the module's own (later ones win)."
  default     = []
}

variable "timeout_seconds" {
  type        = number
  description = "Time Helm waits for the migrate Jobs and the rollout."
  default     = 1200
}

variable "atomic" {
  type        = bool
  description = "Roll back the release if an install or upgrade fails."
  default     = true
}
