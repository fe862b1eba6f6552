locals {
  namespace = var.create_namespace ? kubernetes_namespace_v1.this[0].metadata[0].name : var.namespace
}

resource "kubernetes_namespace_v1" "this" {
  count = var.create_namespace ? 1 : 0

  metadata {
    name = var.namespace
    labels = merge(
      {
        "app.kubernetes.io/part-of"                  = "dsp"
        "pod-security.kubernetes.io/enforce"         = var.pod_security_level
        "pod-security.kubernetes.io/enforce-version" = "latest"
        "pod-security.kubernetes.io/warn"            = "restricted"
      },
      var.namespace_labels,
    )
  }
}

# Credentials live in a Secret managed here rather than in Helm values, so they never
# appear in the release's stored values; the chart reads it through secrets.existingSecret.
resource "kubernetes_secret_v1" "credentials" {
  metadata {
    name      = local.secret_name
    namespace = local.namespace
    labels = {
      "app.kubernetes.io/part-of"    = "dsp"
      "app.kubernetes.io/instance"   = var.release_name
      "app.kubernetes.io/managed-by" = "terraform"
    }
  }

  type = "Opaque"

  data = merge(
    {
      "amqp-url"                 = var.amqp_url
      "redis-url"                = var.redis_url
      "admin-database-url"       = var.admin_database_url
      "aws-access-key-id"        = var.aws_access_key_id
      "aws-secret-access-key"    = var.aws_secret_access_key
      "service-token"            = var.service_token
      "jwt-secret"               = var.jwt_secret
      "bootstrap-admin-email"    = var.bootstrap_admin.email
      "bootstrap-admin-password" = var.bootstrap_admin.password
    },
    { for service in var.services : "${service}-db-password" => var.db_passwords[service] },
    { for service, url in var.amqp_urls : "${service}-amqp-url" => url if contains(var.services, service) },
  )

  lifecycle {
    precondition {
      condition     = length(setsubtract(var.services, keys(var.db_passwords))) == 0
      error_message = "db_passwords must hold a password for every deployed service."
    }
  }
}

resource "helm_release" "this" {
  name             = var.release_name
  namespace        = local.namespace
  chart            = local.chart
  version          = var.chart_version
  create_namespace = false
  atomic           = var.atomic
  cleanup_on_fail  = true
  wait             = true
  timeout          = var.timeout_seconds
  max_history      = 10

  values = concat([for document in local.helm_values : yamlencode(document)], var.extra_values)

  depends_on = [kubernetes_secret_v1.credentials]
}
