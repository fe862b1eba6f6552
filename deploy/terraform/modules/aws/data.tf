# RDS PostgreSQL, Amazon MQ for RabbitMQ and ElastiCache Redis, in the private subnets, reachable from the cluster.

resource "aws_db_subnet_group" "postgres" {
  name       = "${var.name}-dsp"
  subnet_ids = var.private_subnet_ids
  tags       = local.tags
}

resource "aws_db_parameter_group" "postgres" {
  name   = "${var.name}-dsp-pg${split(".", var.postgres.engine_version)[0]}"
  family = "postgres${split(".", var.postgres.engine_version)[0]}"

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }
  parameter {
    name  = "log_min_duration_statement"
    value = "1000"
  }
  tags = local.tags
}

data "aws_iam_policy_document" "rds_monitoring_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["monitoring.rds.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "rds_monitoring" {
  name               = "${var.name}-rds-monitoring"
  assume_role_policy = data.aws_iam_policy_document.rds_monitoring_assume.json
  tags               = local.tags
}

resource "aws_iam_role_policy_attachment" "rds_monitoring" {
  role       = aws_iam_role.rds_monitoring.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

resource "aws_db_instance" "postgres" {
  #checkov:skip=CKV_AWS_157:multi_az comes from var.postgres.multi_az (default true); a single-AZ test platform is the operator's choice
  #checkov:skip=CKV_AWS_293:deletion_protection comes from var.postgres.deletion_protection (default true), which checkov cannot resolve
  #checkov:skip=CKV_AWS_133:backup_retention_period comes from var.postgres.backup_retention_days, validated to 7-35 days
  identifier            = "${var.name}-dsp"
  engine                = "postgres"
  engine_version        = var.postgres.engine_version
  instance_class        = var.postgres.instance_class
  allocated_storage     = var.postgres.allocated_storage_gb
  max_allocated_storage = var.postgres.max_allocated_storage_gb
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = aws_kms_key.platform.arn
  db_name               = "dsp"
  username              = "dsp_admin"

  # RDS generates the master password and keeps it in Secrets Manager: it never enters the Terraform state.
  manage_master_user_password   = true
  master_user_secret_kms_key_id = aws_kms_key.platform.arn

  db_subnet_group_name                = aws_db_subnet_group.postgres.name
  vpc_security_group_ids              = [aws_security_group.data.id]
  parameter_group_name                = aws_db_parameter_group.postgres.name
  publicly_accessible                 = false
  multi_az                            = var.postgres.multi_az
  iam_database_authentication_enabled = true
  backup_retention_period             = var.postgres.backup_retention_days
  copy_tags_to_snapshot               = true
  deletion_protection                 = var.postgres.deletion_protection
  skip_final_snapshot                 = false
  final_snapshot_identifier           = "${var.name}-dsp-final"
  auto_minor_version_upgrade          = true
  enabled_cloudwatch_logs_exports     = ["postgresql", "upgrade"]
  performance_insights_enabled        = true
  performance_insights_kms_key_id     = aws_kms_key.platform.arn
  monitoring_interval                 = 60
  monitoring_role_arn                 = aws_iam_role.rds_monitoring.arn
  tags                                = local.tags
}

# Bootstrap credentials of the broker's admin user and of Redis. Neither aws_mq_broker nor ElastiCache has a
# write-only password argument, so these two values are in the state: docs/deploy.md "Terraform" rotates both
# right after the first apply (the resources ignore later changes), which leaves the state holding stale values.
resource "random_password" "bootstrap" {
  for_each = toset(["rabbitmq", "redis"])
  length   = 40
  special  = false
}

resource "aws_cloudwatch_log_group" "mq" {
  name              = "/aws/amazonmq/broker/${var.name}-dsp"
  retention_in_days = 365
  kms_key_id        = aws_kms_key.platform.arn
  tags              = local.tags
}

resource "aws_mq_broker" "rabbitmq" {
  broker_name                = "${var.name}-dsp"
  engine_type                = "RabbitMQ"
  engine_version             = var.rabbitmq.engine_version
  host_instance_type         = var.rabbitmq.instance_type
  deployment_mode            = var.rabbitmq.deployment_mode
  publicly_accessible        = false
  auto_minor_version_upgrade = true
  subnet_ids                 = var.rabbitmq.deployment_mode == "SINGLE_INSTANCE" ? [var.private_subnet_ids[0]] : var.private_subnet_ids
  security_groups            = [aws_security_group.data.id]

  encryption_options {
    kms_key_id        = aws_kms_key.platform.arn
    use_aws_owned_key = false
  }

  logs {
    general = true
  }

  user {
    username = var.rabbitmq.admin_username
    password = random_password.bootstrap["rabbitmq"].result
  }

  lifecycle {
    ignore_changes = [user]
  }

  tags = local.tags
}

resource "aws_elasticache_subnet_group" "redis" {
  name       = "${var.name}-dsp"
  subnet_ids = var.private_subnet_ids
  tags       = local.tags
}

resource "aws_elasticache_replication_group" "redis" {
  #checkov:skip=CKV2_AWS_50:automatic failover and Multi-AZ are on whenever var.redis.replicas > 0 (default 1); a replica-less cache has nothing to fail over to
  replication_group_id       = "${var.name}-dsp"
  description                = "dsp: progress notifications, rate limits"
  engine                     = "redis"
  engine_version             = var.redis.engine_version
  node_type                  = var.redis.node_type
  num_cache_clusters         = 1 + var.redis.replicas
  automatic_failover_enabled = var.redis.replicas > 0
  multi_az_enabled           = var.redis.replicas > 0
  subnet_group_name          = aws_elasticache_subnet_group.redis.name
  security_group_ids         = [aws_security_group.data.id]
  port                       = 6379
  at_rest_encryption_enabled = true
  kms_key_id                 = aws_kms_key.platform.arn
  transit_encryption_enabled = true
  auth_token                 = random_password.bootstrap["redis"].result
  auto_minor_version_upgrade = true
  snapshot_retention_limit   = 7

  lifecycle {
    ignore_changes = [auth_token]
  }

  tags = local.tags
}
