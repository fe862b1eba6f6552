# The dsp platform on AWS: EKS (new or existing), RDS PostgreSQL, Amazon MQ for RabbitMQ, ElastiCache Redis,
# the artifact bucket, IAM roles for service accounts and the secrets in Secrets Manager. The chart is installed
# by the provider-neutral module ../dsp, with its Secret delivered by the External Secrets Operator from the
# secrets made here (see outputs.chart_values and docs/deploy.md "Terraform").

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  tags          = merge({ "app.kubernetes.io/part-of" = "dsp", "managed-by" = "terraform" }, var.tags)
  bucket_name   = var.artifacts.bucket_name != "" ? var.artifacts.bucket_name : "${var.name}-artifacts"
  cluster_name  = var.eks.create ? aws_eks_cluster.this[0].name : data.aws_eks_cluster.existing[0].name
  oidc_issuer   = var.eks.create ? aws_eks_cluster.this[0].identity[0].oidc[0].issuer : data.aws_eks_cluster.existing[0].identity[0].oidc[0].issuer
  oidc_host     = replace(local.oidc_issuer, "https://", "")
  oidc_arn      = var.eks.create ? aws_iam_openid_connect_provider.eks[0].arn : "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:oidc-provider/${local.oidc_host}"
  cluster_sg_id = var.eks.create ? aws_eks_cluster.this[0].vpc_config[0].cluster_security_group_id : data.aws_eks_cluster.existing[0].vpc_config[0].cluster_security_group_id
}

# One customer-managed key for the platform's data at rest: bucket, database, broker logs, cache, secrets.
resource "aws_kms_key" "platform" {
  description             = "${var.name}: dsp data at rest"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
  tags                    = local.tags
}

data "aws_iam_policy_document" "kms" {
  #checkov:skip=CKV_AWS_109:a key policy's Resource "*" means this key only; the account root statement is AWS's required default key policy
  #checkov:skip=CKV_AWS_111:a key policy's Resource "*" means this key only; the account root statement is AWS's required default key policy
  #checkov:skip=CKV_AWS_356:a key policy's Resource "*" means this key only; the account root statement is AWS's required default key policy
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }
  statement {
    sid       = "CloudWatchLogs"
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${data.aws_region.current.region}.amazonaws.com"]
    }
  }
}

resource "aws_kms_alias" "platform" {
  name          = "alias/${var.name}-dsp"
  target_key_id = aws_kms_key.platform.key_id
}

# The data stores accept connections from the cluster's pods only.
resource "aws_security_group" "data" {
  name        = "${var.name}-dsp-data"
  description = "dsp data stores: PostgreSQL, RabbitMQ (AMQPS) and Redis from the EKS cluster only"
  vpc_id      = var.vpc_id
  tags        = local.tags
}

resource "aws_vpc_security_group_ingress_rule" "data" {
  for_each = { postgres = 5432, amqps = 5671, redis = 6379 }

  security_group_id            = aws_security_group.data.id
  description                  = "${each.key} from the EKS cluster"
  referenced_security_group_id = local.cluster_sg_id
  ip_protocol                  = "tcp"
  from_port                    = each.value
  to_port                      = each.value
}
