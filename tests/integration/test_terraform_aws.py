"""The AWS implementation of the platform (deploy/terraform/modules/aws), read as HCL: every variable typed, described
and validated; secrets kept out of the state; the bucket encrypted, versioned and with a lifecycle rule; IRSA roles
that trust one service account each and grant only what the pods need."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

MODULE = Path(__file__).resolve().parents[2] / "deploy" / "terraform" / "modules" / "aws"


def _plain(value: Any) -> Any:
    """python-hcl2 keeps the quotes of string literals (and of keys); drop them."""
    if isinstance(value, str):
        return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {_plain(key): _plain(item) for key, item in value.items()}
    return value


def _hcl() -> dict[str, list[Any]]:
    hcl2 = pytest.importorskip("hcl2")
    merged: dict[str, list[Any]] = {}
    for path in sorted(MODULE.glob("*.tf")):
        with path.open() as handle:
            for key, value in hcl2.load(handle).items():
                merged.setdefault(key, []).extend(_plain(value))
    return merged


def _resources(hcl: dict[str, list[Any]], kind: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for block in hcl.get("resource", []):
        for resource_type, named in block.items():
            if resource_type.strip('"') == kind:
                for name, body in named.items():
                    found[name.strip('"')] = body
    return found


def test_every_variable_is_typed_described_and_validated() -> None:
    variables = {name: body for block in _hcl()["variable"] for name, body in block.items()}
    assert {"name", "vpc_id", "private_subnet_ids", "eks", "postgres", "rabbitmq", "redis", "artifacts"} <= set(variables)
    for name, body in variables.items():
        assert body.get("type"), f"variable {name} has no type"
        assert len(str(body.get("description", ""))) > 15, f"variable {name} has no description"
        assert body.get("validation"), f"variable {name} has no validation"
    outputs = {name: body for block in _hcl()["output"] for name, body in block.items()}
    for name, body in outputs.items():
        assert body.get("description"), f"output {name} has no description"


def test_secrets_stay_out_of_the_state() -> None:
    hcl = _hcl()
    (postgres,) = _resources(hcl, "aws_db_instance").values()
    assert postgres["manage_master_user_password"] is True and "password" not in postgres
    for version in _resources(hcl, "aws_secretsmanager_secret_version").values():
        assert "secret_string" not in version and "secret_string_wo" in version, "write-only: never in the state"
    ephemeral = {name for block in hcl.get("ephemeral", []) for kind, named in block.items() for name in named}
    assert ephemeral, "generated passwords come from an ephemeral resource"
    text = "\n".join(path.read_text() for path in MODULE.glob("*.tf"))
    assert "ephemeral.random_password.app" in text
    assert "random_password.bootstrap" in text  # the two documented bootstrap values, rotated after apply
    for name, kind in (("rabbitmq", "aws_mq_broker"), ("redis", "aws_elasticache_replication_group")):
        (body,) = _resources(hcl, kind).values()
        (lifecycle,) = body["lifecycle"]
        assert lifecycle["ignore_changes"], f"{name}: the rotated credential is not fought back by Terraform"


def test_data_stores_are_private_and_encrypted() -> None:
    hcl = _hcl()
    (postgres,) = _resources(hcl, "aws_db_instance").values()
    assert postgres["storage_encrypted"] is True and postgres["publicly_accessible"] is False
    (broker,) = _resources(hcl, "aws_mq_broker").values()
    assert broker["engine_type"] == "RabbitMQ" and broker["publicly_accessible"] is False
    (redis,) = _resources(hcl, "aws_elasticache_replication_group").values()
    assert redis["transit_encryption_enabled"] is True and redis["at_rest_encryption_enabled"] is True


def test_artifact_bucket_is_encrypted_versioned_with_a_lifecycle_and_private() -> None:
    hcl = _hcl()
    (versioning,) = _resources(hcl, "aws_s3_bucket_versioning").values()
    assert versioning["versioning_configuration"][0]["status"] == "Enabled"
    (sse,) = _resources(hcl, "aws_s3_bucket_server_side_encryption_configuration").values()
    assert sse["rule"][0]["apply_server_side_encryption_by_default"][0]["sse_algorithm"] == "aws:kms"
    (lifecycle,) = _resources(hcl, "aws_s3_bucket_lifecycle_configuration").values()
    rule = lifecycle["rule"][0]
    assert rule["status"] == "Enabled" and rule["noncurrent_version_expiration"]
    (public,) = _resources(hcl, "aws_s3_bucket_public_access_block").values()
    assert all(public[key] is True for key in ("block_public_acls", "block_public_policy", "ignore_public_acls",
                                               "restrict_public_buckets"))


def test_irsa_roles_trust_one_service_account_and_grant_least_privilege() -> None:
    hcl = _hcl()
    documents = {name: body for block in hcl["data"] for kind, named in block.items()
                 if kind.strip('"') == "aws_iam_policy_document" for name, body in named.items()}
    trust = documents["irsa_trust"]
    (statement,) = trust["statement"]
    assert statement["actions"] == ["sts:AssumeRoleWithWebIdentity"]
    variables = {condition["variable"].split(":")[-1] for condition in statement["condition"]}
    assert variables == {"sub", "aud"}, "each role trusts one service account of one namespace"
    pods = json.dumps(documents["dsp"])
    assert "s3:*" not in pods and '"*"' not in pods
    assert "/artifacts/*" in pods, "object access under the artifact prefix only"
    secrets = json.dumps(documents["external_secrets"])
    assert "secretsmanager:GetSecretValue" in secrets and '"*"' not in secrets
    assert "secretsmanager:PutSecretValue" not in secrets


def test_eks_is_created_or_an_existing_cluster_is_used() -> None:
    hcl = _hcl()
    (cluster,) = _resources(hcl, "aws_eks_cluster").values()
    assert "var.eks.create" in str(cluster["count"])
    existing = [named for block in hcl["data"] for kind, named in block.items() if kind.strip('"') == "aws_eks_cluster"]
    assert existing and "var.eks.create" in str(next(iter(existing[0].values()))["count"])
    assert cluster["encryption_config"][0]["resources"] == ["secrets"]
