"""`smrotate demo --engine redis`: single user twice, dual passwords twice, then via the admin.

A private Redis (smrotate.testing.redis: TLS only from a CA made on the spot, the `default` user
off), the user `app`, which may set its own password (ACL SETUSER: single-user and dual-password
need it, docs/redis.md), and `reader`, an ordinary user whose password the admin sets. The extra
proofs: after each rotation, the password hashes the server holds for the user (SHA-256, so
their first 8 hex digits are the fingerprints the demo shows): one, or two with dual passwords;
at the end, the users' ACL rules are those they started with (only passwords changed).

Needs redis-py (`pip install 'smrotate[redis]'`, or the dev install), which the demo extra
does not install, and the redis-server binary.
"""

from __future__ import annotations

import json
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smrotate import redaction
from smrotate.operator.demo import Demo, DemoEngine, Rotation, Value, fingerprint, say

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

    from smrotate.testing.redis import RedisServer

APP, READER = "app", "reader"
RULES = {
    APP: "~app:* +@read +@write +acl|setuser +acl|whoami",
    READER: "~app:* +@read",
}
NEEDS_REDIS_PY = (
    "needs redis-py, which the demo extra does not install: pip install 'smrotate[redis]' "
    "(or use the dev install: make test, or pip install -e '.[dev]')"
)


def rules(server: RedisServer, username: str) -> dict[str, Any]:
    """ACL GETUSER without the passwords: the user's flags, commands, keys, channels and
    selectors."""
    reply = server.execute("ACL", "GETUSER", username)
    facts = dict(zip(reply[::2], reply[1::2], strict=True))
    facts.pop("passwords")
    return facts


def held(server: RedisServer, username: str) -> list[str]:
    """The fingerprints of the password hashes the server holds for `username` (ACL GETUSER)."""
    reply = server.execute("ACL", "GETUSER", username)
    hashes = dict(zip(reply[::2], reply[1::2], strict=True))["passwords"]
    return ["#" + str(digest)[:8] for digest in hashes]


class RedisDemo(DemoEngine):
    """The Redis demo's server, users, plan and extra proofs."""

    rotator = "redis"
    refusal = "WRONGPASS invalid username-password pair"
    servers = "Redis"
    needs = (("redis", NEEDS_REDIS_PY),)

    server: RedisServer
    rules: dict[str, dict[str, Any]]

    def start(self, stack: ExitStack, workdir: Path) -> None:
        """The private Redis, on the machine's redis-server."""
        from smrotate.testing.redis import RedisServer, find_binary
        from smrotate.testing.tls import make_pki

        binary = find_binary()  # before anything starts: RedisSetupError says what to install
        server = RedisServer.start(make_pki(workdir / "pki"))
        stack.callback(server.stop)
        self.server = server
        redaction.register(server.admin_password)
        say(f"[setup] Redis {server.version}, {binary}")
        say(f"        private server in {server.folder}, on {server.host}:{server.port}")
        say("        TLS only, with a CA made just now (certificate and host name verified);")
        say("        the default user is off: nothing runs without a password")

    def create(self, sm: SecretsManagerClient) -> list[Rotation]:
        """The two users, their secrets (rotation on) and the admin secret."""
        from smrotate.passwords import PasswordPolicy, generate_password
        from smrotate.testing.aws import enable_rotation

        server = self.server
        admin = json.dumps(server.admin_secret())
        admin_arn = sm.create_secret(Name="demo/redis-admin", SecretString=admin)["ARN"]
        demos, fields = {}, {}
        for user in (APP, READER):
            password = generate_password(PasswordPolicy())
            redaction.register(password)
            server.create_user(user, password, RULES[user])
            extra = {"masterarn": admin_arn} if user == READER else {}
            secret = json.dumps(server.secret(user, password, **extra))
            arn = sm.create_secret(Name=f"demo/{user}", SecretString=secret)["ARN"]
            enable_rotation(arn)
            demos[user], fields[user] = Demo(sm, str(arn)), ", ".join(json.loads(secret))
            say(f"[setup] user {user} {fingerprint(password)}, ACL {RULES[user]}")
        self.rules = {user: rules(server, user) for user in (APP, READER)}
        say(f"        secret demo/{APP}: {fields[APP]}")
        say(f"        secret demo/{READER}: {fields[READER]}")
        say("        admin secret demo/redis-admin (masterarn), for the admin strategy")
        say("        passwords show as # and the first 8 hex digits of their SHA-256,")
        say("        which is how Redis stores them: the server's hashes show the same way")
        app, reader = demos[APP], demos[READER]
        return [
            Rotation(app, "single-user", "app sets its own password with ACL SETUSER"),
            Rotation(app, "single-user", "once more"),
            Rotation(app, "dual-password", "app keeps AWSCURRENT's password, adds the new", True),
            Rotation(app, "dual-password", "the password before AWSCURRENT's is dropped", True),
            Rotation(reader, "single-user-via-admin", "the admin sets reader's password"),
        ]

    def logs_in(self, username: str, password: str) -> bool:
        """AUTH over verified TLS, spoken without redis-py (RedisServer.accepts)."""
        return self.server.accepts(username, password)

    def after(self, rotation: Rotation, current: Value, previous: Value | None) -> bool:
        """The hashes the server holds for the user: AWSCURRENT's, and AWSPREVIOUS's too when
        the plan keeps it."""
        user = current["username"]
        expected = [fingerprint(current["password"])]
        if rotation.keeps_previous and previous is not None:
            expected.append(fingerprint(previous["password"]))
        found = held(self.server, user)
        count = "one password" if len(found) == 1 else f"{len(found)} passwords"
        say(f"    the server holds {count} for {user}: {' '.join(found)}")
        if sorted(found) != sorted(expected):
            say(f"    UNEXPECTED: it should hold {' '.join(expected)}")
            return False
        return True

    def finish(self, demos: list[Demo]) -> bool:
        """Every user's ACL rules are what they were before the rotations."""
        changed = [
            user for user, before in self.rules.items() if rules(self.server, user) != before
        ]
        users = " and ".join(self.rules)
        if changed:
            say(f"\n[server] UNEXPECTED: the ACL rules of {', '.join(changed)} changed")
            return False
        say(f"\n[server] ACL GETUSER: the rules of {users} are unchanged; only passwords changed")
        return True
