"""Racing rotations: how many two-process races leave an account without a working credential.

For each engine (a private server started here) and each strategy, it runs N races. Each race
makes a fresh user and secret, then starts two `LocalDriver` rotations of it at the same
instant from two forked processes (`smrotate.testing.kit.racing`), with moto server on
loopback as Secrets Manager. Afterwards it logs in, on the real server, with each labelled
version, and counts:

- stranded: no labelled version (AWSCURRENT, AWSPENDING, AWSPREVIOUS) logs in;
- current refused: AWSCURRENT does not log in (the application is locked out, even if
  another labelled version would still work);
- pending left: AWSPENDING is left behind (the next rotation is blocked until cleanup);
- one rotated; both rotated, in turn (the second began only after the first had finished, so
  AWSPREVIOUS is the first's version) or at once; both refused; and other failures (a racer
  that neither finished nor backed off with RotationInProgressError);
- label problems: one label on two versions, or no AWSCURRENT.

`--timing staggered` holds the first racer back before it changes the password while the second
writes its version (the window that simultaneous starts hit only now and then).

Usage: python bench/races.py [--races N] [--engine NAME] [--strategy NAME] [--timing T]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT)]

from smrotate.testing.aws import FAKE_ENV  # noqa: E402 - after the path is set

os.environ.update(FAKE_ENV, POWERTOOLS_LOG_LEVEL="CRITICAL")

STRATEGIES = ("single-user", "single-user-via-admin", "alternating-users")
LABELS = ("AWSCURRENT", "AWSPENDING", "AWSPREVIOUS")


@dataclass
class Engine:
    """A private server: how to make a user, its secret, check a login, build the rotator."""

    name: str
    title: str
    create_user: Callable[[str, str], None]
    secret: Callable[..., dict[str, Any]]
    admin_secret: dict[str, Any]
    logs_in: Callable[[str, str], bool]
    rotator: Callable[[dict[str, str]], Any]


def setup_postgresql(stack: ExitStack, workdir: Path) -> Engine:
    from smrotate.rotators.postgresql import PostgreSQLRotator
    from smrotate.testing.postgres import PostgresServer
    from smrotate.testing.tls import make_pki

    server = PostgresServer.start(make_pki(workdir / "pki-pg"))
    stack.callback(server.stop)
    return Engine(
        "postgresql",
        f"{server.version} on {server.host}:{server.port}",
        server.create_role,
        server.secret,
        server.admin_secret(),
        server.logs_in,
        lambda env: PostgreSQLRotator(env=env),
    )


def setup_mariadb(stack: ExitStack, workdir: Path) -> Engine:
    from smrotate.rotators.mysql import MySQLRotator
    from smrotate.testing.mariadb import MariaDBServer
    from smrotate.testing.tls import make_pki

    server = MariaDBServer.start(make_pki(workdir / "pki-mariadb"), folder=workdir / "mariadb")
    stack.callback(server.stop)
    return Engine(
        "mariadb",
        f"{server.version} on {server.host}:{server.port}",
        server.create_user,
        server.secret,
        server.admin_secret(),
        server.logs_in,
        lambda env: MySQLRotator(env=env),
    )


ENGINES: dict[str, Callable[[ExitStack, Path], Engine]] = {
    "postgresql": setup_postgresql,
    "mariadb": setup_mariadb,
}


def values_by_label(arn: str) -> dict[str, dict[str, Any]]:
    """label -> value, read from moto's in-process backend (the server's own store)."""
    from smrotate.testing.aws import backend

    found = {}
    for version in backend().secrets[arn].versions.values():
        for label in version["version_stages"]:
            if label in LABELS and version.get("secret_string"):
                found[label] = json.loads(version["secret_string"])
    return found


def previous_version(arn: str) -> str | None:
    """The version holding AWSPREVIOUS."""
    from smrotate.testing.aws import backend

    versions = backend().secrets[arn].versions
    return next((v for v, x in versions.items() if "AWSPREVIOUS" in x["version_stages"]), None)


def one_race(engine: Engine, sm: Any, endpoint: str, strategy: str, timing: str) -> Counter[str]:
    from smrotate.testing.aws import enable_rotation, label_problems
    from smrotate.testing.kit.racing import SIMULTANEOUS, STAGGERED, race

    name = f"race_{secrets.token_hex(5)}"
    password = "Pw1!" + secrets.token_urlsafe(18)
    engine.create_user(name, password)
    value = engine.secret(name, password)
    if strategy != "single-user":
        value["masterarn"] = ADMIN_ARNS[engine.name]
    arn = sm.create_secret(Name=f"bench/{name}", SecretString=json.dumps(value))["ARN"]
    enable_rotation(arn)
    env = {"ROTATION_STRATEGY": strategy}
    outcomes = race(
        lambda: engine.rotator(env),
        endpoint,
        arn,
        STAGGERED if timing == "staggered" else SIMULTANEOUS,
    )
    counts: Counter[str] = Counter(races=1)
    labelled = values_by_label(arn)
    works = {label: engine.logs_in(v["username"], v["password"]) for label, v in labelled.items()}
    counts["stranded"] += not any(works.values())
    counts["current refused"] += not works.get("AWSCURRENT", False)
    counts["pending left"] += "AWSPENDING" in labelled
    counts["label problems"] += bool(label_problems())
    done = [o.token for o in outcomes if o.ok]
    if len(done) == 2:  # one after the other when AWSPREVIOUS is the first one's version
        counts["both, in turn" if previous_version(arn) in done else "both at once"] += 1
    else:
        counts[{0: "none rotated", 1: "one rotated"}[len(done)]] += 1
    counts["both refused"] += all(o.refused for o in outcomes)
    counts["other failures"] += sum(not (o.ok or o.refused) for o in outcomes)
    for o in outcomes:
        if not (o.ok or o.refused) and o.error:
            FAILURES[o.error.split(":")[0] + (f" at {o.failed_step}" if o.failed_step else "")] += 1
    return counts


ADMIN_ARNS: dict[str, str] = {}
FAILURES: Counter[str] = Counter()
COLUMNS = (
    "stranded",
    "current refused",
    "pending left",
    "one rotated",
    "both, in turn",
    "both at once",
    "both refused",
    "other failures",
    "label problems",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--races", type=int, default=200, help="races per engine and strategy")
    parser.add_argument("--engine", choices=sorted(ENGINES), action="append")
    parser.add_argument("--strategy", choices=STRATEGIES, action="append")
    parser.add_argument("--timing", choices=("simultaneous", "staggered"), default="simultaneous")
    args = parser.parse_args()

    import boto3
    from moto.server import ThreadedMotoServer

    from smrotate.testing.aws import REGION, free_port
    from smrotate.testing.kit.racing import can_fork

    if not can_fork():
        sys.exit("bench/races.py forks its racers: run it on Linux")
    logging.getLogger("werkzeug").setLevel(logging.CRITICAL)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    sm = boto3.client("secretsmanager", endpoint_url=endpoint, region_name=REGION)
    print(f"{args.races} two-process races per engine and strategy, {args.timing} starts")
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="smrotate-races-") as tmp:
        for engine_name in args.engine or sorted(ENGINES):
            engine = ENGINES[engine_name](stack, Path(tmp))
            print(f"\n{engine.name}: {engine.title}")
            ADMIN_ARNS[engine.name] = sm.create_secret(
                Name=f"admin/{engine.name}", SecretString=json.dumps(engine.admin_secret)
            )["ARN"]
            print(f"  {'strategy':<24}" + "".join(f"{c:>16}" for c in COLUMNS) + "  seconds")
            for strategy in args.strategy or STRATEGIES:
                started = time.perf_counter()
                totals: Counter[str] = Counter()
                for _ in range(args.races):
                    totals += one_race(engine, sm, endpoint, strategy, args.timing)
                seconds = time.perf_counter() - started
                print(
                    f"  {strategy:<24}"
                    + "".join(f"{totals[c]:>16}" for c in COLUMNS)
                    + f"  {seconds:7.1f}",
                    flush=True,
                )
    if FAILURES:
        print("\nother failures, by error type and step:")
        for what, count in FAILURES.most_common():
            print(f"  {count:>5}  {what}")
    server.stop()


if __name__ == "__main__":
    main()
