# A new EKS cluster (eks.create = true) or an existing one (eks.existing_cluster_name).

data "aws_eks_cluster" "existing" {
  count = var.eks.create ? 0 : 1
  name  = var.eks.existing_cluster_name
}

# The trust of the cluster's role and of the nodes' role: assumed by the EKS control plane and by EC2.
data "aws_iam_policy_document" "assume" {
  for_each = { cluster = "eks.amazonaws.com", node = "ec2.amazonaws.com" }
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = [each.value]
    }
  }
}

resource "aws_iam_role" "cluster" {
  count              = var.eks.create ? 1 : 0
  name               = "${var.name}-eks-cluster"
  assume_role_policy = data.aws_iam_policy_document.assume["cluster"].json
  tags               = local.tags
}

resource "aws_iam_role_policy_attachment" "cluster" {
  count      = var.eks.create ? 1 : 0
  role       = aws_iam_role.cluster[0].name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AmazonEKSClusterPolicy"
}

resource "aws_cloudwatch_log_group" "eks" {
  count             = var.eks.create ? 1 : 0
  name              = "/aws/eks/${var.name}/cluster"
  retention_in_days = 365
  kms_key_id        = aws_kms_key.platform.arn
  tags              = local.tags
}

resource "aws_eks_cluster" "this" {
  count    = var.eks.create ? 1 : 0
  name     = var.name
  version  = var.eks.kubernetes_version
  role_arn = aws_iam_role.cluster[0].arn

  enabled_cluster_log_types = ["api", "audit", "authenticator", "controllerManager", "scheduler"]

  vpc_config {
    subnet_ids              = var.private_subnet_ids
    endpoint_private_access = true
    endpoint_public_access  = var.eks.endpoint_public_access
    public_access_cidrs     = var.eks.endpoint_public_access ? var.eks.public_access_cidrs : null
  }

  encryption_config {
    resources = ["secrets"]
    provider {
      key_arn = aws_kms_key.platform.arn
    }
  }

  access_config {
    authentication_mode = "API"
  }

  tags       = local.tags
  depends_on = [aws_iam_role_policy_attachment.cluster, aws_cloudwatch_log_group.eks]
}

resource "aws_iam_role" "node" {
  count              = var.eks.create ? 1 : 0
  name               = "${var.name}-eks-node"
  assume_role_policy = data.aws_iam_policy_document.assume["node"].json
  tags               = local.tags
}

resource "aws_iam_role_policy_attachment" "node" {
  for_each   = var.eks.create ? toset(["AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly"]) : toset([])
  role       = aws_iam_role.node[0].name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/${each.value}"
}

# General nodes, and a memory-heavy pool that only ml is scheduled on (taint dsp.io/ml).
resource "aws_eks_node_group" "general" {
  count           = var.eks.create ? 1 : 0
  cluster_name    = aws_eks_cluster.this[0].name
  node_group_name = "general"
  node_role_arn   = aws_iam_role.node[0].arn
  subnet_ids      = var.private_subnet_ids
  instance_types  = var.eks.node_instance_types

  scaling_config {
    min_size     = var.eks.node_min_size
    desired_size = var.eks.node_min_size
    max_size     = var.eks.node_max_size
  }

  tags       = local.tags
  depends_on = [aws_iam_role_policy_attachment.node]
}

resource "aws_eks_node_group" "ml" {
  count           = var.eks.create ? 1 : 0
  cluster_name    = aws_eks_cluster.this[0].name
  node_group_name = "ml"
  node_role_arn   = aws_iam_role.node[0].arn
  subnet_ids      = var.private_subnet_ids
  instance_types  = var.eks.ml_node_instance_types

  scaling_config {
    min_size     = 1
    desired_size = 1
    max_size     = var.eks.node_max_size
  }

  labels = { "dsp.io/pool" = "ml" }

  taint {
    key    = "dsp.io/ml"
    value  = "true"
    effect = "NO_SCHEDULE"
  }

  tags       = local.tags
  depends_on = [aws_iam_role_policy_attachment.node]
}

data "tls_certificate" "oidc" {
  count = var.eks.create ? 1 : 0
  url   = aws_eks_cluster.this[0].identity[0].oidc[0].issuer
}

resource "aws_iam_openid_connect_provider" "eks" {
  count           = var.eks.create ? 1 : 0
  url             = aws_eks_cluster.this[0].identity[0].oidc[0].issuer
  client_id_list  = ["sts.amazonaws.com"]
  thumbprint_list = [data.tls_certificate.oidc[0].certificates[0].sha1_fingerprint]
  tags            = local.tags
}
