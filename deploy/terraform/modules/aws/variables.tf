variable "name" {
  type        = string
  description = "Prefix of every AWS resource name (e.g. dsp-prod)."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name must be 3-32 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource."
  default     = {}

  validation {
    condition     = alltrue([for key in keys(var.tags) : length(key) <= 128])
    error_message = "Tag keys are at most 128 characters."
  }
}

variable "vpc_id" {
  type        = string
  description = "VPC the data stores and (a new) EKS cluster are placed in."

  validation {
    condition     = can(regex("^vpc-[0-9a-f]{8,17}$", var.vpc_id))
    error_message = "vpc_id must be a VPC id (vpc-...)."
  }
}

variable "private_subnet_ids" {
  type        = list(string)
  description = "Private subnets (at least two, in different availability zones) for the data stores and nodes."

  validation {
    condition     = length(var.private_subnet_ids) >= 2 && alltrue([for id in var.private_subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", id))])
    error_message = "private_subnet_ids needs at least two subnet ids (subnet-...)."
  }
}

variable "eks" {
  type = object({
    create                 = bool
    existing_cluster_name  = optional(string, "")
    kubernetes_version     = optional(string, "1.31")
    node_instance_types    = optional(list(string), ["m6i.xlarge"])
    ml_node_instance_types = optional(list(string), ["r6i.2xlarge"])
    node_min_size          = optional(number, 2)
    node_max_size          = optional(number, 6)
    endpoint_public_access = optional(bool, false)
    public_access_cidrs    = optional(list(string), [])
  })
  description = "Create an EKS cluster (create = true) or use an existing one by name (create = false, existing_cluster_name)."

  validation {
    condition     = var.eks.create || length(var.eks.existing_cluster_name) > 0
    error_message = "Set eks.existing_cluster_name when eks.create is false."
  }
  validation {
    condition     = can(regex("^1\\.(2[89]|3[0-9])$", var.eks.kubernetes_version))
    error_message = "eks.kubernetes_version must be a supported minor version such as 1.31."
  }
  validation {
    condition     = var.eks.node_min_size >= 1 && var.eks.node_max_size >= var.eks.node_min_size
    error_message = "eks.node_min_size must be at least 1 and not above eks.node_max_size."
  }
  validation {
    condition     = !var.eks.endpoint_public_access || length(var.eks.public_access_cidrs) > 0
    error_message = "A public API endpoint needs eks.public_access_cidrs (never 0.0.0.0/0 by default)."
  }
}

variable "namespace" {
  type        = string
  description = "Kubernetes namespace of the dsp release (the IRSA roles trust its service accounts only)."
  default     = "dsp"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", var.namespace))
    error_message = "namespace must be a DNS label."
  }
}

variable "service_account_name" {
  type        = string
  description = "Name of the chart's service account (serviceAccount.name; the release's full name by default)."
  default     = "dsp"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$", var.service_account_name))
    error_message = "service_account_name must be a DNS subdomain."
  }
}

variable "postgres" {
  type = object({
    engine_version           = optional(string, "15")
    instance_class           = optional(string, "db.m6g.large")
    allocated_storage_gb     = optional(number, 100)
    max_allocated_storage_gb = optional(number, 500)
    multi_az                 = optional(bool, true)
    backup_retention_days    = optional(number, 14)
    deletion_protection      = optional(bool, true)
  })
  description = "RDS PostgreSQL; the master password is managed by RDS in Secrets Manager (never in the state)."
  default     = {}

  validation {
    condition     = can(regex("^1[5-7](\\.[0-9]+)?$", var.postgres.engine_version))
    error_message = "postgres.engine_version must be PostgreSQL 15, 16 or 17."
  }
  validation {
    condition     = var.postgres.backup_retention_days >= 7 && var.postgres.backup_retention_days <= 35
    error_message = "postgres.backup_retention_days must be 7 to 35 (point-in-time recovery window)."
  }
  validation {
    condition     = var.postgres.max_allocated_storage_gb >= var.postgres.allocated_storage_gb
    error_message = "postgres.max_allocated_storage_gb must not be below allocated_storage_gb."
  }
}

variable "rabbitmq" {
  type = object({
    engine_version  = optional(string, "3.13")
    instance_type   = optional(string, "mq.m5.large")
    deployment_mode = optional(string, "CLUSTER_MULTI_AZ")
    admin_username  = optional(string, "dsp_admin")
  })
  description = "Amazon MQ for RabbitMQ. The services' own broker users are created by the chart's brokerUsers hook."
  default     = {}

  validation {
    condition     = contains(["SINGLE_INSTANCE", "CLUSTER_MULTI_AZ"], var.rabbitmq.deployment_mode)
    error_message = "rabbitmq.deployment_mode must be SINGLE_INSTANCE or CLUSTER_MULTI_AZ."
  }
  validation {
    condition     = can(regex("^3\\.1[3-9]|^4\\.", var.rabbitmq.engine_version))
    error_message = "rabbitmq.engine_version must be 3.13 or newer (quorum queues with delivery limits)."
  }
  validation {
    condition     = can(regex("^[a-zA-Z0-9_-]{2,100}$", var.rabbitmq.admin_username)) && var.rabbitmq.admin_username != "guest"
    error_message = "rabbitmq.admin_username must be 2-100 letters, digits, _ or -, and not guest."
  }
}

variable "redis" {
  type = object({
    engine_version = optional(string, "7.1")
    node_type      = optional(string, "cache.m6g.large")
    replicas       = optional(number, 1)
  })
  description = "ElastiCache Redis (replication group, encrypted at rest and in transit)."
  default     = {}

  validation {
    condition     = can(regex("^7\\.", var.redis.engine_version))
    error_message = "redis.engine_version must be 7.x."
  }
  validation {
    condition     = var.redis.replicas >= 0 && var.redis.replicas <= 5
    error_message = "redis.replicas must be 0 to 5."
  }
}

variable "artifacts" {
  type = object({
    bucket_name                  = optional(string, "")
    noncurrent_version_days      = optional(number, 30)
    abort_incomplete_upload_days = optional(number, 7)
    force_destroy                = optional(bool, false)
  })
  description = "The artifact bucket (uploads, models, dashboards): KMS-encrypted, versioned, with a lifecycle rule."
  default     = {}

  validation {
    condition     = var.artifacts.bucket_name == "" || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.artifacts.bucket_name))
    error_message = "artifacts.bucket_name must be a valid S3 bucket name (or empty for <name>-artifacts)."
  }
  validation {
    condition     = var.artifacts.noncurrent_version_days >= 1 && var.artifacts.abort_incomplete_upload_days >= 1
    error_message = "The lifecycle periods are at least one day."
  }
}

variable "services" {
  type        = list(string)
  description = "The dsp services, each given a database and a broker password in Secrets Manager."
  default     = ["gateway", "ingest", "profile", "etl", "ml", "dashboard"]

  validation {
    condition     = length(var.services) > 0 && alltrue([for s in var.services : contains(["gateway", "ingest", "profile", "etl", "ml", "dashboard"], s)])
    error_message = "services must be a non-empty subset of gateway, ingest, profile, etl, ml, dashboard."
  }
}

variable "external_secrets" {
  type = object({
    namespace            = optional(string, "external-secrets")
    service_account_name = optional(string, "external-secrets")
  })
  description = "Where the External Secrets Operator runs: its service account gets read access to this platform's secrets only."
  default     = {}

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", var.external_secrets.namespace))
    error_message = "external_secrets.namespace must be a DNS label."
  }
}
