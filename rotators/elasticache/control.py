"""The control plane: the ElastiCache or MemoryDB API, called with the function's own IAM role.

`describe_user` (DescribeUsers, pinned to the secret's user), `check_endpoint` (the secret's
host and port must be an endpoint of a cache of the user's groups or ACLs) and `set_passwords`
(ElastiCache's ModifyUser with `Passwords`; MemoryDB's UpdateUser with `AuthenticationMode`),
all read-only but the last. No request carries
AccessString or AppendAccessString: the user's rights are never touched. Every error names the
call, the user and what to do, in the service's words scrubbed of secret values.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from smrotate import redaction
from smrotate.errors import ConfigurationError, Failure, SecretFormatError, TargetError

if TYPE_CHECKING:
    from smrotate.rotators.elasticache import CacheAccount

SERVICES = {"elasticache": "ElastiCache", "memorydb": "MemoryDB"}
DENIED = ("AccessDenied", "Unauthorized", "UnrecognizedClient", "InvalidClientTokenId")
POLICY_HINT = "allow it in the function's IAM role (docs/elasticache.md#the-iam-policy)"


@dataclass(frozen=True)
class User:
    """What DescribeUsers says of one user."""

    name: str  # ElastiCache's UserName, MemoryDB's Name
    status: str  # active, modifying, deleting
    auth: str  # Authentication.Type: password, no-password, iam
    passwords: int  # Authentication.PasswordCount
    groups: tuple[str, ...]  # ElastiCache's UserGroupIds, MemoryDB's ACLNames


@functools.lru_cache(maxsize=2)
def default_client(service: str) -> Any:
    """The process-wide boto3 client for `service` (region and endpoint: botocore's own
    settings, AWS_REGION on Lambda), with smrotate's timeouts and retries."""
    import boto3

    from smrotate.store import client_config

    return boto3.client(service, config=client_config())  # type: ignore[call-overload]


def describe_user(client: Any, account: CacheAccount) -> User:
    """DescribeUsers of the secret's user. SecretFormatError when the user it names is not the
    user that logs in (another UserName), ConfigurationError for a user without passwords."""
    memorydb = account.service == "memorydb"
    key = {"UserName": account.username} if memorydb else {"UserId": account.user_id}
    users = _call(client, account, "DescribeUsers", **key)["Users"]
    found = [u for u in users if u.get("Name" if memorydb else "UserId") == account.key]
    if len(found) != 1:
        raise TargetError(f"DescribeUsers does not list {account.who}; retry later")
    raw, auth = found[0], found[0].get("Authentication") or {}
    user = User(
        str(raw.get("Name" if memorydb else "UserName")),
        str(raw.get("Status")),
        str(auth.get("Type")),
        int(auth.get("PasswordCount") or 0),
        tuple(raw.get("ACLNames" if memorydb else "UserGroupIds") or ()),
    )
    if user.name != account.username:
        raise SecretFormatError(
            f"{account.label} names {account.who}, whose user name is {user.name!r}, not "
            f"{account.username!r}: the rotator changes only the password of the user that "
            "logged in. Fix 'user_id' or 'username'; nothing was changed"
        )
    if user.auth != "password":
        raise ConfigurationError(
            f"{account.who} authenticates with {user.auth!r}, not passwords: only password "
            "users are rotated (an IAM user has no password; a no-password user accepts any)"
        )
    return user


def set_passwords(client: Any, account: CacheAccount, passwords: list[str]) -> None:
    """Make `passwords` (one or two) the user's passwords, and nothing else of the user."""
    if account.service == "memorydb":
        mode = {"Type": "password", "Passwords": passwords}
        _call(client, account, "UpdateUser", UserName=account.username, AuthenticationMode=mode)
    else:
        _call(client, account, "ModifyUser", UserId=account.user_id, Passwords=passwords)


def check_endpoint(client: Any, account: CacheAccount, user: User) -> None:
    """SecretFormatError unless the secret's endpoint is one of `user`'s caches' endpoints:
    else the login that proved the password may have reached another server (one that an
    attacker who writes the secret runs, answering for that user name)."""
    found = endpoints(client, account, user)
    if account.endpoint not in found:
        listed = ", ".join(f"{h}:{p}" for h, p in sorted(found)[:4]) or "none"
        raise SecretFormatError(
            f"{account.label} names {account.host}:{account.port}, which is not an endpoint of "
            f"the caches {account.who} is attached to (theirs: {listed}); nothing was changed. "
            "Name the cache's own endpoint in 'host' and 'port'"
        )


def endpoints(client: Any, account: CacheAccount, user: User) -> set[tuple[str, int]]:
    """(host, port) of every endpoint of every cache that `user`'s groups (ACLs) are attached
    to, host names in lower case. Read-only; a cache deleted meanwhile is skipped."""
    caches: list[tuple[str, str, dict[str, Any]]] = []  # (operation, the reply's list, params)
    for group in user.groups:
        if account.service == "memorydb":
            acl = _one(client, account, "DescribeACLs", "ACLs", ACLName=group)
            caches += [
                ("DescribeClusters", "Clusters", {"ClusterName": name, "ShowShardDetails": True})
                for name in acl.get("Clusters", [])
            ]
            continue
        found = _one(client, account, "DescribeUserGroups", "UserGroups", UserGroupId=group)
        caches += [
            ("DescribeReplicationGroups", "ReplicationGroups", {"ReplicationGroupId": name})
            for name in found.get("ReplicationGroups", [])
        ] + [
            ("DescribeServerlessCaches", "ServerlessCaches", {"ServerlessCacheName": name})
            for name in found.get("ServerlessCaches", [])
        ]
    return {
        address
        for operation, key, params in caches
        for address in _addresses(_one(client, account, operation, key, **params))
    }


def _addresses(node: Any) -> Iterator[tuple[str, int]]:
    """Every {Address, Port} in a description (configuration, primary, reader, node ...)."""
    if isinstance(node, dict):
        if isinstance(node.get("Address"), str) and isinstance(node.get("Port"), int):
            yield node["Address"].rstrip(".").lower(), node["Port"]
        node = list(node.values())
    if isinstance(node, list):
        for item in node:
            yield from _addresses(item)


def _one(client: Any, account: CacheAccount, operation: str, key: str, **params: Any) -> Any:
    """The one resource a describe call by name returns; {} when it no longer exists."""
    reply = _call(client, account, operation, missing_ok=True, **params)
    return (reply.get(key) or [{}])[0]


def _call(
    client: Any, account: CacheAccount, operation: str, *, missing_ok: bool = False, **params: Any
) -> Any:
    """One API call, named as the API names it (DescribeUsers); {} for a NotFound when
    `missing_ok`; errors mapped (module docstring)."""
    from botocore import xform_name
    from botocore.exceptions import BotoCoreError, ClientError

    action = f"{SERVICES[account.service]} {operation}"
    try:
        return getattr(client, xform_name(operation))(**params)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "Unknown"))
        if missing_ok and "NotFound" in code:
            return {}
        raise _mapped(action, account, code, str(error.get("Message", ""))) from None
    except BotoCoreError as exc:
        raise TargetError(
            f"{action} for {account.who} failed: {type(exc).__name__}; check that the function "
            f"reaches the {SERVICES[account.service]} API (a NAT or a VPC endpoint)",
            Failure.NETWORK,
        ) from None


def _mapped(action: str, account: CacheAccount, code: str, message: str) -> Exception:
    detail = redaction.scrub(" ".join(message.split()))[:300]
    what = f"{action} for {account.who} failed: {code}" + (f" ({detail})" if detail else "")
    base = code.removesuffix("Fault").removesuffix("Exception")
    if any(word in code for word in DENIED):
        return ConfigurationError(f"{what}; the function's IAM role may not call it: {POLICY_HINT}")
    if base in {"InvalidParameterValue", "InvalidParameterCombination"}:
        return ConfigurationError(
            f"{what}; the service refused the request: keep PASSWORD_LENGTH within 16 to 128 "
            "and the EXCLUDE_* settings to what the service accepts (docs/elasticache.md)"
        )
    if base == "UserNotFound":
        return TargetError(
            f"{what}; check the secret's 'user_id' (ElastiCache) or 'username' (MemoryDB), and "
            "that the function runs in the cache's region"
        )
    if base == "InvalidUserState":
        return TargetError(f"{what}; the user is being changed or deleted: retry later")
    return TargetError(f"{what}; Secrets Manager retries the rotation later")
