"""`smrotate demo`: rotate a real PostgreSQL password on this machine, step by step.

It starts a private PostgreSQL (smrotate.testing.postgres: TLS from a CA made on the spot,
scram-sha-256) and moto server on loopback as Secrets Manager, creates a user and its secret,
then rotates it with the real handler through the local driver: single user twice, then
alternating users twice. After each step it prints the staging labels; after each rotation, the
proof of which passwords log in. Passwords appear only as fingerprints (`#` and the first 8 hex
digits of their SHA-256). Everything it started is stopped and removed at the end.

Usage: python -m smrotate.operator.demo   (or `smrotate demo`, `make demo`)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smrotate import redaction

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

    from smrotate.events import Step
    from smrotate.testing.postgres import PostgresServer

USER, TABLE = "app", "orders"
PLAN = [
    ("single-user", "the user changes its own password"),
    ("single-user", "once more"),
    ("alternating-users", "the admin creates the clone app_clone"),
    ("alternating-users", "the admin sets the inactive user's password"),
]
STEP_NOTES = {
    "createSecret": "stored a new value as AWSPENDING",
    "setSecret": "the server now accepts the AWSPENDING password",
    "testSecret": "logged in with AWSPENDING",
    "finishSecret": "moved AWSCURRENT to the new version",
}
Value = dict[str, Any]


def say(text: str = "") -> None:
    """Print one line of the demo's output, scrubbed of every registered secret value."""
    print(redaction.scrub(text), flush=True)


def fingerprint(password: str) -> str:
    """`#` and the first 8 hex digits of SHA-256: tells passwords apart, reveals nothing."""
    return "#" + hashlib.sha256(password.encode()).hexdigest()[:8]


class Demo:
    """The secret being rotated, its labels, and the proofs against the server."""

    def __init__(self, server: PostgresServer, sm: SecretsManagerClient, arn: str) -> None:
        self.server, self.sm, self.arn = server, sm, arn
        self.shown: list[str] = []

    def read(self, **where: str) -> Value | None:
        """The value of a version (VersionId=...) or label (VersionStage=...); None if none."""
        try:
            response = self.sm.get_secret_value(SecretId=self.arn, **where)
        except self.sm.exceptions.ResourceNotFoundException:
            return None
        return dict(json.loads(response["SecretString"]))

    def labels(self) -> list[str]:
        """One line per labelled version: labels, version id, user and password fingerprint."""
        from smrotate.labels import in_label_order, label_rank

        stages = self.sm.describe_secret(SecretId=self.arn)["VersionIdsToStages"]
        lines = []
        for version, names in sorted(
            stages.items(), key=lambda item: ([*map(label_rank, in_label_order(item[1]))], item[0])
        ):
            if not names:
                continue  # versions without labels are history, not state
            value = self.read(VersionId=version)
            who = f"{value['username']:<10} {fingerprint(value['password'])}" if value else "-"
            lines.append(f"{'+'.join(in_label_order(names)):<12} {version[:8]}  {who}")
        return lines

    def on_step(self, step: Step, error: BaseException | None) -> None:
        """The local driver's observer: the step's outcome, and the labels when they moved."""
        if error is not None:
            say(f"  {step.value:<13} FAILED: {type(error).__name__}: {error}")
            return
        say(f"  {step.value:<13} ok: {STEP_NOTES[step.value]}")
        labels = self.labels()
        if labels != self.shown:
            for line in labels:
                say(f"                  {line}")
            self.shown = labels

    def rotate(self, handler: Callable[..., Any], title: str) -> bool:
        """One rotation through the local driver, step by step."""
        from smrotate.operator.driver import LocalDriver
        from smrotate.store import SecretStore

        say(f"\n== {title} ==")
        started = time.perf_counter()
        result = LocalDriver(handler, SecretStore(self.sm)).rotate(self.arn, on_step=self.on_step)
        elapsed = time.perf_counter() - started
        say(f"  rotation {'done' if result.ok else 'FAILED'} in {elapsed:.2f} s")
        return result.ok

    def proof(self, what: str, value: Value | None, expect: bool, note: str = "") -> bool:
        """Log in with `value` and say whether the server accepts it; True when as expected."""
        if value is None:
            return True
        works = self.server.logs_in(value["username"], value["password"])
        verdict = "yes" if works else "no, password authentication failed"
        who = f"{value['username']} {fingerprint(value['password'])}"
        say(f"    {what:<16} {who:<20} logs in: {verdict}{note}")
        if works != expect:
            say(f"    UNEXPECTED: that login should {'work' if expect else 'fail'}")
        return works == expect

    def acts_as(self, value: Value) -> None:
        """Show who a session of `value` acts as, and that it reads the demo table."""
        from psycopg import sql

        with self.server.connect(value["username"], value["password"]) as conn:
            who = conn.execute("SELECT session_user, current_user").fetchone() or ("?", "?")
            query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(TABLE))
            rows = (conn.execute(query).fetchone() or (0,))[0]
        say(f"    {who[0]} acts as {who[1]} (its default role) and reads {rows} rows of {TABLE}")


def start_servers(stack: ExitStack, workdir: Path) -> tuple[PostgresServer, str]:
    """The private PostgreSQL and moto server, both stopped when `stack` closes."""
    from moto.server import ThreadedMotoServer

    from smrotate.testing.aws import free_port
    from smrotate.testing.postgres import PostgresServer, find_bindir, supports_tls
    from smrotate.testing.tls import make_pki

    bindir = find_bindir()
    tls = supports_tls(bindir)
    server = PostgresServer.start(make_pki(workdir / "pki") if tls else None, bindir=bindir)
    stack.callback(server.stop)
    redaction.register(server.admin_password)
    account = server.account.pw_name if server.account else "the current user"
    say(f"[setup] {server.version}, binaries in {bindir}, run as {account}")
    say(f"        private cluster in {server.folder}, on {server.host}:{server.port}")
    if tls:
        say("        TLS with a CA made just now (sslmode=verify-full), scram-sha-256 passwords")
    else:
        say('        these binaries have no TLS support: the secret says "ssl": false (loopback)')
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    stack.callback(moto.stop)
    endpoint = f"http://127.0.0.1:{port}"
    say(f"[setup] moto server (Secrets Manager) on {endpoint}")
    return server, endpoint


def create_secret(server: PostgresServer, sm: SecretsManagerClient) -> str:
    """The user, a table it may read, its secret (rotation on) and the admin secret; the ARN."""
    from psycopg import sql

    from smrotate.passwords import PasswordPolicy, generate_password
    from smrotate.testing.aws import enable_rotation

    password = generate_password(PasswordPolicy())
    redaction.register(password)
    server.create_role(USER, password)
    table, user = sql.Identifier(TABLE), sql.Identifier(USER)
    server.execute(sql.SQL("CREATE TABLE {} AS SELECT generate_series(1, 3) AS id").format(table))
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
    return str(arn)


def run() -> bool:
    """The whole demo; True when every rotation and every proof went as expected."""
    import boto3

    from smrotate.observability import logger
    from smrotate.operator.loading import rotator_class
    from smrotate.testing.aws import REGION, fake_aws_environment

    rotator = rotator_class("postgresql")  # by name: the framework never imports rotators
    with ExitStack() as stack:
        workdir = Path(tempfile.mkdtemp(prefix="smrotate-demo-"))
        stack.callback(shutil.rmtree, workdir, True)
        server, endpoint = start_servers(stack, workdir)
        stack.enter_context(fake_aws_environment(SECRETS_MANAGER_ENDPOINT=endpoint))
        stack.callback(logger.setLevel, logger.log_level)
        logger.setLevel(logging.WARNING)  # the demo tells its own story; failures still log
        sm = boto3.client("secretsmanager", endpoint_url=endpoint, region_name=REGION)
        demo = Demo(server, sm, create_secret(server, sm))
        ok = True
        for number, (strategy, how) in enumerate(PLAN, start=1):
            alternating = strategy == "alternating-users"
            before = demo.read(VersionStage="AWSPREVIOUS")
            handler = rotator.handler(env={**os.environ, "ROTATION_STRATEGY": strategy})
            ok &= demo.rotate(handler, f"rotation {number}: {strategy} ({how})")
            say("  proof:")
            current = demo.read(VersionStage="AWSCURRENT")
            ok &= demo.proof("AWSCURRENT", current, expect=True)
            note = "  (until the next rotation)" if alternating else "  (the old password)"
            previous = demo.read(VersionStage="AWSPREVIOUS")
            ok &= demo.proof("AWSPREVIOUS", previous, expect=alternating, note=note)
            if alternating:
                ok &= demo.proof("was AWSPREVIOUS", before, expect=False)
            if current and current["username"] != USER:
                demo.acts_as(current)
        ok &= check_log(server, demo)
        say("\n[cleanup] stopping moto server and PostgreSQL, removing the temporary folders")
    return ok


def check_log(server: PostgresServer, demo: Demo) -> bool:
    """The server log holds the verifiers this machine made, and no password of any version."""
    versions = demo.sm.list_secret_version_ids(SecretId=demo.arn)["Versions"]
    values = [demo.read(VersionId=v["VersionId"]) for v in versions]
    log = server.log_text()
    leaked = sum(log.count(value["password"]) for value in values if value)
    hashed = log.count("PASSWORD 'SCRAM-SHA-256$")
    say(
        f"\n[server log] {hashed} password changes, each sent as a SCRAM-SHA-256 verifier made on "
        f"this machine; plaintext passwords of the {len(values)} versions found in it: {leaked}"
    )
    return leaked == 0 and hashed > 0


def main(argv: list[str] | None = None) -> int:
    """Run the demo; 0 when it proved every rotation, 1 otherwise."""
    parser = argparse.ArgumentParser(
        prog="smrotate demo",
        description="Rotate a real PostgreSQL password on this machine, with moto as Secrets "
        "Manager, and show each step's labels and the proof.",
    )
    parser.parse_args(argv)
    say("smrotate demo: real password rotations on this machine (moto stands in for AWS)\n")
    started = time.perf_counter()
    try:
        ok = run()
    except Exception as exc:  # a setup failure: say what failed, never a secret value
        say(f"\ndemo failed: {type(exc).__name__}: {exc}")
        return 1
    say(f"\n{'demo finished' if ok else 'demo FAILED'} in {time.perf_counter() - started:.1f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
