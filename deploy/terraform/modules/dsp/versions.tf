terraform {
  required_version = ">= 1.5.0"

  # The module configures no provider itself: the caller passes kubernetes and helm
  # providers pointed at whichever cluster (EKS, GKE, AKS, kind, on-premises).
  required_providers {
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = ">= 2.23.0"
    }
    helm = {
      source  = "hashicorp/helm"
      version = ">= 2.12.0"
    }
  }
}
