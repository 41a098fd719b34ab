"""ElastiCache and MemoryDB users (Redis OSS and Valkey RBAC), rotated through the AWS API with
the function's own IAM role (docs/elasticache.md). Logins are the Redis rotator's; passwords
change through `control.py`, never the user's rights, once the API's user is pinned to the login
(its name, password authentication, the secret's endpoint among its caches'). Changes apply
asynchronously: setSecret waits, bounded, until DescribeUsers says the user is active again.
"""

from __future__ import annotations

import re
import string
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any, ClassVar, cast

from smrotate.database import Database, DatabaseAccount
from smrotate.errors import ConfigurationError, SecretFormatError, TargetError
from smrotate.observability import logger
from smrotate.password_rotator import STRATEGY_ENV
from smrotate.passwords import PasswordPolicy
from smrotate.rotators.elasticache import control
from smrotate.rotators.redis import RedisRotator
from smrotate.rotators.redis.session import RedisSession
from smrotate.settings import env_float
from smrotate.store import Secret

if TYPE_CHECKING:
    from smrotate.strategies import Strategy

WAIT_ENV = "ROTATION_USER_WAIT_SECONDS"
DEFAULT_WAIT, FIRST_POLL, LONGEST_POLL = 45.0, 1.0, 5.0  # seconds
_USER_ID = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,127}")  # ElastiCache's UserId pattern
# AUTH tokens allow only these punctuation characters; passwords keep to them, to be safe.
EXCLUDED = "".join(c for c in string.punctuation if c not in "!&#$^<>-")
LENGTHS = (16, 128)  # the passwords both services accept
NO_ADMIN = (
    "the function's IAM role changes the password through the API, for the one user the "
    "secret names: there is no admin secret, no clone and no pair. Use single-user, or "
    "dual-password for zero downtime (docs/elasticache.md#strategies)"
)


@dataclass(frozen=True, kw_only=True)
class CacheAccount(DatabaseAccount):
    """A Redis account, plus the service that keeps the user and, on ElastiCache, its id."""

    service: str  # elasticache or memorydb
    user_id: str | None  # ElastiCache's UserId; None on MemoryDB (users are named)

    @property
    def key(self) -> str:
        """What the API names the user by: the UserId, or MemoryDB's user name."""
        return self.user_id or self.username

    @property
    def endpoint(self) -> tuple[str, int]:
        """(host, port), normalised as DatabaseAccount.target does."""
        host, port = super().target
        return cast(str, host), cast(int, port)

    @property
    def target(self) -> tuple[object, ...]:
        """The endpoint and the user's key: a version naming another user id is another account
        (the strategies refuse a pending version that names one)."""
        return (*self.endpoint, self.service, self.key)

    @property
    def who(self) -> str:
        """`ElastiCache user id 'x' ('app')` or `MemoryDB user 'app'`, for messages."""
        named = f" id {self.user_id!r} ({self.username!r})" if self.user_id else f" {self.key!r}"
        return control.SERVICES[self.service] + " user" + named


@dataclass(frozen=True)
class CacheUsers(Database):
    """docs/redis.md's fields with TLS always, plus `service` and ElastiCache's `user_id`."""

    def parse(self, value: Secret, label: str, env: Mapping[str, str]) -> CacheAccount:
        """A CacheAccount; SecretFormatError naming the field at fault."""
        base = super().parse(value, label, env)
        service, user_id = value.get("service", "elasticache"), value.get("user_id")
        if service not in control.SERVICES:
            why = '\'service\' must be "elasticache" (the default) or "memorydb"'
        elif service == "memorydb" and user_id is not None:
            why = "'user_id' must go: MemoryDB users have none (they are named by 'username')"
        elif service == "elasticache" and not (
            isinstance(user_id, str) and _USER_ID.fullmatch(user_id)
        ):
            why = (
                f"'user_id' must be the ElastiCache UserId of {base.username!r} (a letter, then "
                'letters, digits and hyphens); for MemoryDB, say "service": "memorydb"'
            )
        elif not base.tls.enabled:
            why = '"ssl": false must go: these users log in over TLS only, which proves the host'
        else:
            kept = {f.name: getattr(base, f.name) for f in fields(base)}
            return CacheAccount(**kept, service=service, user_id=user_id)
        raise SecretFormatError(f"{label}: {why}")


class ElastiCacheUserRotator(RedisRotator):
    """ElastiCache and MemoryDB password users: single-user and dual-password (the services
    keep up to two passwords per user)."""

    schema: ClassVar[Database] = CacheUsers(
        engines={"redis": 1024, "valkey": 1024}, default_port=6379
    )
    strategies = ("single-user", "dual-password")
    default_excluded_characters = EXCLUDED

    def __init__(
        self,
        *,
        control_plane: Callable[[str], Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        **kwargs: Any,
    ) -> None:
        """`control_plane(service)` gives the API client (default: boto3's); `clock` and
        `sleep` time the wait for a change to apply (tests give their own)."""
        super().__init__(**kwargs)
        self.control_plane = control_plane or control.default_client
        self.clock, self.sleep = clock, sleep

    @property
    def strategy(self) -> Strategy:
        """As PasswordRotator's, saying why the other strategies are not offered."""
        from smrotate.strategies import STRATEGIES

        name = self.env.get(STRATEGY_ENV, "").strip()
        if name in STRATEGIES and name not in self.strategies:
            raise ConfigurationError(f"{STRATEGY_ENV} is {name}, which is not offered: {NO_ADMIN}")
        return super().strategy

    @property
    def password_policy(self) -> PasswordPolicy:
        """The policy, whose length must be one the services accept."""
        policy = super().password_policy
        if not LENGTHS[0] <= policy.length <= LENGTHS[1]:
            why = f"ElastiCache and MemoryDB passwords have {LENGTHS[0]} to {LENGTHS[1]} characters"
            raise ConfigurationError(f"PASSWORD_LENGTH is {policy.length}; {why}")
        return policy

    def set_own_password(self, own: RedisSession, account: DatabaseAccount, password: str) -> None:
        """`password` becomes the user's only password. Idempotent (`_change`)."""
        self._change(cast(CacheAccount, account), [password])

    def add_password(self, own: RedisSession, account: DatabaseAccount, password: str) -> bool:
        """The user keeps exactly `account.password` and `password`: one request names both,
        whatever the user held (an older one is dropped). Always True: run again, it sets the
        same two, so it can never drop AWSCURRENT's."""
        self._change(cast(CacheAccount, account), [account.password, password])
        return True

    def _change(self, account: CacheAccount, passwords: list[str]) -> None:
        """Make `passwords` the user's, once it is pinned to the login. Idempotent: when the user
        was being modified (an earlier attempt's change applying) and then holds that many
        passwords, each logging in, nothing is sent; else the request names every password the
        user keeps, so sending it again sets the same ones. (The normal path does not try the
        new password first: that login would be refused at every rotation.)"""
        client = self.control_plane(account.service)
        user, waited = self._settled(client, account)
        tries = (replace(account, password=p) for p in reversed(passwords))  # the new one first
        if waited and user.passwords == len(passwords) and all(map(self.logs_in, tries)):
            logger.info("the user already holds these passwords; nothing sent")
            return
        control.check_endpoint(client, account, user)
        control.set_passwords(client, account, passwords)
        logger.info(f"sent {len(passwords)} password(s) for {account.who}; waiting for it")
        self._settled(client, account, after=True)

    def _settled(
        self, client: Any, account: CacheAccount, after: bool = False
    ) -> tuple[control.User, bool]:
        """DescribeUsers until the user is active, for at most ROTATION_USER_WAIT_SECONDS;
        (the user, whether it was being modified). `after` a change: pause once first."""
        limit = env_float(self.env, WAIT_ENV, DEFAULT_WAIT, low=0, high=840)
        deadline, delay, waited = self.clock() + limit, FIRST_POLL, after
        if after:
            self.sleep(delay)
        while (user := control.describe_user(client, account)).status != "active":
            left = deadline - self.clock()
            if user.status != "modifying":
                raise TargetError(f"{account.who} is {user.status}: it cannot be rotated")
            if left <= 0:
                since = "the change was sent" if after else "setSecret began"
                raise TargetError(
                    f"{account.who} is still modifying {limit:g} s after {since}; Secrets Manager "
                    f"retries the rotation later. If this recurs, raise {WAIT_ENV} (below the "
                    "function's timeout)"
                )
            self.sleep(min(delay, left))
            delay, waited = min(2 * delay, LONGEST_POLL), True
        return user, waited


ElastiCacheUserRotator.check_installed()  # at import, so a broken package fails before any step
lambda_handler = ElastiCacheUserRotator.handler()
