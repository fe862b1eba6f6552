# IAM roles for service accounts, each trusting one Kubernetes service account of one namespace:
# - the dsp pods: read and write objects under the artifact bucket, with the platform key; nothing else;
# - the External Secrets Operator: read this platform's secrets (and the RDS-managed master secret) only.

data "aws_iam_policy_document" "irsa_trust" {
  for_each = {
    dsp              = "system:serviceaccount:${var.namespace}:${var.service_account_name}"
    external-secrets = "system:serviceaccount:${var.external_secrets.namespace}:${var.external_secrets.service_account_name}"
  }

  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [local.oidc_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_host}:sub"
      values   = [each.value]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_host}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "dsp" {
  name               = "${var.name}-dsp-pods"
  assume_role_policy = data.aws_iam_policy_document.irsa_trust["dsp"].json
  tags               = local.tags
}

data "aws_iam_policy_document" "dsp" {
  statement {
    sid       = "ListArtifacts"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.artifacts.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["artifacts/*"]
    }
  }
  statement {
    sid       = "ReadWriteArtifacts"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    resources = ["${aws_s3_bucket.artifacts.arn}/artifacts/*"]
  }
  statement {
    sid       = "ArtifactKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.platform.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${data.aws_region.current.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "dsp" {
  name   = "artifacts"
  role   = aws_iam_role.dsp.id
  policy = data.aws_iam_policy_document.dsp.json
}

resource "aws_iam_role" "external_secrets" {
  name               = "${var.name}-dsp-external-secrets"
  assume_role_policy = data.aws_iam_policy_document.irsa_trust["external-secrets"].json
  tags               = local.tags
}

data "aws_iam_policy_document" "external_secrets" {
  statement {
    sid     = "ReadPlatformSecrets"
    actions = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
    resources = [
      aws_secretsmanager_secret.app.arn,
      aws_secretsmanager_secret.rabbitmq_admin.arn,
      aws_secretsmanager_secret.redis.arn,
      aws_db_instance.postgres.master_user_secret[0].secret_arn,
    ]
  }
  statement {
    sid       = "SecretsKey"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.platform.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${data.aws_region.current.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "external_secrets" {
  name   = "read-dsp-secrets"
  role   = aws_iam_role.external_secrets.id
  policy = data.aws_iam_policy_document.external_secrets.json
}
