# Example root configuration: installs dsp into the cluster of the current kubeconfig.
#   terraform init && terraform apply -var-file=secrets.tfvars
terraform {
  required_version = ">= 1.5.0"

  required_providers {
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = "~> 2.35"
    }
    helm = {
      source  = "hashicorp/helm"
      version = "~> 3.0"
    }
  }
}

variable "kubeconfig_path" {
  type        = string
  description = "Kubeconfig of the target cluster."
  default     = "~/.kube/config"
}

variable "kube_context" {
  type        = string
  description = "Kubeconfig context to use; null for the current one."
  default     = null
}

variable "image_repository" {
  type        = string
  description = "Registry prefix the service images were pushed to."
}

variable "image_tag" {
  type        = string
  description = "Image tag to deploy."
}

variable "database_host" {
  type        = string
  description = "PostgreSQL host reachable from the cluster."
}

variable "amqp_url" {
  type        = string
  description = "RabbitMQ URL with credentials."
  sensitive   = true
}

variable "redis_url" {
  type        = string
  description = "Redis URL with credentials."
  sensitive   = true
}

variable "admin_database_url" {
  type        = string
  description = "PostgreSQL superuser URL for the migrate Jobs."
  sensitive   = true
}

variable "db_passwords" {
  type        = map(string)
  description = "Password per service role."
  sensitive   = true
}

variable "service_token" {
  type        = string
  description = "Shared token ml's internal routes require from the gateway (24+ characters)."
  sensitive   = true
}

variable "jwt_secret" {
  type        = string
  description = "The gateway's JWT signing key (32+ characters)."
  sensitive   = true
}

variable "s3_endpoint_url" {
  type        = string
  description = "S3-compatible endpoint; empty for AWS S3."
  default     = ""
}

variable "aws_access_key_id" {
  type        = string
  description = "Artifact store access key."
  default     = ""
  sensitive   = true
}

variable "aws_secret_access_key" {
  type        = string
  description = "Artifact store secret key."
  default     = ""
  sensitive   = true
}

provider "kubernetes" {
  config_path    = var.kubeconfig_path
  config_context = var.kube_context
}

provider "helm" {
  kubernetes = {
    config_path    = var.kubeconfig_path
    config_context = var.kube_context
  }
}

module "dsp" {
  source = "../../modules/dsp"

  namespace        = "dsp"
  image_repository = var.image_repository
  image_tag        = var.image_tag

  database = {
    host = var.database_host
  }

  amqp_url              = var.amqp_url
  redis_url             = var.redis_url
  admin_database_url    = var.admin_database_url
  db_passwords          = var.db_passwords
  service_token         = var.service_token
  jwt_secret            = var.jwt_secret
  s3_endpoint_url       = var.s3_endpoint_url
  aws_access_key_id     = var.aws_access_key_id
  aws_secret_access_key = var.aws_secret_access_key

  service_monitor_enabled = true
}

output "gateway_url" {
  description = "In-cluster URL of the gateway."
  value       = module.dsp.gateway_url
}

output "service_names" {
  description = "Service name per dsp service."
  value       = module.dsp.service_names
}
