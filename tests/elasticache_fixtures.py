"""`ControlPlaneOnRedis`: a stand-in for the ElastiCache and MemoryDB APIs (moto has no
ModifyUser, nor user groups or ACLs), whose users are ACL users of the suite's private Redis.

It answers the calls the rotator makes with the services' response shapes. ModifyUser and
UpdateUser set exactly the `Passwords` they name on the server, through the admin connection
(`ACL SETUSER <name> resetpass #<sha256>...`, on one admin connection kept open: redis-py
loads the system CA store for each new one), so what the server accepts really changes; like
the services, they apply asynchronously: the user reports `modifying` for `polls` DescribeUsers
calls, and the passwords change when it turns `active` again. PasswordCount counts the
passwords last applied (the users start with one). Errors are botocore ClientErrors with the
services' codes. A request that names an access string fails the test at once. Thread-safe
(the kit races in threads).
"""

from __future__ import annotations

import threading
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from smrotate.testing.redis import DEFAULT_RULES, RedisServer, password_hash

RIGHTS = ("AccessString", "AppendAccessString", "NoPasswordRequired")


@dataclass
class CacheUser:
    """One user as the service keeps it: its name on the server and its state."""

    name: str
    groups: list[str]
    auth: str = "password"
    status: str = "active"
    pending: list[str] | None = field(default=None, repr=False)  # passwords being applied
    countdown: int = 0  # DescribeUsers calls until `pending` applies
    count: int = 1  # how many passwords the server holds for it


class ControlPlaneOnRedis:
    """The ElastiCache (`service="elasticache"`) or MemoryDB API over `server`; also the
    rotator's `control_plane` factory (calling it with the service returns itself)."""

    def __init__(self, server: RedisServer, service: str = "elasticache", polls: int = 2) -> None:
        self.server, self.service, self.polls = server, service, polls
        self.users: dict[str, CacheUser] = {}  # by UserId (ElastiCache) or name (MemoryDB)
        self.endpoints: list[dict[str, Any]] = [{"Address": server.host, "Port": server.port}]
        self.requests: list[tuple[str, dict[str, Any]]] = []  # every call, in order
        self.lock = threading.RLock()
        self._stack = ExitStack()
        self._admin: Any = None

    def execute(self, *args: str) -> Any:
        """One command as the server's admin, on the connection this stand-in keeps."""
        with self.lock:
            if self._admin is None:
                self._admin = self._stack.enter_context(self.server.connect())
            return self._admin.execute_command(*args)

    def close(self) -> None:
        """Drop the users it made on the server, and close its connection."""
        names = [user.name for user in self.users.values()]
        if names:
            self.execute("ACL", "DELUSER", *names)
        self._stack.close()
        self._admin = None

    def __call__(self, service: str) -> ControlPlaneOnRedis:
        assert service == self.service, f"asked for {service}, this is {self.service}"
        return self

    def add(self, key: str, name: str, *groups: str) -> CacheUser:
        """Make the user `key` (UserId, or the name on MemoryDB) known, as server user `name`."""
        self.users[key] = CacheUser(name, list(groups or ["app-group"]))
        return self.users[key]

    def create(self, key: str, name: str, password: str, rules: str = DEFAULT_RULES) -> None:
        """A fresh server user `name` whose only password is `password`, known as `key`."""
        hashed = password_hash(password)
        self.execute("ACL", "SETUSER", name, "reset", "on", hashed, *rules.split())
        self.add(key, name)

    def changes(self) -> list[dict[str, Any]]:
        """The ModifyUser/UpdateUser requests received."""
        return [p for op, p in self.requests if op in {"ModifyUser", "UpdateUser"}]

    # ------------------------------------------------------------------ users

    def describe_users(self, **params: Any) -> dict[str, Any]:
        with self.lock:
            key, user = self._user("DescribeUsers", params)
            if user.pending is not None:
                user.countdown -= 1
                if user.countdown <= 0:
                    self._apply(user)
            return {"Users": [self._shape(key, user)]}

    def modify_user(self, **params: Any) -> dict[str, Any]:
        assert self.service == "elasticache"
        return self._change("ModifyUser", params, params.get("Passwords"))

    def update_user(self, **params: Any) -> dict[str, Any]:
        assert self.service == "memorydb"
        mode = params.get("AuthenticationMode") or {}
        assert mode.get("Type") == "password", mode
        return {"User": self._change("UpdateUser", params, mode.get("Passwords"))}

    def _change(self, op: str, params: dict[str, Any], passwords: Any) -> dict[str, Any]:
        assert not set(params) & set(RIGHTS), f"{op} named the user's rights: {sorted(params)}"
        with self.lock:
            key, user = self._user(op, params)
            if (
                not passwords
                or len(passwords) > 2
                or any(not 16 <= len(p) <= 128 for p in passwords)
            ):
                raise self._error(op, "InvalidParameterValue", "Passwords: one or two, 16 to 128")
            if user.pending is not None or user.status != "active":
                raise self._error(op, "InvalidUserState", f"User {key} is not active.")
            user.pending, user.countdown = list(passwords), self.polls
            if self.polls <= 0:
                self._apply(user)
            return self._shape(key, user)

    def _apply(self, user: CacheUser) -> None:
        hashes = [password_hash(p) for p in user.pending or []]
        self.execute("ACL", "SETUSER", user.name, "resetpass", *hashes)
        user.pending, user.count = None, len(hashes)

    def _user(self, op: str, params: dict[str, Any]) -> tuple[str, CacheUser]:
        self.requests.append((op, dict(params)))
        key = params.get("UserId" if self.service == "elasticache" else "UserName")
        if key not in self.users:
            raise self._error(op, "UserNotFound", f"User {key} not found.")
        return key, self.users[key]

    def _shape(self, key: str, user: CacheUser) -> dict[str, Any]:
        shape: dict[str, Any] = {
            "Status": "modifying" if user.pending is not None else user.status,
            "AccessString": "on ~app:* +@all",  # never read by the rotator
            "Authentication": {"Type": user.auth, "PasswordCount": user.count},
        }
        if self.service == "memorydb":
            return {"Name": key, "ACLNames": user.groups, **shape}
        return {"UserId": key, "UserName": user.name, "UserGroupIds": user.groups, **shape}

    def _error(self, op: str, code: str, message: str) -> ClientError:
        if self.service == "memorydb":
            code += "Exception" if code.startswith("Invalid") else "Fault"
        return ClientError({"Error": {"Code": code, "Message": message}}, op)

    # -------------------------------------------------------- where users log in

    def describe_user_groups(self, UserGroupId: str) -> dict[str, Any]:
        self.requests.append(("DescribeUserGroups", {"UserGroupId": UserGroupId}))
        group = {"UserGroupId": UserGroupId, "ReplicationGroups": [f"rg-{UserGroupId}"]}
        return {"UserGroups": [{**group, "ServerlessCaches": []}]}

    def describe_replication_groups(self, ReplicationGroupId: str) -> dict[str, Any]:
        self.requests.append(
            ("DescribeReplicationGroups", {"ReplicationGroupId": ReplicationGroupId})
        )
        nodes = [{"PrimaryEndpoint": e, "NodeGroupMembers": []} for e in self.endpoints]
        return {
            "ReplicationGroups": [{"ReplicationGroupId": ReplicationGroupId, "NodeGroups": nodes}]
        }

    def describe_acls(self, ACLName: str) -> dict[str, Any]:
        self.requests.append(("DescribeACLs", {"ACLName": ACLName}))
        return {"ACLs": [{"Name": ACLName, "Clusters": [f"cluster-{ACLName}"]}]}

    def describe_clusters(self, **params: Any) -> dict[str, Any]:
        self.requests.append(("DescribeClusters", params))
        shards = [{"Nodes": [{"Endpoint": e}]} for e in self.endpoints[1:]]
        cluster = {"Name": params["ClusterName"], "ClusterEndpoint": self.endpoints[0]}
        return {"Clusters": [{**cluster, "Shards": shards}]}
