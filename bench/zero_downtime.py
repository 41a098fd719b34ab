"""Zero downtime: what an application under load sees while its secret is rotated.

For each engine (a private PostgreSQL or MariaDB started here, password logins over verified
TLS), each strategy and each way the application reads its credentials, it starts an
application of T threads making N queries per second in all, each query on a NEW connection
with the credentials the application holds at that moment (what exposes stale credentials),
plus one long-lived connection opened at the start. Then it rotates the secret M times, one
rotation every I seconds, the way AWS does: RotateSecret on moto server (loopback), whose
rotation function runs the real rotator's handler in this process for the four steps. After
each rotation it checks that AWSCURRENT moved to the new version and logs in, and runs a
query on the long-lived connection. The application stops one interval after the last
rotation.

Credential modes:
- default-cache: aws-secretsmanager-caching's SecretCache with its default refresh (1 h);
- short-cache: SecretCache refreshing more often than the rotations (--short-cache seconds);
- consumer: smrotate.consumer (the default, long cache; fetches AWSCURRENT again once when a
  login is refused, and retries).

It prints one row per engine x strategy x mode: the failed queries per rotation (each failure
counted in the rotation that began last before it; mean and max), the longest failure window
(per thread, from the first failed query to the end of the next successful one; "+" when
still failing at the end), the queries made, the slowest query, the mean RotateSecret time,
and whether the long-lived connection still worked after every rotation. Then a short Markdown
table for README.md. dual-password needs MySQL 8.0.14+, which PostgreSQL and MariaDB are not:
it is named and not measured.

Usage: python bench/zero_downtime.py [--engine postgresql|mariadb|all] [--strategy NAME ...]
       [--mode NAME ...] [--rotations M] [--interval I] [--rate N] [--threads T]
       [--short-cache S] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import logging
import os
import platform
import secrets
import ssl
import statistics
import sys
import tempfile
import threading
import time
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT)]

from smrotate.testing.aws import FAKE_ENV, REGION  # noqa: E402 - after the path is set

os.environ.update(FAKE_ENV, POWERTOOLS_LOG_LEVEL="WARNING")

STRATEGIES = (
    "single-user",
    "single-user-via-admin",
    "alternating-users",
    "alternating-pair",
    "dual-password",
)
ADMIN_STRATEGIES = ("single-user-via-admin", "alternating-users")
MODES = ("default-cache", "short-cache", "consumer")
CODES = {  # short names for the users each row creates
    "single-user": "su",
    "single-user-via-admin": "sa",
    "alternating-users": "au",
    "alternating-pair": "ap",
    "default-cache": "dc",
    "short-cache": "sc",
    "consumer": "ch",
}
DEFAULT_REFRESH = 3600  # SecretCacheConfig's secret_refresh_interval
WARMUP = 1.0  # seconds of load before the first rotation
CONNECT_TIMEOUT = 5
NOT_MEASURED = (
    "dual-password: not offered on PostgreSQL (the rotator has no add_password) nor on MariaDB "
    "(one password per account: the rotator refuses it before storing anything); it needs "
    "MySQL 8.0.14+, which cannot run on this machine: not measured"
)


class BenchError(RuntimeError):
    """A rotation did not do what it must; the row reports it and the bench goes on."""


# ------------------------------------------------------------------------------------ engines


@dataclass
class Engine:
    """A private server, and how the application logs in to it."""

    name: str
    title: str
    rotator: Callable[..., Any]  # the rotator class; called with env=...
    create_user: Callable[[str, str], None]  # a login user with a password, allowed the query
    secret: Callable[..., dict[str, Any]]  # secret value: (username, password, **extra)
    admin_secret: dict[str, Any]
    connect: Callable[[Mapping[str, Any]], Any]  # a new DB-API connection from a secret value
    refused: Callable[[BaseException], bool]  # the server refused the credentials
    query: str  # what the application runs on each connection
    consumer_connect: Callable[..., Any]  # smrotate.consumer's function for the driver
    consumer_kwargs: dict[str, Any]  # its options beyond what the secret says


def setup_postgresql(stack: ExitStack, pki: Any) -> Engine:
    """A private PostgreSQL: TLS verify-full, scram-sha-256, a table the users may read."""
    import psycopg
    from psycopg import sql

    from smrotate.consumer import connect_psycopg
    from smrotate.rotators.postgresql import PostgreSQLRotator
    from smrotate.testing.postgres import PostgresServer

    server = PostgresServer.start(pki)
    stack.callback(server.stop)
    server.execute("CREATE TABLE public.zd_orders (id int PRIMARY KEY, item text NOT NULL)")
    server.execute("INSERT INTO public.zd_orders VALUES (1, 'tea'), (2, 'milk'), (3, 'bread')")

    def create_user(name: str, password: str) -> None:
        server.create_role(name, password)
        grant = sql.SQL("GRANT SELECT ON public.zd_orders TO {}").format(sql.Identifier(name))
        server.execute(grant)

    def connect(value: Mapping[str, Any]) -> Any:
        return psycopg.connect(
            host=value["host"],
            port=int(value["port"]),
            user=value["username"],
            password=value["password"],
            dbname=value.get("dbname", "postgres"),
            connect_timeout=CONNECT_TIMEOUT,
            autocommit=True,
            sslmode="verify-full",
            sslrootcert=value["sslrootcert"],
        )

    def refused(exc: BaseException) -> bool:  # the bench's own test, not the consumer's
        # libpq reports a refused login at connect without a SQLSTATE: its message says it.
        return isinstance(exc, psycopg.OperationalError) and (
            exc.sqlstate in {"28P01", "28000"} or "password authentication failed" in str(exc)
        )

    return Engine(
        name="postgresql",
        title=f"{server.version}, TLS verify-full, scram-sha-256",
        rotator=PostgreSQLRotator,
        create_user=create_user,
        secret=server.secret,
        admin_secret=server.admin_secret(),
        connect=connect,
        refused=refused,
        query="SELECT count(*) FROM public.zd_orders",
        consumer_connect=connect_psycopg,
        consumer_kwargs={"connect_timeout": CONNECT_TIMEOUT, "autocommit": True},
    )


@lru_cache(maxsize=4)
def verified_context(cafile: str) -> ssl.SSLContext:
    """A TLS context that checks the server's certificate against `cafile`, and its name."""
    return ssl.create_default_context(cafile=cafile)


def setup_mariadb(stack: ExitStack, pki: Any, folder: Path) -> Engine:
    """A private MariaDB: TLS with the CA and host name verified, a table the users may read."""
    import pymysql

    from smrotate.consumer import connect_pymysql
    from smrotate.rotators.mysql import MySQLRotator
    from smrotate.testing.mariadb import MariaDBServer

    server = MariaDBServer.start(pki, folder=folder)
    stack.callback(server.stop)
    server.execute("CREATE DATABASE zd")
    server.execute("CREATE TABLE zd.orders (id INT PRIMARY KEY, item VARCHAR(20) NOT NULL)")
    server.execute("INSERT INTO zd.orders VALUES (1, 'tea'), (2, 'milk'), (3, 'bread')")

    def create_user(name: str, password: str) -> None:
        server.create_user(name, password)
        server.execute("GRANT SELECT ON zd.orders TO %s@%s", (name, "%"))

    def connect(value: Mapping[str, Any]) -> Any:
        return pymysql.connect(
            host=value["host"],
            port=int(value["port"]),
            user=value["username"],
            password=str(value["password"]).encode(),
            connect_timeout=CONNECT_TIMEOUT,
            autocommit=True,
            charset="utf8mb4",
            ssl=verified_context(str(value["sslrootcert"])),
        )

    def refused(exc: BaseException) -> bool:  # 1045: access denied (the bench's own test)
        return isinstance(exc, pymysql.OperationalError) and bool(exc.args) and exc.args[0] == 1045

    return Engine(
        name="mariadb",
        title=f"{server.version}, TLS with CA and host name verified",
        rotator=MySQLRotator,
        create_user=create_user,
        secret=server.secret,
        admin_secret=server.admin_secret(),
        connect=connect,
        refused=refused,
        query="SELECT COUNT(*) FROM zd.orders",
        consumer_connect=connect_pymysql,
        consumer_kwargs={"connect_timeout": CONNECT_TIMEOUT, "autocommit": True},
    )


ENGINES = ("postgresql", "mariadb")


# ------------------------------------------------------------------------ the application


@dataclass(frozen=True)
class Sample:
    """One query of the application: when it ran, and its error kind (None: it succeeded)."""

    started: float
    ended: float
    error: str | None


def error_kind(engine: Engine, exc: BaseException) -> str:
    """`refused` for a refused login; else the exception's type and code (never its text,
    which could name more than we want printed)."""
    if engine.refused(exc):
        return "refused"
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
    sqlstate = getattr(exc, "sqlstate", None)
    detail = code if code is not None else sqlstate
    return type(exc).__name__ + (f" {detail}" if detail else "")


def run_query(conn: Any, query: str) -> None:
    """Run `query` on an open DB-API connection and read its rows."""
    cursor = conn.cursor()
    try:
        cursor.execute(query)
        cursor.fetchall()
    finally:
        cursor.close()


def query_on(engine: Engine, conn: Any) -> str | None:
    """The query on an open connection, left open: None, or the kind of error."""
    try:
        run_query(conn, engine.query)
    except Exception as exc:  # what the application sees is the measurement
        return error_kind(engine, exc)
    return None


def close_quietly(conn: Any) -> None:
    """Close a connection that may already be broken."""
    with contextlib.suppress(Exception):
        conn.close()


def one_query(engine: Engine, connect: Callable[[], Any]) -> str | None:
    """A new connection, the query, closed: None, or the kind of error."""
    try:
        conn = connect()
        try:
            run_query(conn, engine.query)
        finally:
            conn.close()
    except Exception as exc:  # what the application sees is the measurement
        return error_kind(engine, exc)
    return None


class Application:
    """T threads making `rate` queries per second in all, each on a new connection."""

    def __init__(
        self, engine: Engine, connect: Callable[[], Any], threads: int, rate: float
    ) -> None:
        self.engine, self.connect = engine, connect
        self.period = threads / rate  # each thread's time between two queries
        self.samples: list[list[Sample]] = [[] for _ in range(threads)]
        self.skipped = [0] * threads  # query slots that passed while a slow query ran
        self.stop_event = threading.Event()
        self.threads = [
            threading.Thread(target=self._work, args=(k,), name=f"app-{k}", daemon=True)
            for k in range(threads)
        ]
        self.started = self.stopped = 0.0

    def _work(self, k: int) -> None:
        own = self.samples[k]
        due = self.started + k * self.period / len(self.threads)  # staggered
        while not self.stop_event.wait(max(0.0, due - time.monotonic())):
            started = time.monotonic()
            error = one_query(self.engine, self.connect)
            own.append(Sample(started, time.monotonic(), error))
            # The slots that passed while a query ran are skipped, not made up for in a burst.
            due, now = due + self.period, time.monotonic()
            if due < now:
                self.skipped[k] += int((now - due) / self.period)
                due = now

    def start(self) -> None:
        self.started = time.monotonic()
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        """Stop the threads (each ends after its current query) and wait for them."""
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout=2 * CONNECT_TIMEOUT + 30)
        self.stopped = time.monotonic()


# -------------------------------------------------------------------------- credentials


def secret_cache(refresh: int, client: Any) -> Any:
    """aws-secretsmanager-caching's SecretCache refreshing every `refresh` seconds."""
    from aws_secretsmanager_caching import (  # type: ignore[import-untyped]
        SecretCache,
        SecretCacheConfig,
    )

    return SecretCache(config=SecretCacheConfig(secret_refresh_interval=refresh), client=client)


def cached_connect(engine: Engine, cache: Any, secret_id: str) -> Callable[[], Any]:
    """Each connection with the secret value the cache holds at that moment."""

    def connect() -> Any:
        return engine.connect(json.loads(cache.get_secret_string(secret_id)))

    return connect


def consumer_connect(engine: Engine, client: Any, secret_id: str) -> Callable[[], Any]:
    """Each connection through smrotate.consumer: its own cache over `client` with the default
    refresh (1 h), fetched again when a login is refused (TLS as the secret says)."""
    from smrotate.consumer import SecretCredentials

    credentials = SecretCredentials(secret_id, client=client)

    def connect() -> Any:
        return engine.consumer_connect(credentials, **engine.consumer_kwargs)

    return connect


# ----------------------------------------------------------------------------- one row


@dataclass
class World:
    """What every row shares: moto server, the clients, the rotation function."""

    endpoint: str
    sm: Any  # for set-up and checks
    rotate_client: Any  # RotateSecret, one attempt (a retried RotateSecret is a new rotation)
    function_arn: str
    handler: list[Callable[[dict[str, Any]], None]]  # the handler moto's function runs now
    admin_arns: dict[str, str] = field(default_factory=dict)


@dataclass
class Row:
    """What one engine x strategy x mode measured."""

    engine: str
    strategy: str
    mode: str
    rotations: int = 0
    per_rotation: list[int] = field(default_factory=list)
    before_first: int = 0  # failures before the first rotation began (should be none)
    window: float = 0.0
    window_open: bool = False  # still failing when the application stopped
    queries: int = 0
    skipped: int = 0  # query slots lost to slow queries (a login that waited, for one)
    slowest: float = 0.0
    rotate_seconds: list[float] = field(default_factory=list)
    survived: bool | None = None
    survived_note: str = ""
    kinds: Counter[str] = field(default_factory=Counter)
    error: str = ""


def create_secret(world: World, engine: Engine, strategy: str, mode: str) -> str:
    """A fresh user (two for a pair) and its secret; the secret's ARN."""
    base = f"zd_{CODES[strategy]}_{CODES[mode]}"
    name = f"zd/{engine.name}/{strategy}/{mode}"
    extra = {"masterarn": world.admin_arns[engine.name]} if strategy in ADMIN_STRATEGIES else {}
    if strategy == "alternating-pair":
        first, second = f"{base}_a", f"{base}_b"
        values = []
        for user in (second, first):  # the second user's value first: it ends as AWSPREVIOUS
            password = "Zd1!" + secrets.token_hex(16)
            engine.create_user(user, password)
            values.append(engine.secret(user, password))
        arn = str(world.sm.create_secret(Name=name, SecretString=json.dumps(values[0]))["ARN"])
        world.sm.put_secret_value(SecretId=arn, SecretString=json.dumps(values[1]))
        return arn
    password = "Zd1!" + secrets.token_hex(16)
    engine.create_user(base, password)
    value = engine.secret(base, password, **extra)
    return str(world.sm.create_secret(Name=name, SecretString=json.dumps(value))["ARN"])


def rotate(world: World, engine: Engine, arn: str, number: int) -> None:
    """RotateSecret, then prove it: AWSCURRENT on the new version, no AWSPENDING left, and
    AWSCURRENT logs in and runs the application's query. BenchError otherwise."""
    from botocore.exceptions import ClientError

    try:
        token = world.rotate_client.rotate_secret(
            SecretId=arn,
            RotationLambdaARN=world.function_arn,
            RotationRules={"AutomaticallyAfterDays": 30},
        )["VersionId"]
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "?")
        raise BenchError(f"rotation {number}: RotateSecret failed ({code})") from None
    stages = world.sm.describe_secret(SecretId=arn)["VersionIdsToStages"]
    if "AWSCURRENT" not in stages.get(token, []):
        raise BenchError(f"rotation {number}: AWSCURRENT did not move to the new version")
    if any("AWSPENDING" in labels for labels in stages.values()):
        raise BenchError(f"rotation {number}: AWSPENDING was left behind")
    value = json.loads(
        world.sm.get_secret_value(SecretId=arn, VersionStage="AWSCURRENT")["SecretString"]
    )
    error = one_query(engine, lambda: engine.connect(value))
    if error is not None:
        raise BenchError(f"rotation {number}: the new AWSCURRENT does not work ({error})")


def sleep_until(moment: float) -> None:
    """Sleep until time.monotonic() reaches `moment`."""
    time.sleep(max(0.0, moment - time.monotonic()))


def measure(
    world: World, engine: Engine, strategy: str, mode: str, args: argparse.Namespace
) -> Row:
    """One row: the application under load while the secret is rotated `args.rotations` times."""
    import boto3

    from smrotate.testing.aws import label_problems

    row = Row(engine.name, strategy, mode)
    arn = create_secret(world, engine, strategy, mode)
    rotator = engine.rotator(env={**os.environ, "ROTATION_STRATEGY": strategy})
    world.handler[:] = [rotator.handle]
    client = boto3.client("secretsmanager", endpoint_url=world.endpoint, region_name=REGION)
    if mode == "consumer":
        connect = consumer_connect(engine, client, arn)
    else:
        refresh = DEFAULT_REFRESH if mode == "default-cache" else args.short_cache
        connect = cached_connect(engine, secret_cache(refresh, client), arn)
    app = Application(engine, connect, args.threads, args.rate)
    starts: list[float] = []
    with ExitStack() as stack:
        long_lived = connect()  # the application's own long-lived connection
        stack.callback(close_quietly, long_lived)
        row.survived = True
        app.start()
        stack.callback(app.stop)
        last_end = app.started
        try:
            for number in range(1, args.rotations + 1):
                sleep_until(app.started + WARMUP + (number - 1) * args.interval)
                starts.append(time.monotonic())
                rotate(world, engine, arn, number)
                last_end = time.monotonic()
                row.rotate_seconds.append(last_end - starts[-1])
                row.rotations = number
                if row.survived:
                    error = query_on(engine, long_lived)
                    if error is not None:
                        row.survived = False
                        row.survived_note = f"after rotation {number}: {error}"
        except BenchError as exc:
            row.error = str(exc)
        # Every rotation gets a whole interval, and the short cache time to catch up.
        settle = max(app.started + WARMUP + args.rotations * args.interval, last_end)
        sleep_until(max(settle, last_end + args.short_cache + 0.5))
    world.handler.clear()
    problems = label_problems()
    if problems and not row.error:
        row.error = "; ".join(problems)
    summarize(row, app, starts)
    return row


def summarize(row: Row, app: Application, starts: list[float]) -> None:
    """Fill `row` from the application's samples and the rotations' start times."""
    row.per_rotation = [0] * len(starts)
    row.skipped = sum(app.skipped)
    for samples in app.samples:
        row.queries += len(samples)
        failing_since: float | None = None
        for sample in samples:
            row.slowest = max(row.slowest, sample.ended - sample.started)
            if sample.error is None:
                if failing_since is not None and sample.ended - failing_since > row.window:
                    row.window, row.window_open = sample.ended - failing_since, False
                failing_since = None
                continue
            row.kinds[sample.error] += 1
            index = bisect_right(starts, sample.started) - 1
            if index < 0:
                row.before_first += 1
            else:
                row.per_rotation[index] += 1
            if failing_since is None:
                failing_since = sample.started
        if failing_since is not None and app.stopped - failing_since > row.window:
            row.window, row.window_open = app.stopped - failing_since, True


# ------------------------------------------------------------------------------- output

COLUMNS = (
    ("engine", 11),
    ("strategy", 22),
    ("mode", 14),
    ("failed/rot", 11),
    ("max", 6),
    ("window s", 10),
    ("queries", 8),
    ("skipped", 8),
    ("slowest s", 10),
    ("rotate s", 9),
    ("open conns", 11),
)


LEGEND = (
    "failed/rot  failed queries per rotation (mean), each counted in the rotation begun last "
    "before it; max: the worst rotation",
    "window s    the longest run of failed queries of one thread, to the end of its next "
    "success ('+': still failing when the application stopped)",
    "queries     queries made; skipped: slots that passed while a thread waited on a slow query",
    "slowest s   the slowest query (a refused login that waits for a fresh secret is slow, not "
    "failed)",
    "rotate s    RotateSecret's mean time (the four steps); open conns: the long-lived "
    "connection still ran its query after every rotation",
)


def header() -> str:
    """The table's header line: text left-aligned, figures right-aligned."""
    cells = [f"{name:<{w}}" if i < 3 else f"{name:>{w}}" for i, (name, w) in enumerate(COLUMNS)]
    return "".join(cells) + "\n" + "-" * sum(w for _, w in COLUMNS)


def survived_text(row: Row) -> str:
    if row.survived is None:
        return "-"
    return "yes" if row.survived else "no"


def window_text(row: Row) -> str:
    return f"{row.window:.1f}{'+' if row.window_open else ''}"


def mean_failed(row: Row) -> str:
    return f"{statistics.mean(row.per_rotation):.1f}" if row.per_rotation else "-"


def line(row: Row) -> str:
    """One table row."""
    values = (
        row.engine,
        row.strategy,
        row.mode,
        mean_failed(row),
        str(max(row.per_rotation, default=0)) if row.per_rotation else "-",
        window_text(row),
        str(row.queries),
        str(row.skipped),
        f"{row.slowest:.2f}",
        f"{statistics.mean(row.rotate_seconds):.2f}" if row.rotate_seconds else "-",
        survived_text(row),
    )
    cells = [
        f"{v:<{w}}" if i < 3 else f"{v:>{w}}"
        for i, (v, (_, w)) in enumerate(zip(values, COLUMNS, strict=True))
    ]
    return "".join(cells)


def notes(row: Row) -> list[str]:
    """What the row's figures do not say: errors, odd failures."""
    found = []
    where = f"{row.engine} {row.strategy} {row.mode}"
    if row.error:
        found.append(f"{where}: STOPPED after {row.rotations} rotations: {row.error}")
    if row.before_first:
        found.append(f"{where}: {row.before_first} queries failed before the first rotation")
    others = {kind: n for kind, n in row.kinds.items() if kind != "refused"}
    if others:
        listed = ", ".join(f"{kind} x{n}" for kind, n in sorted(others.items()))
        found.append(f"{where}: failures other than a refused login: {listed}")
    if row.survived is False:
        found.append(f"{where}: the long-lived connection failed {row.survived_note}")
    return found


def markdown(rows: list[Row], args: argparse.Namespace, today: str) -> list[str]:
    """The short table for README.md."""
    out = [
        f"<!-- for README.md: bench/zero_downtime.py, {today}, {args.rotations} rotations every "
        f"{args.interval:g} s, {args.threads} threads at {args.rate:g} new connections/s; "
        f"short cache {args.short_cache} s -->",
        "| engine | strategy | credentials | failed queries per rotation (mean / max) "
        "| longest failure window | slowest query | open connections survive |",
        "|---|---|---|---|---|---|---|",
    ]
    credentials = {
        "default-cache": f"SecretCache, refresh {DEFAULT_REFRESH // 60} min (default)",
        "short-cache": f"SecretCache, refresh {args.short_cache} s",
        "consumer": "smrotate.consumer (default cache)",
    }
    for row in rows:
        failed = f"{mean_failed(row)} / {max(row.per_rotation, default=0)}"
        window = "none" if row.window == 0 else f"{window_text(row)} s"
        if row.window_open:
            window += " (until the end)"
        if row.error:
            failed += f" (stopped after {row.rotations} rotations)"
        out.append(
            f"| {row.engine} | {row.strategy} | {credentials[row.mode]} | {failed} | {window} "
            f"| {row.slowest:.1f} s | {survived_text(row)} |"
        )
    return out


# --------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=(*ENGINES, "all"), default="all")
    parser.add_argument(
        "--strategy", choices=STRATEGIES, action="append", help="repeatable; default: all"
    )
    parser.add_argument("--mode", choices=MODES, action="append", help="repeatable; default: all")
    parser.add_argument("--rotations", type=int, help="rotations per row (default 5)")
    parser.add_argument("--interval", type=float, help="seconds between rotations (default 4)")
    parser.add_argument("--rate", type=float, default=20.0, help="queries per second, in all")
    parser.add_argument("--threads", type=int, default=4, help="application threads")
    parser.add_argument(
        "--short-cache", type=int, default=2, help="short-cache refresh, whole seconds (default 2)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 2 rotations, 3 s apart, unless given"
    )
    args = parser.parse_args(argv)
    args.rotations = args.rotations or (2 if args.quick else 5)
    args.interval = args.interval or (3.0 if args.quick else 4.0)
    if args.rotations < 1 or args.threads < 1 or args.rate <= 0:
        parser.error("--rotations, --threads and --rate must be positive")
    if not 1 <= args.short_cache < args.interval:
        parser.error("--short-cache must be at least 1 s and shorter than --interval")
    args.engines = ENGINES if args.engine == "all" else (args.engine,)
    args.strategies = tuple(s for s in STRATEGIES if s in (args.strategy or STRATEGIES))
    args.modes = tuple(m for m in MODES if m in (args.mode or MODES))
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    import boto3
    from botocore.config import Config

    from smrotate.observability import set_log_stream
    from smrotate.testing.aws import create_rotation_function, rotate_secret_runs, serve_moto
    from smrotate.testing.tls import make_pki

    set_log_stream("stderr")  # the rotator's own log lines (warnings, errors) stay off the table
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    began = time.monotonic()
    now = datetime.datetime.now(datetime.UTC)
    print("Zero downtime: an application under load while its secret rotates")
    print(f"date         {now:%Y-%m-%d %H:%M} UTC")
    print(
        f"machine      {os.cpu_count()} cores (nproc {len(os.sched_getaffinity(0))}), "
        f"Python {platform.python_version()}, {platform.system()} {platform.machine()}"
    )
    print(
        f"application  {args.threads} threads, {args.rate:g} queries/s in all, each on a new "
        "connection with the credentials held then (TLS verified), and one long-lived connection"
    )
    print(
        f"rotations    {args.rotations} per row, one every {args.interval:g} s, from "
        f"{WARMUP:g} s after the application starts; RotateSecret on moto server, the real "
        "handler in process"
    )
    print(
        f"credentials  default-cache: SecretCache, refresh {DEFAULT_REFRESH} s (its default); "
        f"short-cache: refresh {args.short_cache} s; consumer: smrotate.consumer, default cache, "
        "one re-fetch on a refused login"
    )
    print(
        "             (SecretCache refreshes after a random time between half the interval "
        "and the interval)"
    )
    measured = [s for s in args.strategies if s != "dual-password"]
    with ExitStack() as stack:
        endpoint = serve_moto(stack)
        os.environ["SECRETS_MANAGER_ENDPOINT"] = endpoint
        handler: list[Callable[[dict[str, Any]], None]] = []

        def invoke(event: dict[str, Any]) -> None:
            handler[0](event)

        stack.enter_context(rotate_secret_runs(invoke))
        world = World(
            endpoint=endpoint,
            sm=boto3.client("secretsmanager", endpoint_url=endpoint, region_name=REGION),
            rotate_client=boto3.client(
                "secretsmanager",
                endpoint_url=endpoint,
                region_name=REGION,
                config=Config(retries={"total_max_attempts": 1}, read_timeout=300),
            ),
            function_arn=create_rotation_function(endpoint_url=endpoint, region_name=REGION),
            handler=handler,
        )
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="smrotate-zd-")))
        pki = make_pki(workdir / "pki")
        engines: list[Engine] = []
        for name in args.engines:
            if name == "postgresql":
                engine = setup_postgresql(stack, pki)
            else:
                engine = setup_mariadb(stack, pki, workdir / "mariadb")
            admin = json.dumps(engine.admin_secret)
            world.admin_arns[name] = str(
                world.sm.create_secret(Name=f"zd/{name}/admin", SecretString=admin)["ARN"]
            )
            engines.append(engine)
            print(f"{'servers' if len(engines) == 1 else '':<13}{name}: {engine.title}")
        if "dual-password" in args.strategies:
            print(NOT_MEASURED)
        print()
        print(header())
        rows: list[Row] = []
        for engine in engines:
            for strategy in measured:
                for mode in args.modes:
                    row = measure(world, engine, strategy, mode, args)
                    rows.append(row)
                    print(line(row), flush=True)
        print()
        print("\n".join(LEGEND))
        found = [note for row in rows for note in notes(row)]
        if found:
            print("\nnotes:")
            for note in found:
                print(f"  {note}")
        print("\nMarkdown table (paste into README.md):\n")
        print("\n".join(markdown(rows, args, f"{now:%Y-%m-%d}")))
    print(f"\ntook {time.monotonic() - began:.0f} s")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # the servers and moto are stopped by then
        print("\ninterrupted", file=sys.stderr)
        sys.exit(130)
