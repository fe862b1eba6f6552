# Chart values computed from the module's inputs. Kept apart from the resources so the
# values can be evaluated (terraform console) without any provider.
locals {
  all_services = ["gateway", "ingest", "profile", "etl", "ml", "dashboard"]
  chart        = coalesce(var.chart_path, "${path.module}/../../../helm/dsp")
  secret_name  = "${local.fullname}-credentials"

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
      awsRegion                = var.aws_region
      otelExporterOtlpEndpoint = var.otel_exporter_otlp_endpoint
      database                 = var.database
    }
    secrets = {
      existingSecret = local.secret_name
      # non-empty: the service reads <service>-amqp-url (its own broker user) from the Secret
      amqpUrls = { for service in local.all_services : service => contains(nonsensitive(keys(var.amqp_urls)), service) ? "from-secret" : "" }
    }
    artifacts = {
      persistence = {
        enabled       = var.artifact_claim_name != null
        existingClaim = var.artifact_claim_name == null ? "" : var.artifact_claim_name
      }
    }
    serviceMonitor = {
      enabled = var.service_monitor_enabled
    }
    grafanaDashboard = {
      enabled = var.grafana_dashboard_enabled
    }
    networkPolicy = {
      enabled = var.network_policy.enabled
      metricsFrom = var.network_policy.metrics_namespace == "" ? [] : [
        { namespaceSelector = { matchLabels = { "kubernetes.io/metadata.name" = var.network_policy.metrics_namespace } } }
      ]
      gatewayFrom = var.network_policy.ingress_namespace == "" ? [] : [
        { namespaceSelector = { matchLabels = { "kubernetes.io/metadata.name" = var.network_policy.ingress_namespace } } }
      ]
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

  # Values documents handed to the chart, in order; var.extra_values come after them.
  helm_values = [local.chart_values, local.service_toggles, local.gateway_ingress]
}
