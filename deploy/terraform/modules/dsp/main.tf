locals {
  all_services = ["gateway", "ingest", "profile", "etl", "ml", "dashboard"]
  chart        = coalesce(var.chart_path, "${path.module}/../../../helm/dsp")
  namespace    = var.create_namespace ? kubernetes_namespace_v1.this[0].metadata[0].name : var.namespace
  secret_name  = "${var.release_name}-dsp-credentials"

  # Mirrors the chart's "dsp.fullname" helper.
  fullname = strcontains(var.release_name, "dsp") ? var.release_name : "${var.release_name}-dsp"

  chart_values = {
    image = {
      repository = var.image_repository
      tag        = var.image_tag
    }
    serviceAccount = {
      annotations = var.service_account_annotations
    }
    config = {
      environment              = var.environment
      logLevel                 = var.log_level
      artifactUrl              = var.artifact_url
      s3EndpointUrl            = var.s3_endpoint_url
      otelExporterOtlpEndpoint = var.otel_exporter_otlp_endpoint
      database                 = var.database
    }
    secrets = {
      existingSecret = local.secret_name
    }
    artifacts = {
      persistence = {
        enabled       = var.artifact_claim_name != null
        existingClaim = coalesce(var.artifact_claim_name, "")
      }
    }
    serviceMonitor = {
      enabled = var.service_monitor_enabled
    }
    grafanaDashboard = {
      enabled = var.grafana_dashboard_enabled
    }
  }

  service_toggles = {
    for service in local.all_services : service => { create = contains(var.services, service) }
  }

  gateway_ingress = var.gateway_ingress.enabled ? {
    gateway = {
      ingress = {
        enabled     = true
        host        = var.gateway_ingress.host
        className   = var.gateway_ingress.class_name
        annotations = var.gateway_ingress.annotations
        tls = var.gateway_ingress.tls_secret == "" ? [] : [
          { hosts = [var.gateway_ingress.host], secretName = var.gateway_ingress.tls_secret }
        ]
      }
    }
  } : {}
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
      "amqp-url"              = var.amqp_url
      "redis-url"             = var.redis_url
      "admin-database-url"    = var.admin_database_url
      "aws-access-key-id"     = var.aws_access_key_id
      "aws-secret-access-key" = var.aws_secret_access_key
    },
    { for service in var.services : "${service}-db-password" => var.db_passwords[service] },
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

  values = concat(
    [
      yamlencode(local.chart_values),
      yamlencode(local.service_toggles),
      yamlencode(local.gateway_ingress),
    ],
    var.extra_values,
  )

  depends_on = [kubernetes_secret_v1.credentials]
}
