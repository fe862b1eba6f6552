output "cluster_name" {
  description = "The EKS cluster the chart is installed on."
  value       = local.cluster_name
}

output "postgres_host" {
  description = "RDS PostgreSQL endpoint (chart: config.database.host)."
  value       = aws_db_instance.postgres.address
}

output "postgres_master_secret_arn" {
  description = "Secrets Manager secret that RDS keeps the master credentials in (never in the Terraform state)."
  value       = aws_db_instance.postgres.master_user_secret[0].secret_arn
}

output "rabbitmq_amqps_endpoint" {
  description = "Amazon MQ AMQPS endpoint (amqps://host:5671)."
  value       = aws_mq_broker.rabbitmq.instances[0].endpoints[0]
}

output "rabbitmq_console_url" {
  description = "Amazon MQ management console / API URL (the chart's brokerUsers hook and KEDA's management URL)."
  value       = aws_mq_broker.rabbitmq.instances[0].console_url
}

output "redis_host" {
  description = "ElastiCache primary endpoint (TLS: rediss://)."
  value       = aws_elasticache_replication_group.redis.primary_endpoint_address
}

output "artifact_bucket" {
  description = "The artifact bucket (chart: config.artifactUrl = s3://<bucket>/artifacts)."
  value       = aws_s3_bucket.artifacts.bucket
}

output "secret_arns" {
  description = "Secrets Manager secrets the External Secrets Operator reads into the chart's Secret."
  value = {
    app            = aws_secretsmanager_secret.app.arn
    rabbitmq_admin = aws_secretsmanager_secret.rabbitmq_admin.arn
    redis          = aws_secretsmanager_secret.redis.arn
    postgres       = aws_db_instance.postgres.master_user_secret[0].secret_arn
  }
}

output "dsp_role_arn" {
  description = "IAM role of the dsp pods' service account (eks.amazonaws.com/role-arn)."
  value       = aws_iam_role.dsp.arn
}

output "external_secrets_role_arn" {
  description = "IAM role for the External Secrets Operator's service account."
  value       = aws_iam_role.external_secrets.arn
}

output "chart_values" {
  description = "Non-secret chart values for this platform (pass to ../dsp as extra_values)."
  value = {
    config = {
      artifactUrl = "s3://${aws_s3_bucket.artifacts.bucket}/artifacts"
      awsRegion   = data.aws_region.current.region
      database    = { host = aws_db_instance.postgres.address, port = 5432, name = "dsp", sslmode = "require" }
    }
    serviceAccount = { annotations = { "eks.amazonaws.com/role-arn" = aws_iam_role.dsp.arn } }
    secrets        = { existingSecret = local.platform_secret_name }
  }
}
