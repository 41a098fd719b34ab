"""Full rotations against a real database: time, connections and failed logins per rotation.

For each engine in ENGINES (a private server started here) and each strategy, it runs one
warm-up rotation and then N timed rotations in one warm process, through the local driver and
the real rotator, with moto server on loopback as Secrets Manager. It prints the median time,
the connections opened and the failed logins per rotation (counted by the rotator, and checked
against the server's own log where the engine provides it). Then, for each engine, one rotation
with every step in a fresh process (a cold Lambda per step): the time to import the handler,
the time to run the step, and whether the database driver was imported.

Usage: python bench/rotation.py [--rotations N] [--engine NAME]
To add an engine: write a setup function returning an `Engine`, and add it to ENGINES.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT)]

from smrotate.testing.aws import FAKE_ENV  # noqa: E402 - after the path is set

os.environ.update(FAKE_ENV, POWERTOOLS_LOG_LEVEL="WARNING")

STRATEGIES = ("single-user", "single-user-via-admin", "alternating-users")
STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")


@dataclass
class Engine:
    """One database engine under test, on a private server started by its setup function."""

    title: str  # printed: the server's version and address
    module: str  # the rotator module, e.g. smrotate.rotators.postgresql
    rotator: str  # its class name
    driver: str  # the module name of its database driver, e.g. psycopg
    create_user: Callable[[str, str], None]  # create a login user with a password
    secret: Callable[..., dict[str, Any]]  # secret value: (username, password, **extra)
    admin_secret: dict[str, Any]
    server_counts: Callable[[str], tuple[int, int]] | None  # log text -> (connections, failed)
    log_text: Callable[[], str]


def setup_postgresql(stack: ExitStack, workdir: Path) -> Engine:
    """A private PostgreSQL with TLS (verify-full) and scram-sha-256."""
    from smrotate.testing.postgres import PostgresServer
    from smrotate.testing.tls import make_pki

    server = PostgresServer.start(make_pki(workdir / "pki"))
    stack.callback(server.stop)

    def counts(log: str) -> tuple[int, int]:  # sessions opened, and logins refused
        failed = log.count("password authentication failed")
        return log.count("connection authorized:") + failed, failed

    return Engine(
        title=f"{server.version} on {server.host}:{server.port} (TLS verify-full)",
        module="smrotate.rotators.postgresql",
        rotator="PostgreSQLRotator",
        driver="psycopg",
        create_user=server.create_role,
        secret=server.secret,
        admin_secret=server.admin_secret(),
        server_counts=counts,
        log_text=server.log_text,
    )


def setup_mariadb(stack: ExitStack, workdir: Path) -> Engine:
    """A private MariaDB with TLS (CA and host name verified) and password accounts."""
    from smrotate.testing.mariadb import MariaDBServer
    from smrotate.testing.tls import make_pki

    server = MariaDBServer.start(make_pki(workdir / "pki"), folder=workdir / "server")
    stack.callback(server.stop)

    def counts(log: str) -> tuple[int, int]:  # the general log: every attempt, then refusals
        failed = log.count(" Connect\tAccess denied for user")
        return log.count(" Connect\t") - failed, failed

    return Engine(
        title=f"{server.version} on {server.host}:{server.port} (TLS, identity verified)",
        module="smrotate.rotators.mysql",
        rotator="MySQLRotator",
        driver="pymysql",
        create_user=server.create_user,
        secret=server.secret,
        admin_secret=server.admin_secret(),
        server_counts=counts,
        log_text=server.log_text,
    )


ENGINES: dict[str, Callable[[ExitStack, Path], Engine]] = {
    "postgresql": setup_postgresql,
    "mariadb": setup_mariadb,
}

COLD_STEP = """
import json, sys, time
started = time.perf_counter()
import importlib
module = importlib.import_module(sys.argv[1])
imported = time.perf_counter()
module.lambda_handler(json.loads(sys.argv[2]), None)
done = time.perf_counter()
print(json.dumps({"import_ms": (imported - started) * 1000, "step_ms": (done - imported) * 1000,
                  "driver": sys.argv[3] in sys.modules}))
"""


def warm_rotations(engine: Engine, sm: Any, admin_arn: str, rotations: int) -> list[str]:
    """One line per strategy: median time, connections and failed logins per rotation."""
    import importlib

    from smrotate.operator.driver import LocalDriver
    from smrotate.testing.aws import enable_rotation

    rotator_class = getattr(importlib.import_module(engine.module), engine.rotator)
    lines = []
    for strategy in STRATEGIES:
        name = f"bench_{strategy.replace('-', '_')}"
        password = "Bench1!" + uuid.uuid4().hex
        engine.create_user(name, password)
        value = engine.secret(name, password, masterarn=admin_arn)
        arn = sm.create_secret(
            Name=f"bench/{engine.module}/{strategy}", SecretString=json.dumps(value)
        )["ARN"]
        enable_rotation(arn)
        rotator = rotator_class(env={**os.environ, "ROTATION_STRATEGY": strategy})
        driver = LocalDriver(rotator.handle)
        assert driver.rotate(arn).ok  # warm-up: imports, clients, the clone's creation
        rotator.stats.clear()
        log_start = len(engine.log_text())
        times = []
        for _ in range(rotations):
            started = time.perf_counter()
            result = driver.rotate(arn)
            times.append((time.perf_counter() - started) * 1000)
            assert result.ok, result.error
        connections, refused = rotator.stats["connections"], rotator.stats["refused"]
        if engine.server_counts is not None:
            seen = engine.server_counts(engine.log_text()[log_start:])
            assert seen == (connections, refused), (seen, connections, refused)
        lines.append(
            f"{strategy:<24}{statistics.median(times):>10.1f}{min(times):>9.1f}{max(times):>9.1f}"
            f"{connections / rotations:>14.1f}{refused / rotations:>16.1f}"
        )
    return lines


def cold_steps(engine: Engine, sm: Any, endpoint: str) -> list[str]:
    """One single-user rotation, each step in a fresh Python process."""
    from smrotate.testing.aws import enable_rotation

    name, password = "bench_cold", "Bench1!" + uuid.uuid4().hex
    engine.create_user(name, password)
    value = json.dumps(engine.secret(name, password))
    arn = sm.create_secret(Name=f"bench/{engine.module}/cold", SecretString=value)["ARN"]
    enable_rotation(arn)
    token = str(uuid.uuid4())
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SECRETS_MANAGER_ENDPOINT": endpoint}
    env["ROTATION_STRATEGY"] = "single-user"
    lines = []
    for step in STEPS:
        event = json.dumps({"Step": step, "SecretId": arn, "ClientRequestToken": token})
        out = subprocess.run(
            [sys.executable, "-c", COLD_STEP, engine.module, event, engine.driver],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        measured = json.loads(out.strip().splitlines()[-1])
        lines.append(
            f"{step:<14}{measured['import_ms']:>12.0f}{measured['step_ms']:>12.0f}"
            f"{'yes' if measured['driver'] else 'no':>18}"
        )
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rotations", type=int, default=10, help="timed rotations per strategy")
    parser.add_argument("--engine", choices=sorted(ENGINES), action="append")
    args = parser.parse_args(argv)

    import boto3

    from smrotate.testing.aws import serve_moto

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with ExitStack() as stack:
        endpoint = serve_moto(stack)
        os.environ["SECRETS_MANAGER_ENDPOINT"] = endpoint
        sm = boto3.client("secretsmanager", endpoint_url=endpoint)
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="smrotate-bench-")))
        for name in args.engine or sorted(ENGINES):
            engine = ENGINES[name](stack, workdir / name)
            admin = json.dumps(engine.admin_secret)
            admin_arn = sm.create_secret(Name=f"bench/{name}/admin", SecretString=admin)["ARN"]
            print(f"\n{name}: {engine.title}; moto server on loopback")
            print(f"{args.rotations} rotations per strategy, warm process, after one warm-up\n")
            print(
                f"{'strategy':<24}{'median ms':>10}{'min':>9}{'max':>9}"
                f"{'connections':>14}{'failed logins':>16}   (per rotation)"
            )
            for line in warm_rotations(engine, sm, admin_arn, args.rotations):
                print(line)
            print("\neach step in a fresh process (a cold Lambda), single-user:\n")
            print(f"{'step':<14}{'import ms':>12}{'step ms':>12}{engine.driver + ' imported':>18}")
            for line in cold_steps(engine, sm, endpoint):
                print(line)


if __name__ == "__main__":
    main()
