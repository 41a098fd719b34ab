"""The RDS API, for admin secrets that RDS manages (they hold only username and password).

The instance or cluster is found through the secret's tags; its endpoint, port and engine
complete the admin credentials. Errors name the ARN and the AWS error code.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

from smrotate.errors import SecretFormatError, StoreError

if TYPE_CHECKING:
    from mypy_boto3_rds import RDSClient


@lru_cache(maxsize=1)
def _client() -> RDSClient:
    import boto3

    from smrotate.store import client_config

    return boto3.client("rds", config=client_config())


def _call(operation: str, arn: str, **params: Any) -> Any:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return getattr(_client(), operation)(**params)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "Unknown")
        raise StoreError(f"RDS {operation} for {arn} failed: {code}", code) from None
    except BotoCoreError as exc:
        raise StoreError(f"RDS {operation} for {arn} failed: {type(exc).__name__}") from None


def _first(response: dict[str, Any], key: str, kind: str, arn: str) -> dict[str, Any]:
    found = response.get(key) or []
    if not found or not found[0].get("Endpoint"):
        raise SecretFormatError(
            f"RDS has no endpoint for {kind} {arn} (named by the admin secret's tag)"
        )
    return dict(found[0])


def describe_instance_endpoint(arn: str) -> dict[str, Any]:
    """host, port and engine of the DB instance `arn`."""
    response = _call("describe_db_instances", arn, DBInstanceIdentifier=arn)
    instance = _first(response, "DBInstances", "DB instance", arn)
    endpoint = instance["Endpoint"]
    return {"host": endpoint["Address"], "port": endpoint["Port"], "engine": instance["Engine"]}


def describe_cluster_endpoint(arn: str) -> dict[str, Any]:
    """host (the writer endpoint), port and engine of the DB cluster `arn`."""
    response = _call("describe_db_clusters", arn, DBClusterIdentifier=arn)
    cluster = _first(response, "DBClusters", "DB cluster", arn)
    return {"host": cluster["Endpoint"], "port": cluster["Port"], "engine": cluster["Engine"]}


def reset_client() -> None:
    """Forget the RDS client (tests)."""
    _client.cache_clear()
