output "namespace" {
  description = "Namespace the platform runs in."
  value       = local.namespace
}

output "release_name" {
  description = "Name of the Helm release."
  value       = helm_release.this.name
}

output "release_status" {
  description = "Status of the Helm release (deployed, failed, ...)."
  value       = helm_release.this.status
}

output "chart_version" {
  description = "Version of the installed chart."
  value       = helm_release.this.version
}

output "credentials_secret_name" {
  description = "Secret holding the services' credentials (rotate values here, then roll the Deployments)."
  value       = kubernetes_secret_v1.credentials.metadata[0].name
}

output "service_names" {
  description = "Kubernetes Service name of each deployed service."
  value       = { for service in var.services : service => "${local.fullname}-${service}" }
}

output "gateway_url" {
  description = "In-cluster URL of the gateway API, or null when the gateway is not deployed."
  value       = contains(var.services, "gateway") ? "http://${local.fullname}-gateway.${local.namespace}.svc.cluster.local:8000" : null
}
